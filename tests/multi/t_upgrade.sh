# ALTER EXTENSION pg_warden UPDATE from every released version: data made with the old
# version keeps working (keys, fingerprints, pseudonyms, ledger, captured tables, profiles)
# and the upgraded extension is, catalog by catalog, what a fresh CREATE EXTENSION makes.
. "$(dirname "$0")/lib.sh"
here=$(dirname "$0")
current=$(q -c "SELECT default_version FROM pg_available_extensions WHERE name = 'pg_warden'")
released=$(cd "$here/../../sql/released" && ls pg_warden--*.sql | sed 's/^pg_warden--\(.*\)\.sql$/\1/')
[ -n "$released" ] || fail "no released install scripts in sql/released"
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
fresh="${PGDATABASE}_fresh"
"$PG_BIN/dropdb" --if-exists "$fresh" && "$PG_BIN/createdb" "$fresh"
q -d "$fresh" -c "CREATE EXTENSION pg_warden" >/dev/null
q -d "$fresh" -f "$here/extension_catalog.sql" >"$work/fresh.catalog" || fail "describing a fresh install"
k_default=000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f
k_audit=a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf
profile='{"name": "upgrade", "version": 1, "strategies": {}, "tables": {"public.people": [{"column": "email", "strategy": "email"}]}}'
for old in $released; do
  [ "$old" = "$current" ] && fail "sql/released holds the current version $current"
  db="${PGDATABASE}_from_${old//./_}"
  "$PG_BIN/dropdb" --if-exists "$db" && "$PG_BIN/createdb" "$db"
  # Everything made with the old version.
  q -d "$db" >/dev/null <<SQL || fail "setting up $old"
CREATE EXTENSION pg_warden VERSION '$old';
SELECT warden.create_key('default', '\x$k_default');
SELECT warden.create_key('audit', '\x$k_audit');
CREATE TABLE people (id int PRIMARY KEY, email text NOT NULL, password text);
SELECT warden.audit_table('people');
CREATE TABLE parted (id int PRIMARY KEY) PARTITION BY RANGE (id);
CREATE TABLE parted_1 PARTITION OF parted FOR VALUES FROM (0) TO (100);
SELECT warden.audit_table('parted');
INSERT INTO people SELECT g, 'p' || g || '@corp.example', 'pw' || g FROM generate_series(1, 20) g;
UPDATE people SET email = 'q1@corp.example' WHERE id = 1;
SELECT warden.log_event('e' || g, 'NOTE', details => jsonb_build_object('n', g, 'api_key', 'k' || g))
  FROM generate_series(1, 30) g;
