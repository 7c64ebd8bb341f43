# Every standard dump path reproduces the ledger exactly, as a plain superuser restore
# without warden.restore_mode: pg_dump -Fp (COPY, --inserts, --column-inserts) | psql,
# pg_dump -Fc/-Fd/-Ft | pg_restore (-Fc and -Fp also into a database whose audit key was
# created first, -Fd with parallel jobs), pg_dumpall | psql into a fresh cluster. Exactly:
# every column of every entry (ids, ts, session facts, chain material) and checkpoint,
# the identity sequence; with the key provided again the copy verifies, also against the
# source's digest, and chains on. A restore that cannot reproduce the ledger (one that
# already has entries) fails loudly, and an edited dump restores to a ledger that says so.
. "$(dirname "$0")/lib.sh"
export PGTZ=UTC
k1=000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f
src_port=$(extra_port 1)
dst_port=$(extra_port 2)
work=$(mktemp -d)
targets=()
cleanup() {
  extra_cluster_remove restore-src
  extra_cluster_remove restore-dst
  for target in "${targets[@]}"; do "$PG_BIN/dropdb" --if-exists "$target" 2>/dev/null; done
  q -c "DROP ROLE IF EXISTS multi_restore_owner" >/dev/null 2>&1
  rm -rf "$work"
}
trap cleanup EXIT

# The source: its own cluster, written to over TCP (so entries carry a client address)
# under a known application name, on at least two chains, with captured row changes,
# secret-named fields, a purge (checkpoints) and entries after it.
extra_cluster_init restore-src "$src_port" "listen_addresses = '127.0.0.1'"
"$PG_BIN/createdb" -p "$src_port" restore_src
src() { PGAPPNAME=restore-source q -h 127.0.0.1 -p "$src_port" -d restore_src "$@"; }
src -c "CREATE EXTENSION pg_warden; SELECT warden.create_key('audit', '\\x$k1');
        CREATE TABLE public.accounts (id int PRIMARY KEY, owner text, password text);
        SELECT warden.audit_table('public.accounts');
        INSERT INTO public.accounts SELECT g, 'owner ' || g, 'pw' || g FROM generate_series(1, 10) g;
        UPDATE public.accounts SET owner = 'Ünïcødé ' || id WHERE id <= 3;
        DELETE FROM public.accounts WHERE id = 10;
        SELECT warden.log_event('old', 'A', details => jsonb_build_object('n', g, 'password', 'p')) FROM generate_series(1, 10) g;" >/dev/null
# Purged: the entries so far go behind checkpoints; the rest of the ledger links to them.
src -c "SELECT pg_sleep(1.2); SELECT warden.purge_audit('1 second')" >/dev/null
src -c "SELECT warden.log_event('other_chain', 'B', confidence => 0.5); SELECT pg_sleep(1.5);
        SELECT warden.log_event('other_chain', 'B', details => '[1, {\"a\": null}]')" >/dev/null &
other=$!
sleep 0.5
src -c "SELECT warden.log_event('kept', 'C', 'doc', g::text, correlation_id => 'req-' || g, tenant => 't1', reason => 'r')
          FROM generate_series(1, 10) g;
        UPDATE public.accounts SET password = 'new' WHERE id = 1;" >/dev/null
wait "$other" || fail "the second source session failed"
expect_eq "$(src -c "SELECT count(DISTINCT chain_id) >= 2, bool_and(client_addr = '127.0.0.1'),
                            bool_and(application_name = 'restore-source'), count(*) > 10 FROM warden.audit_log")" \
  "t|t|t|t" "the source ledger has several chains, client addresses and application names"
expect_eq "$(src -c "SELECT count(*) > 0 FROM warden.audit_checkpoint")" "t" "the source has checkpoints"
sealed=$(src -c "SELECT bool_and(source = 'sealed') FROM warden.keys")
digest=$(src -c "SELECT warden.audit_digest()")
total=$(src -c "SELECT count(*) FROM warden.audit_log")
seq=$(src -c "SELECT last_value FROM warden.audit_log_id_seq")
src_ledger=$(ledger_text -h 127.0.0.1 -p "$src_port" -d restore_src)
src_checkpoints=$(checkpoints_text -h 127.0.0.1 -p "$src_port" -d restore_src)

