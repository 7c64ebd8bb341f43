# What a client learns from errors about the server's environment and internals. The
# server starts with RUST_BACKTRACE and RUST_LIB_BACKTRACE set and with WARDEN_* variables
# that are no valid key (another tool's short password, a long blob): an error raised by
# PostgreSQL inside a pg_warden function carries no Rust backtrace in its DETAIL, an
# internal error's HINT never suggests DROP EXTENSION (which would destroy the ledger and
# keyring), and binding a key to a variable never tells its length.
. "$(dirname "$0")/lib.sh"
here=$(cd "$(dirname "$0")/../.." && pwd)
# Restarts the cluster as scripts/cluster.sh starts it, but with backtraces asked for.
as_postgres "$PG_BIN/pg_ctl" -D "$WARDEN_PGDATA" -m fast -w stop >/dev/null || fail "stopping the cluster"
trap '"$here/scripts/cluster.sh" restart >/dev/null' EXIT
long=$(printf 'x%.0s' $(seq 2000))
as_postgres env RUST_BACKTRACE=full RUST_LIB_BACKTRACE=1 "WARDEN_DEMO_KEY=$WARDEN_DEMO_ENV_KEY" \
  WARDEN_OTHER_PASSWORD=hunter2 WARDEN_HEX_SHORT=hex:0a0b0c "WARDEN_LONG_BLOB=$long" \
  "$PG_BIN/pg_ctl" -D "$WARDEN_PGDATA" -l "$WARDEN_LOG" -w -t 60 start >/dev/null || fail "starting with RUST_BACKTRACE"
for _ in $(seq 30); do "$PG_BIN/pg_isready" -q && break; sleep 1; done

# An error PostgreSQL raises inside a pg_warden function (log_event's SPI INSERT, taken in
# restore mode, in a read-only transaction) passes through pgrx's error handling.
out=$("$PG_BIN/psql" -X -q -v VERBOSITY=verbose -c "SET warden.restore_mode = on" -c "BEGIN READ ONLY" -c "SELECT warden.log_event('bt', 'x')" 2>&1)
echo "$out" | grep -q "25006: cannot execute INSERT in a read-only transaction" || fail "unexpected error: $out"
# (LOCATION is PostgreSQL's own source-location field, shown at VERBOSITY verbose.)
if echo "$out" | grep -v '^LOCATION:' | grep -Eq "DETAIL|panic|pgrx|\.rs:|backtrace"; then
  fail "the error shows Rust internals to the client: $(echo "$out" | head -8)"
fi

# An internal error (pg_warden's key store is gone) tells the DBA to look at the log and
# report it, never to reinstall. (Renaming it takes a superuser who first disables the
# guard that refuses DDL on pg_warden's own objects; the transaction is rolled back.)
out=$("$PG_BIN/psql" -X -q -v VERBOSITY=verbose -c "BEGIN" -c "ALTER EVENT TRIGGER warden_audit_ddl_start DISABLE" \
  -c "ALTER TABLE warden.key_store RENAME TO key_store_moved" \
  -c "SELECT warden.fingerprint('x', 'k')" 2>&1)
echo "$out" | grep -q "XX000: table warden.key_store is missing" || fail "unexpected error: $out"
if echo "$out" | grep -qi "DROP EXTENSION\|reinstall"; then fail "an internal error suggests reinstalling: $out"; fi
echo "$out" | grep -q "HINT:  .*server log" || fail "an internal error's hint does not point at the server log: $out"
if echo "$out" | grep -v '^LOCATION:' | grep -Eq "DETAIL|panic|pgrx|\.rs:|backtrace"; then
  fail "the internal error shows Rust internals: $out"
fi

# Binding a key to a variable of the wrong length says only that it is out of range.
for var in WARDEN_OTHER_PASSWORD WARDEN_HEX_SHORT WARDEN_LONG_BLOB; do
  for f in create_key_from_env rotate_key_from_env; do
    [ "$f" = rotate_key_from_env ] && q -c "SELECT warden.create_key('len_$var')" >/dev/null
    out=$("$PG_BIN/psql" -X -q -v VERBOSITY=verbose -c "SELECT warden.$f('len_$var', '$var')" 2>&1)
    echo "$out" | grep -q "22023: environment variable $var does not hold a secret of 16 to 1024 bytes" ||
      fail "$f with $var: unexpected error: $out"
    if echo "$out" | grep -Eq '(^|[^0-9])(7|3|2000) |bytes long'; then fail "$f reports the length of $var: $out"; fi
  done
done
