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
postmaster=$(as_postgres head -1 "$WARDEN_PGDATA/postmaster.pid")
children=$(pgrep -P "$postmaster" | tr '\n' ' ')
kill -9 "$postmaster"
wait "$applier" 2>/dev/null || true
for _ in $(seq 60); do
  alive=0
  for pid in $children; do kill -0 "$pid" 2>/dev/null && alive=1; done
  [ "$alive" = 0 ] && break
  sleep 0.5
done
grep -q "^300000$" "$work/apply" && fail "the run committed before the crash; nothing was tested"
"$(dirname "$0")/../../scripts/cluster.sh" start >/dev/null
for _ in $(seq 30); do "$PG_BIN/pg_isready" -q && break; sleep 1; done
expect_eq "$(q -c "SELECT count(*), count(*) FILTER (WHERE email LIKE '%@corp.example' AND phone LIKE '+1 555 %') FROM people")" \
  "300000|300000" "after the crash every row is untouched"
expect_eq "$(q -c "SELECT count(*) FROM warden.audit_log WHERE event_type = 'anonymization'")" "0" "no ledger entry for the lost run"
q -c "SELECT count(*) FROM warden.apply_profile('$profile')" >/dev/null || fail "a new run after recovery failed"
expect_eq "$(q -c "SELECT count(*) FILTER (WHERE email LIKE '%@corp.example') FROM people")" "0" "a new run masks every row"
expect_eq "$(q -c "SELECT valid FROM warden.verify_audit()")" "t" "ledger verifies"
