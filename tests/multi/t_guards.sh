# The guards as a DBA meets them across sessions and tools: DROP EXTENSION is refused in
# a fresh backend (which has not loaded pg_warden yet) while the ledger or keyring holds
# data, and goes through on an empty one (an Alembic downgrade of a fresh database) or
# with warden.allow_drop_extension; another extension's script is not taken for
# pg_warden's own; a superuser in replica mode cannot disable the append-only trigger and
# TRUNCATE; pg_dump | pg_restore brings capture triggers back ENABLE ALWAYS, still
# capturing and still guarded.
. "$(dirname "$0")/lib.sh"
k1=000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f
extdir="$("$PG_CONFIG" --sharedir)/extension"
restored="${PGDATABASE}_restored"
cleanup() {
  rm -f "$extdir/warden_spoof.control" "$extdir/warden_spoof--1.0.sql"
  "$PG_BIN/dropdb" --if-exists "$restored" 2>/dev/null
  q -c "DROP ROLE IF EXISTS multi_guard_officer" >/dev/null 2>&1
}
trap cleanup EXIT

# 1. An empty ledger and keyring: DROP EXTENSION goes through, as before.
expect_eq "$(sqlstate_of -c "DROP EXTENSION pg_warden")" "ok" "DROP EXTENSION on an empty ledger and keyring"
q -c "CREATE EXTENSION pg_warden" >/dev/null
# A key alone is enough to keep it.
q -c "SELECT warden.create_key('app')" >/dev/null
expect_eq "$(sqlstate_of -c "DROP EXTENSION pg_warden CASCADE")" "2BP01" "DROP EXTENSION with a key"
q -c "SELECT warden.create_key('audit', '\\x$k1'); SELECT warden.log_event('t', 'kept')" >/dev/null
# Each statement in its own fresh backend: pg_warden's library is not loaded there yet.
for statement in "DROP EXTENSION pg_warden" "DROP EXTENSION pg_warden CASCADE" "DROP SCHEMA warden CASCADE" \
                 "BEGIN; SELECT 1; DROP EXTENSION IF EXISTS pg_warden CASCADE; COMMIT"; do
  expect_eq "$(sqlstate_of -c "$statement")" "2BP01" "$statement with a ledger"
done
expect_eq "$(q -c "SELECT count(*) FROM warden.audit_log")" "1" "the ledger is still there"
# Only a superuser may allow it (once pg_warden is loaded: before, the setting is a
# placeholder, which loading the library checks again).
q -c "CREATE ROLE multi_guard_officer; GRANT warden_admin TO multi_guard_officer" >/dev/null
expect_eq "$(sqlstate_of -c "SELECT warden.changing_capture(); SET ROLE multi_guard_officer; SET warden.allow_drop_extension = on")" "42501" \
  "a key officer sets warden.allow_drop_extension"
q -c "DROP ROLE multi_guard_officer" >/dev/null
expect_eq "$(q -c "BEGIN; SET LOCAL warden.allow_drop_extension = on; DROP EXTENSION pg_warden CASCADE;
                  SELECT count(*) FROM pg_extension WHERE extname = 'pg_warden'; ROLLBACK" 2>/dev/null)" "0" \
  "a superuser drops it with warden.allow_drop_extension"

# 2. Another extension's script is not pg_warden's: the guard holds for it.
cat > "$extdir/warden_spoof.control" <<'CONTROL'
comment = 'test: an extension whose script tampers with the ledger'
default_version = '1.0'
relocatable = false
superuser = true
CONTROL
cat > "$extdir/warden_spoof--1.0.sql" <<'SCRIPT'
ALTER TABLE warden.audit_log DISABLE TRIGGER audit_append_only;
SCRIPT
expect_eq "$(sqlstate_of -c "CREATE EXTENSION warden_spoof")" "42501" "another extension's script disables the guard"
expect_eq "$(q -c "SELECT tgenabled FROM pg_trigger WHERE tgname = 'audit_append_only'")" "A" "the guard is enabled"

