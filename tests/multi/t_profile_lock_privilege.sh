# apply_profile checks the caller's privileges before it asks for any table lock: a
# warden_admin without UPDATE on a table that another session is reading fails at once
# with 42501, and never queues an ACCESS EXCLUSIVE request that would block every other
# reader of the table behind it.
. "$(dirname "$0")/lib.sh"
role=profile_lock_admin
q >/dev/null <<SQL
SET client_min_messages = warning;
SELECT warden.create_key('default');
SELECT warden.create_key('audit');
CREATE TABLE people (id int PRIMARY KEY, email text);
INSERT INTO people SELECT g, 'p' || g || '@corp.example' FROM generate_series(1, 100) g;
DROP ROLE IF EXISTS $role;
CREATE ROLE $role LOGIN IN ROLE warden_admin;
GRANT SELECT ON people TO $role;
SQL
work=$(mktemp -d)
# Session B: reads the table in a transaction that stays open, fed through a fifo.
mkfifo "$work/b.in"
"$PG_BIN/psql" -X -q -A -t <"$work/b.in" >"$work/b.out" 2>&1 &
exec 3>"$work/b.in"
trap 'exec 3>&-; rm -rf "$work"; q -c "DROP OWNED BY $role; DROP ROLE IF EXISTS $role" >/dev/null 2>&1' EXIT
printf '%s\n' "BEGIN;" "LOCK people IN ACCESS SHARE MODE;" "\\echo LOCKED" >&3
wait_until 10 grep -q '^LOCKED$' "$work/b.out" || fail "session B did not lock the table"
profile='{"name": "p", "version": 1, "strategies": {}, "tables": {"public.people": [{"column": "email", "strategy": "email"}]}}'

# The table is really contended: a caller allowed to mask it waits for B, and times out.
expect_eq "$(sqlstate_of -c "SET lock_timeout = '1s'" -c "SELECT * FROM warden.apply_profile('$profile')")" \
  "55P03" "a superuser's run while B reads the table"

# Session C: the admin without UPDATE. Session D: a plain reader, started once C has
# finished or is waiting for a lock on the table, whichever comes first.
( sqlstate_of -U "$role" -c "SET lock_timeout = '3s'" -c "SELECT * FROM warden.apply_profile('$profile')" >"$work/c.out" ) &
c=$!
waiting() {
  [ "$(q -c "SELECT count(*) FROM pg_locks WHERE relation = 'people'::regclass AND NOT granted")" != 0 ]
}
c_done_or_waiting() { ! kill -0 "$c" 2>/dev/null || waiting; }
wait_until 10 c_done_or_waiting || fail "the admin's run neither finished nor waited"
queued=no; waiting && queued=yes
reader=$(sqlstate_of -c "SET lock_timeout = '1s'" -c "SELECT count(*) FROM people")
wait "$c"
# One line for the three facts: queued lock request, the reader's outcome, the admin's.
expect_eq "queued=$queued reader=$reader admin=$(cat "$work/c.out")" "queued=no reader=ok admin=42501" \
  "the admin without UPDATE while session B reads the table"

printf '%s\n' "COMMIT;" "\\echo DONE" >&3
wait_until 10 grep -q '^DONE$' "$work/b.out" || fail "session B did not finish"
grep -q ERROR "$work/b.out" && { cat "$work/b.out"; fail "session B failed"; }
expect_eq "$(q -c "SELECT count(*) FROM people WHERE email LIKE '%@corp.example'")" "100" "nothing was masked"
expect_eq "$(q -c "SELECT count(*) FROM warden.audit_log WHERE event_type = 'anonymization'")" "0" "no run was recorded"
exit 0