dump() { "$PG_BIN/pg_dump" -p "$src_port" -d restore_src "$@" || fail "pg_dump $* failed"; }
dump -Fp -f "$work/plain.sql"
dump -Fp --inserts -f "$work/inserts.sql"
dump -Fp --column-inserts -f "$work/column-inserts.sql"
dump -Fc -f "$work/dump.custom"
dump -Fd -f "$work/dump.dir"
dump -Ft -f "$work/dump.tar"
"$PG_BIN/pg_dumpall" -p "$src_port" -f "$work/all.sql" || fail "pg_dumpall failed"

new_db() {  # suffix, then "keyed": sets $db to a new database (keyed: pg_warden and the audit key in it)
  db="${PGDATABASE}_$1"
  targets+=("$db")
  "$PG_BIN/dropdb" --if-exists "$db" 2>/dev/null
  "$PG_BIN/createdb" "$db"
  if [ "${2:-}" = keyed ]; then
    q -d "$db" -c "CREATE EXTENSION pg_warden; SELECT warden.create_key('audit', '\\x$k1')" >/dev/null
  fi
}
# Restores into $db. Without $allow, the tool stops at the first error and must succeed;
# with it (the errors a DBA is told to expect, one a line: objects that exist already),
# the tool goes on as by default and must report each of them and nothing else.
only_allowed_errors() {  # label
  if grep 'ERROR:' "$work/$1.err" | grep -vqF "$allow"; then cat "$work/$1.err" >&2; fail "$1: the restore reported errors"; fi
  local expected
  while IFS= read -r expected; do
    grep -qF "$expected" "$work/$1.err" || fail "$1: the restore did not report '$expected'"
  done <<< "$allow"
}
restore_plain() {  # label, file
  if [ -z "${allow:-}" ]; then
    "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -d "$db" -f "$2" >/dev/null 2>"$work/$1.err" \
      || { cat "$work/$1.err" >&2; fail "$1: psql -f failed"; }
  else
    "$PG_BIN/psql" -X -q -d "$db" -f "$2" >/dev/null 2>"$work/$1.err"
    only_allowed_errors "$1"
  fi
}
restore_archive() {  # label, pg_restore arguments...
  local label=$1
  shift
  if [ -z "${allow:-}" ]; then
    "$PG_BIN/pg_restore" --exit-on-error -d "$db" "$@" 2>"$work/$label.err" \
      || { cat "$work/$label.err" >&2; fail "$label: pg_restore failed"; }
  else
    "$PG_BIN/pg_restore" -d "$db" "$@" 2>"$work/$label.err"
    only_allowed_errors "$label"
  fi
}
# A sealed key (the servers have a master key) comes with the dump; a plaintext one
# never does and is provided again.
provide_audit_key() {  # label, psql connection arguments...
  local label=$1
  shift
  if [ "$sealed" = t ]; then
    expect_eq "$(q "$@" -c "SELECT string_agg(name || ':' || source, ',') FROM warden.keys")" "audit:sealed" \
      "$label: the sealed audit key came with the dump"
  else
    expect_eq "$(q "$@" -c "SELECT count(*) FROM warden.keys")" "0" "$label: no plaintext key in the dump"
    q "$@" -c "SELECT warden.create_key('audit', '\\x$k1')" >/dev/null
  fi
}
check_copy() {  # label, port, database, "keyed" when the audit key is there already
  local label=$1 at=(-p "$2" -d "$3")
  if [ "$(ledger_text "${at[@]}")" != "$src_ledger" ]; then
    diff <(echo "$src_ledger") <(ledger_text "${at[@]}") | head -6 >&2
    fail "$label: the ledger differs from the source's"
  fi
  [ "$(checkpoints_text "${at[@]}")" = "$src_checkpoints" ] || fail "$label: the checkpoints differ from the source's"
  expect_eq "$(q "${at[@]}" -c "SELECT last_value FROM warden.audit_log_id_seq")" "$seq" "$label: the identity sequence"
  [ "${4:-}" = keyed ] || provide_audit_key "$label" "${at[@]}"
  expect_eq "$(q "${at[@]}" -c "SELECT valid, total_entries FROM warden.verify_audit()")" "t|$total" "$label: verify_audit()"
  expect_eq "$(q "${at[@]}" -c "SELECT valid, total_entries FROM warden.verify_audit('$digest', full => true)")" "t|$total" \
    "$label: verify_audit(the source's digest)"
  expect_eq "$(q "${at[@]}" -c "SELECT warden.log_event('after_restore', 'NOTE')")" "$((seq + 1))" "$label: the next entry's id"
  expect_eq "$(q "${at[@]}" -c "SELECT valid, total_entries FROM warden.verify_audit('$digest', full => true)")" "t|$((total + 1))" \
    "$label: verify_audit(the source's digest) after a new entry"
}