# 3. Replica mode: the append-only trigger cannot be disabled, the ledger not emptied.
expect_eq "$(sqlstate_of -c "SET session_replication_role = replica;
    ALTER TABLE warden.audit_log DISABLE TRIGGER audit_append_only; TRUNCATE warden.audit_log")" "42501" \
  "replica mode: disable the append-only trigger, then TRUNCATE"
expect_eq "$(sqlstate_of -c "SET session_replication_role = replica; TRUNCATE warden.audit_log")" "42501" \
  "replica mode: TRUNCATE"
expect_eq "$(q -c "SELECT count(*) FROM warden.audit_log")" "1" "the ledger kept its entry"

# 4. pg_dump | pg_restore: capture triggers come back ENABLE ALWAYS, capture, and are
# guarded in the restored database.
q -c "CREATE TABLE public.orders (id int PRIMARY KEY, total int);
      SELECT warden.audit_table('public.orders');
      INSERT INTO public.orders VALUES (1, 10);
      CREATE TABLE public.events (id int PRIMARY KEY, v text) PARTITION BY RANGE (id);
      CREATE TABLE public.events_1 PARTITION OF public.events FOR VALUES FROM (0) TO (100);
      CREATE TABLE public.events_2 PARTITION OF public.events FOR VALUES FROM (100) TO (200) PARTITION BY RANGE (id);
      CREATE TABLE public.events_2a PARTITION OF public.events_2 FOR VALUES FROM (100) TO (150);
      SELECT warden.audit_table('public.events');
      INSERT INTO public.events VALUES (1, 'a'), (120, 'b')" >/dev/null
# DETACH ... CONCURRENTLY (which commits a first phase of its own) is refused before it
# starts, leaving no partition pending detach.
expect_eq "$(sqlstate_of -c "ALTER TABLE public.events DETACH PARTITION public.events_1 CONCURRENTLY")" "42501" \
  "DETACH CONCURRENTLY of an audited partition"
expect_eq "$(q -c "SELECT count(*) FROM pg_inherits WHERE inhdetachpending")" "0" "no partition is left pending detach"
"$PG_BIN/createdb" "$restored"
"$PG_BIN/pg_dump" -Fc -d "$PGDATABASE" | "$PG_BIN/pg_restore" -d "$restored" --single-transaction --exit-on-error \
  || fail "pg_restore of a database with audited tables (one partitioned) failed"
r() { q -d "$restored" "$@"; }
expect_eq "$(r -c "SELECT string_agg(tgname || ':' || tgenabled::text, ',' ORDER BY tgname) FROM pg_trigger
                    WHERE tgrelid = 'public.orders'::regclass")" \
  "warden_audit_row:A,warden_audit_truncate:A" "restored capture triggers"
# A sealed key (a master key is configured) comes with the dump; a plaintext one never
# does and is provided again.
if master_key_configured; then
  expect_eq "$(r -c "SELECT string_agg(name || ':' || source, ',' ORDER BY name) FROM warden.keys")" "app:sealed,audit:sealed" \
    "the sealed keys are restored with the dump"
else
  expect_eq "$(r -c "SELECT count(*) FROM warden.keys")" "0" "no plaintext key is restored"
  r -c "SELECT warden.create_key('audit', '\\x$k1')" >/dev/null
fi
r -c "INSERT INTO public.orders VALUES (2, 20)" >/dev/null
expect_eq "$(r -c "SELECT count(*) FROM warden.audit_log WHERE resource_type = 'public.orders' AND resource_id = '2'")" "1" \
  "the restored table is captured"
expect_eq "$(sqlstate_of -d "$restored" -c "ALTER TABLE public.orders DISABLE TRIGGER warden_audit_row")" "42501" \
  "the restored capture trigger is guarded"
expect_eq "$(r -c "SELECT string_agg(c.relname || ':' || t.tgname || ':' || t.tgenabled::text, ',' ORDER BY c.relname, t.tgname)
                    FROM pg_partition_tree('public.events') p JOIN pg_class c ON c.oid = p.relid
                    JOIN pg_trigger t ON t.tgrelid = p.relid AND t.tgname LIKE 'warden_audit%'")" \
  "events:warden_audit_row:A,events:warden_audit_truncate:A,events_1:warden_audit_row:A,events_1:warden_audit_truncate:A,events_2:warden_audit_row:A,events_2:warden_audit_truncate:A,events_2a:warden_audit_row:A,events_2a:warden_audit_truncate:A" \
  "restored capture triggers of a partitioned table"
