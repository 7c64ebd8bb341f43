# Anonymization is deterministic across sessions: two fresh connections give the same
# pseudonyms, equal to those pinned in tests/pg_regress/expected/anonymize.out under the
# same key. A session reading a table while another applies a profile waits, then sees
# only masked rows; nothing is masked if the applying session rolls back.
. "$(dirname "$0")/lib.sh"
q >/dev/null <<'SQL'
SELECT warden.create_key('default', '\x000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f');
SELECT warden.create_key('audit', '\x101112131415161718191a1b1c1d1e1f101112131415161718191a1b1c1d1e1f');
CREATE TABLE people (id int PRIMARY KEY, email text UNIQUE NOT NULL);
INSERT INTO people SELECT g, 'p' || g || '@corp.example' FROM generate_series(1, 1000) g;
SQL
probe="SELECT warden.anonymize('alice@example.org', 'email') || ' ' || warden.anonymize('alice@example.org', 'hash')
        || ' ' || warden.anonymize('+1 (555) 010-9999', 'phone') || ' ' || warden.anonymize('0042', 'digits')
        || ' ' || warden.pseudonymize(1)"
first=$(q -c "$probe")
second=$(q -c "$probe")
expect_eq "$first" "$second" "two sessions agree"
expect_eq "$first" "gnrmy26tifnmnucriapm@example.com e025d0869008363280e0b6f04ca69c08 +5 (908) 014-1417 6450 290589283" \
  "pinned outputs (as in expected/anonymize.out)"

profile='{"name": "multi", "version": 1, "strategies": {}, "tables": {"public.people": [{"column": "email", "strategy": "email"}]}}'
# A rolled-back run leaves the table as it was, as seen from another session.
q -c "BEGIN; SELECT count(*) FROM warden.apply_profile('$profile'); ROLLBACK;" >/dev/null 2>&1
expect_eq "$(q -c "SELECT count(*) FROM people WHERE email LIKE '%@corp.example'")" "1000" "rollback leaves cleartext"

# A reader blocked behind the masking transaction sees only masked rows afterwards.
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
( q -c "BEGIN; SELECT count(*) FROM warden.apply_profile('$profile'); SELECT pg_sleep(1); COMMIT;" >"$tmp/apply" 2>&1 ) &
applier=$!
sleep 0.5
reader=$(q -c "SELECT count(*) FILTER (WHERE email LIKE '%@corp.example') || '/' || count(*) FROM people")
wait "$applier" || fail "apply_profile failed: $(cat "$tmp/apply")"
expect_eq "$reader" "0/1000" "a concurrent reader waits for the run and sees no cleartext"
expect_eq "$(q -c "SELECT bool_and(email = warden.anonymize('p' || id || '@corp.example', 'email')) FROM people")" "t" \
  "masked values equal warden.anonymize from another session"
expect_eq "$(q -c "SELECT count(*) FROM warden.audit_log WHERE event_type = 'anonymization' AND resource_id = 'multi'")" "1" \
  "one ledger entry for the committed run"
