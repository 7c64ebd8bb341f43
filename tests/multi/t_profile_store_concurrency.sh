# Concurrent saves of one stored profile: in READ COMMITTED the second waits for the
# first and becomes the next version (no unique violation, no lost version); in
# REPEATABLE READ, whose snapshot cannot see the first, it fails with 40001 and stores
# nothing. A drop waits for an application by name that holds the profile, and the
# ledger shows the application before the drop.
. "$(dirname "$0")/lib.sh"
q >/dev/null <<'SQL'
SELECT warden.create_key('default', '\x000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f');
SELECT warden.create_key('audit', '\x101112131415161718191a1b1c1d1e1f101112131415161718191a1b1c1d1e1f');
CREATE TABLE people (id int PRIMARY KEY, email text UNIQUE NOT NULL, phone text);
INSERT INTO people SELECT g, 'p' || g || '@corp.example', '+1 555 ' || g FROM generate_series(1, 100) g;
SQL
doc() {  # name, seed: a profile document
  echo "{\"name\": \"$1\", \"version\": 1, \"strategies\": {}, \"tables\": {\"public.people\": [{\"column\": \"email\", \"strategy\": \"email\", \"seed\": $2}]}}"
}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT

# READ COMMITTED: both saves are kept, as versions 1 and 2 in commit order.
( q -c "BEGIN; SELECT warden.save_profile('$(doc rc 1)'); SELECT pg_sleep(1); COMMIT;" >"$tmp/first" 2>&1 ) &
first=$!
sleep 0.3
q -c "SELECT warden.save_profile('$(doc rc 2)')" >"$tmp/second" 2>&1 || fail "second save: $(cat "$tmp/second")"
wait "$first" || fail "first save: $(cat "$tmp/first")"
expect_eq "$(q -c "SELECT string_agg(version || ':' || (document #>> '{tables,public.people,0,seed}'), ',' ORDER BY version) FROM warden.profiles WHERE name = 'rc'")" \
  "1:1,2:2" "READ COMMITTED: the waiting save is version 2"

# REPEATABLE READ: the later save's snapshot predates the first's commit: 40001.
( q -c "BEGIN; SELECT warden.save_profile('$(doc rr 1)'); SELECT pg_sleep(1); COMMIT;" >"$tmp/first" 2>&1 ) &
first=$!
sleep 0.3
state=$(sqlstate_of -c "BEGIN ISOLATION LEVEL REPEATABLE READ; SELECT 1; SELECT warden.save_profile('$(doc rr 2)'); COMMIT;")
wait "$first" || fail "first save: $(cat "$tmp/first")"
expect_eq "$state" "40001" "REPEATABLE READ: the save that cannot see the first fails with 40001"
expect_eq "$(q -c "SELECT string_agg(version::text, ',') FROM warden.profiles WHERE name = 'rr'")" "1" \
  "REPEATABLE READ: only the first save is stored"

# A drop waits for an application by name, which holds the version it applies.
( q -c "BEGIN; SELECT count(*) FROM warden.apply_profile('rc'); SELECT pg_sleep(1); COMMIT;" >"$tmp/apply" 2>&1 ) &
applier=$!
sleep 0.3
expect_eq "$(q -c "SELECT warden.drop_profile('rc')")" "2" "the drop removes both versions"
wait "$applier" || fail "apply by name: $(cat "$tmp/apply")"
expect_eq "$(q -c "SELECT string_agg(event_type || ':' || resource_id, ',' ORDER BY id) FROM warden.audit_log WHERE resource_type = 'profile'")" \
  "profile_saved:rc,profile_saved:rc,profile_saved:rr,anonymization:rc,profile_dropped:rc" \
  "ledger: saves, then the application, then the drop"
expect_eq "$(q -c "SELECT (details -> 'stored_profile' ->> 'version') FROM warden.audit_log WHERE event_type = 'anonymization'")" "2" \
  "the application applied the latest version"
expect_eq "$(q -c "SELECT valid FROM warden.verify_audit()")" "t" "the ledger verifies"
echo "stored profiles: concurrent saves numbered in commit order (READ COMMITTED) or refused with 40001 (REPEATABLE READ); a drop waits for an application by name"