r -c "TRUNCATE public.events_2a" >/dev/null
expect_eq "$(r -c "SELECT count(*) FROM warden.audit_log WHERE event_type = 'table_truncate' AND resource_type = 'public.events_2a'")" "1" \
  "TRUNCATE of a restored partition is captured"
expect_eq "$(r -c "SELECT valid FROM warden.verify_audit()")" "t" "the restored ledger verifies"

# 5. purge_audit's permission to delete ends with the statement that failed inside it:
# a purge that times out on a lock inside a savepoint leaves no DELETE allowed after
# ROLLBACK TO SAVEPOINT (through 0.3.0-dev it did, and the deleted tail verified). The
# DELETE waits for the lock holder, then meets the append-only guard.
q -c "SELECT warden.log_event('t', 'tail ' || g) FROM generate_series(1, 3) g" >/dev/null
entries=$(q -c "SELECT count(*) FROM warden.audit_log")
q -c "BEGIN; LOCK TABLE warden.audit_log IN SHARE MODE; SELECT pg_sleep(3); COMMIT" >/dev/null &
locker=$!
lock_taken() { [ "$(q -c "SELECT count(*) FROM pg_locks WHERE relation = 'warden.audit_log'::regclass AND mode = 'ShareLock' AND granted")" = 1 ]; }
wait_until 5 lock_taken || fail "the lock holder did not take its lock"
expect_eq "$(sqlstate_of -c "BEGIN; SET lock_timeout = '300ms'; SAVEPOINT s;
    DO \$\$ BEGIN PERFORM warden.purge_audit('0 seconds'); RAISE EXCEPTION 'the purge did not fail';
              EXCEPTION WHEN lock_not_available THEN NULL; END \$\$;
    ROLLBACK TO SAVEPOINT s; RESET lock_timeout;
    DELETE FROM warden.audit_log WHERE id = (SELECT max(id) FROM warden.audit_log); COMMIT")" \
  "42501" "DELETE after a purge that failed in a savepoint"
wait "$locker"
expect_eq "$(q -c "SELECT count(*) FROM warden.audit_log")" "$entries" "the ledger kept every entry"

# 6. DROP EXTENSION sees writes that committed after its transaction's snapshot: a
# REPEATABLE READ transaction that saw an empty ledger and keyring cannot then drop
# the extension over another session's first key and entry.
fresh="${PGDATABASE}_fresh"
"$PG_BIN/dropdb" --if-exists "$fresh" 2>/dev/null; "$PG_BIN/createdb" "$fresh"
q -d "$fresh" -c "CREATE EXTENSION pg_warden" >/dev/null
coproc DROPPER { "$PG_BIN/psql" -X -q -A -t -d "$fresh" -v VERBOSITY=sqlstate 2>&1; }
echo "BEGIN ISOLATION LEVEL REPEATABLE READ; SELECT count(*) FROM warden.audit_log;" >&"${DROPPER[1]}"
read -r -t 10 seen <&"${DROPPER[0]}"
expect_eq "$seen" "0" "the dropper's snapshot sees an empty ledger"
q -d "$fresh" -c "SELECT warden.create_key('audit', '\\x$k1'); SELECT warden.log_event('important', 'evidence')" >/dev/null
echo "DROP EXTENSION pg_warden CASCADE; SELECT 'after drop';" >&"${DROPPER[1]}"
read -r -t 10 answer <&"${DROPPER[0]}"
echo "ROLLBACK; \\q" >&"${DROPPER[1]}"
wait "$DROPPER_PID" 2>/dev/null
case "$answer" in *2BP01*) ;; *) fail "DROP EXTENSION over a newer first entry: expected 2BP01, got '$answer'" ;; esac
expect_eq "$(q -d "$fresh" -c "SELECT count(*) FROM warden.audit_log")" "1" "the first entry survived"
"$PG_BIN/dropdb" "$fresh" 2>/dev/null || true
