# kill -9 of the postmaster while apply_profile runs: after crash recovery the table is
# untouched (the rewrite's new heap never committed), intact, and a new run masks it.
. "$(dirname "$0")/lib.sh"
q >/dev/null <<'SQL'
SELECT warden.create_key('default');
SELECT warden.create_key('audit');
CREATE TABLE people (id int PRIMARY KEY, email text UNIQUE NOT NULL, phone text);
INSERT INTO people SELECT g, 'p' || g || '@corp.example', '+1 555 ' || lpad(g::text, 7, '0') FROM generate_series(1, 300000) g;
SQL
profile='{"name": "crash", "version": 1, "strategies": {}, "tables": {"public.people": [{"column": "email", "strategy": "email"}, {"column": "phone", "strategy": "phone"}]}}'
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
( q -c "SELECT count(*) FROM warden.apply_profile('$profile')" >"$work/apply" 2>&1 ) &
applier=$!
# Kill once the run is under way (its backend holds the table's ACCESS EXCLUSIVE lock).
for _ in $(seq 100); do
  [ "$(q -c "SELECT count(*) FROM pg_locks WHERE relation = 'people'::regclass AND mode = 'AccessExclusiveLock' AND granted")" = 1 ] && break
  sleep 0.05
done
crash_postmaster
wait "$applier" 2>/dev/null || true
grep -q "^300000$" "$work/apply" && fail "the run committed before the crash; nothing was tested"
restart_after_crash
expect_eq "$(q -c "SELECT count(*), count(*) FILTER (WHERE email LIKE '%@corp.example' AND phone LIKE '+1 555 %') FROM people")" \
  "300000|300000" "after the crash every row is untouched"
expect_eq "$(q -c "SELECT count(*) FROM warden.audit_log WHERE event_type = 'anonymization'")" "0" "no ledger entry for the lost run"
q -c "SELECT count(*) FROM warden.apply_profile('$profile')" >/dev/null || fail "a new run after recovery failed"
expect_eq "$(q -c "SELECT count(*) FILTER (WHERE email LIKE '%@corp.example') FROM people")" "0" "a new run masks every row"
expect_eq "$(q -c "SELECT valid FROM warden.verify_audit()")" "t" "ledger verifies"