SELECT warden.rotate_key('audit', '\x$(echo "$k_audit" | rev)');
SELECT warden.log_event('after_rotation', 'NOTE');
SQL
  expect_eq "$(q -d "$db" -c "SELECT extversion FROM pg_extension WHERE extname = 'pg_warden'")" "$old" "installed $old"
  q -d "$db" -c "SELECT warden.audit_digest()" >"$work/digest"
  entries=$(q -d "$db" -c "SELECT count(*) FROM warden.audit_log")
  before=$(q -d "$db" -c "SELECT warden.fingerprint('secret'), warden.anonymize('a@b.example', 'email'),
                                 warden.pseudonymize(42::bigint), (SELECT string_agg(check_value, ',' ORDER BY name, version) FROM warden.keys)")
  # The upgrade.
  q -d "$db" -c "ALTER EXTENSION pg_warden UPDATE" >/dev/null || fail "ALTER EXTENSION UPDATE from $old"
  expect_eq "$(q -d "$db" -c "SELECT extversion FROM pg_extension WHERE extname = 'pg_warden'")" "$current" "$old upgraded"
  # Same keys, same fingerprints and pseudonyms; the old ledger verifies, also against the old digest.
  after=$(q -d "$db" -c "SELECT warden.fingerprint('secret'), warden.anonymize('a@b.example', 'email'),
                                warden.pseudonymize(42::bigint), (SELECT string_agg(check_value, ',' ORDER BY name, version) FROM warden.keys)")
  expect_eq "$after" "$before" "keys, fingerprints and pseudonyms survive the upgrade from $old"
  # With a master key the update seals the keyring and says so in one ledger entry.
  if master_key_configured -d "$db"; then
    expect_eq "$(q -d "$db" -c "SELECT string_agg(DISTINCT source, ','), (SELECT warden.vault_status() ->> 'keys_in_plaintext')
                                 FROM warden.keys")" "sealed|0" "the update from $old seals the keyring"
    expect_eq "$(q -d "$db" -c "SELECT count(*) FROM warden.audit_log WHERE event_type = 'vault_change'")" "1" \
      "the update from $old records the sealing"
    entries=$((entries + 1))
  else
    expect_eq "$(q -d "$db" -c "SELECT string_agg(DISTINCT source, ',') FROM warden.keys")" "stored" \
      "without a master key the keyring stays as it was ($old)"
  fi
  expect_eq "$(q -d "$db" -c "SELECT valid, total_entries FROM warden.verify_audit(\$\$$(cat "$work/digest")\$\$::jsonb, full => true)")" \
    "t|$entries" "ledger from $old verifies in full against its digest after the upgrade"
  # Incrementally, from the old version's digest: its heads, and the update's own entries.
  expect_eq "$(q -d "$db" -c "SELECT valid FROM warden.verify_audit(\$\$$(cat "$work/digest")\$\$::jsonb)")" \
    "t" "ledger from $old verifies incrementally from its digest after the upgrade"
  # It keeps working: capture, logging, append-only, profiles, purge.
  q -d "$db" >/dev/null <<SQL || fail "using the upgraded extension from $old"
DELETE FROM people WHERE id = 20;
SELECT warden.log_event('after_upgrade', 'NOTE', details => '{"password": "x"}');
SELECT count(*) FROM warden.apply_profile('$profile');
SELECT warden.save_profile('$profile');
SELECT count(*) FROM warden.apply_profile('upgrade');
SQL
  expect_eq "$(q -d "$db" -c "SELECT string_agg(event_type, ',' ORDER BY id) FROM warden.audit_log WHERE resource_type = 'profile'")" \
    "anonymization,profile_saved,anonymization" "profiles are applied, stored and applied by name after the upgrade from $old"
  expect_eq "$(q -d "$db" -c "SELECT count(*) FILTER (WHERE email LIKE '%@corp.example') FROM people")" "0" "profile applied after upgrade from $old"
  expect_eq "$(q -d "$db" -c "SELECT details ? 'password_fingerprint' AND NOT details ? 'password' FROM warden.audit_log WHERE event_type = 'after_upgrade'")" \
    "t" "secret-named details are still fingerprinted after upgrade from $old"
  expect_eq "$(q -d "$db" -c "SELECT count(*) FROM warden.audit_log WHERE action = 'DELETE' AND before_state ? 'password_fingerprint' AND NOT before_state ? 'password'")" "1" "capture works after upgrade from $old"
  q -d "$db" -c "TRUNCATE parted_1" >/dev/null
  expect_eq "$(q -d "$db" -c "SELECT count(*) FROM warden.audit_log WHERE event_type = 'table_truncate' AND resource_type = 'public.parted_1'")" "1" \
    "TRUNCATE of a partition of a table audited under $old is captured after the upgrade"
  q -d "$db" -c "UPDATE warden.audit_log SET reason = 'x' WHERE id = 1" >/dev/null 2>&1 && fail "ledger writable after upgrade from $old"
  expect_eq "$(q -d "$db" -c "SELECT valid FROM warden.verify_audit()")" "t" "ledger verifies after more use ($old)"
  # Catalog equality with a fresh installation of the current version.
  q -d "$db" -f "$here/extension_catalog.sql" >"$work/upgraded.catalog" || fail "describing the upgraded install"
  diff -u "$work/fresh.catalog" "$work/upgraded.catalog" >"$work/diff" ||
    fail "$old upgraded to $current differs from a fresh $current install:
$(head -80 "$work/diff")"
  "$PG_BIN/dropdb" "$db"
  # A database with keys but no audit key: the update seals them and, with no ledger
  # key to sign with, writes no entry (it does not fail).
  "$PG_BIN/createdb" "$db"
  q -d "$db" -c "CREATE EXTENSION pg_warden VERSION '$old'; SELECT warden.create_key('default', '\\x$k_default')" >/dev/null \
    || fail "setting up $old without an audit key"
  fp=$(q -d "$db" -c "SELECT warden.fingerprint('secret')")
  q -d "$db" -c "ALTER EXTENSION pg_warden UPDATE" >/dev/null || fail "ALTER EXTENSION UPDATE from $old without an audit key"
  expect_eq "$(q -d "$db" -c "SELECT warden.fingerprint('secret'), (SELECT count(*) FROM warden.audit_log)")" "$fp|0" \
    "the update from $old without an audit key keeps the key and writes no entry"
  "$PG_BIN/dropdb" "$db"
done
[ "$(wc -l <"$work/fresh.catalog")" -gt 100 ] || fail "catalog description too small to mean anything"
"$PG_BIN/dropdb" "$fresh"