allow=
for format in plain inserts column-inserts; do
  new_db "$format"
  restore_plain "$format" "$work/$format.sql"
  check_copy "pg_dump -Fp ($format) | psql" "$WARDEN_PGPORT" "$db"
done
for name in custom dir tar; do
  new_db "$name"
  jobs=()
  [ "$name" = dir ] && jobs=(-j 2)
  restore_archive "$name" "${jobs[@]}" "$work/dump.$name"
  check_copy "pg_dump -F${name:0:1} | pg_restore ${jobs[*]}" "$WARDEN_PGPORT" "$db"
done
# Into a database where pg_warden and the audit key were created first: the schema
# exists already, nothing else may go wrong.
# With sealed keys the dump's audit key meets the one created first: the restore reports
# it (the existing key and the vault state it was sealed under stay) and goes on.
allow='schema "warden" already exists'
[ "$sealed" = t ] && allow+=$'\nduplicate key value violates unique constraint "key_store_pkey"\nduplicate key value violates unique constraint "vault_state_pkey"'
new_db plain_keyed keyed
restore_plain plain_keyed "$work/plain.sql"
check_copy "pg_dump -Fp | psql, key created first" "$WARDEN_PGPORT" "$db" keyed
new_db custom_keyed keyed
restore_archive custom_keyed "$work/dump.custom"
check_copy "pg_dump -Fc | pg_restore, key created first" "$WARDEN_PGPORT" "$db" keyed
# pg_dumpall always writes CREATE ROLE for the role it ran as.
allow='role "postgres" already exists'
extra_cluster_init restore-dst "$dst_port"
db="port=$dst_port dbname=postgres"
restore_plain pg_dumpall "$work/all.sql"
check_copy "pg_dumpall | psql (fresh cluster)" "$dst_port" restore_src

# Restoring a second time into a restored database cannot add the history again: the
# ledger's COPY fails, loudly, and the ledger stays as it was.
new_db twice
allow=
restore_archive twice "$work/dump.custom"
if "$PG_BIN/pg_restore" -d "$db" --data-only -t audit_log "$work/dump.custom" 2>"$work/twice-again.err"; then
  fail "a second pg_restore of the ledger succeeded"
fi
grep -q 'COPY failed for table "audit_log"' "$work/twice-again.err" || { cat "$work/twice-again.err"; fail "the second restore did not report the ledger's COPY"; }
[ "$(ledger_text -d "$db")" = "$src_ledger" ] || fail "a failed second restore changed the ledger"
# A database owner who is not a superuser cannot restore the ledger at all (pg_warden
# needs a superuser to install): psql stops with an error, no ledger is left behind.
q -c "SET client_min_messages = warning; DROP ROLE IF EXISTS multi_restore_owner; CREATE ROLE multi_restore_owner LOGIN" >/dev/null
new_db by_owner
q -c "ALTER DATABASE $db OWNER TO multi_restore_owner" >/dev/null
if "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -U multi_restore_owner -d "$db" -f "$work/plain.sql" >/dev/null 2>"$work/by_owner.err"; then
  fail "a non-superuser restored the ledger"
fi
expect_eq "$(q -d "$db" -c "SELECT to_regclass('warden.audit_log') IS NULL")" "t" "no ledger after the refused restore"

# An edited dump restores (rows with complete chain material are stored as given), and
# verification, not trust, shows the edit.
awk '/^COPY warden.audit_log /{in_ledger = 1} in_ledger && !done && sub(/\tkept\t/, "\tkepX\t") {done = 1}
     /^\\\.$/{in_ledger = 0} {print}' "$work/plain.sql" > "$work/edited.sql"
cmp -s "$work/plain.sql" "$work/edited.sql" && fail "the dump edit changed nothing"
new_db edited
restore_plain edited "$work/edited.sql"
provide_audit_key "edited dump" -d "$db"
expect_eq "$(q -d "$db" -c "SELECT valid, invalid_entries FROM warden.verify_audit()")" "f|1" "the edited entry is reported"
expect_eq "$(q -d "$db" -c "SELECT valid FROM warden.verify_audit('$digest', full => true)")" "f" "the edited ledger fails against the digest"
echo "restore paths: 9 exact copies of $total entries (plain x3, custom, dir -j 2, tar, plain and custom keyed, pg_dumpall); a second restore and a non-superuser restore refused; an edit detected"
