# What pg_dump gives roles that are not superusers: an application role (warden_user) and
# a key officer (warden_admin). The application role's full dump fails at the ledger's
# identity sequence and succeeds with warden's table data left out; the officer's full
# dump carries the ledger. No dump, by anyone, holds key material.
. "$(dirname "$0")/lib.sh"
work=$(mktemp -d)
restored="${PGDATABASE}_restored"
cleanup() {
  rm -rf "$work"
  "$PG_BIN/dropdb" --if-exists "$restored" 2>/dev/null
  q -c "SET client_min_messages = warning; DROP TABLE IF EXISTS public.accounts;
        DROP OWNED BY multi_dump_app, multi_dump_officer; DROP ROLE multi_dump_app, multi_dump_officer;" >/dev/null
}
q -c "SET client_min_messages = warning;
      DROP ROLE IF EXISTS multi_dump_app; DROP ROLE IF EXISTS multi_dump_officer;
      CREATE ROLE multi_dump_app LOGIN; GRANT warden_user TO multi_dump_app;
      CREATE ROLE multi_dump_officer LOGIN; GRANT warden_admin TO multi_dump_officer;" >/dev/null
trap cleanup EXIT
# Random keys the test knows (a sealed key's bytes can be read by nobody), a rotation,
# and ledger entries.
kd1=$(od -An -tx1 -N32 /dev/urandom | tr -d ' \n')
kd2=$(od -An -tx1 -N32 /dev/urandom | tr -d ' \n')
ka=$(od -An -tx1 -N32 /dev/urandom | tr -d ' \n')
q -c "SELECT warden.create_key('default', '\\x$kd1'), warden.create_key('audit', '\\x$ka'), warden.rotate_key('default', '\\x$kd2');
      CREATE TABLE public.accounts (id int PRIMARY KEY, token_fp text);
      INSERT INTO public.accounts VALUES (1, warden.fingerprint('tok'));
      GRANT SELECT ON public.accounts TO multi_dump_app, multi_dump_officer;" >/dev/null
# Two versions of a stored profile (configuration the officer's dump must carry).
q -c "SELECT warden.save_profile('{\"name\": \"dump\", \"version\": 1, \"strategies\": {},
        \"tables\": {\"public.accounts\": [{\"column\": \"token_fp\", \"strategy\": \"hash\"}]}}'),
             warden.save_profile('{\"name\": \"dump\", \"version\": 2, \"strategies\": {},
        \"tables\": {\"public.accounts\": [{\"column\": \"token_fp\", \"strategy\": \"hash\", \"seed\": 9}]}}')" >/dev/null
profiles_query="SELECT name, version, sha256, saved_by, saved_at, latest, document FROM warden.profiles ORDER BY name, version"
profiles=$(q -c "$profiles_query")
expect_eq "$(echo "$profiles" | wc -l)" "2" "two stored profile versions"
q -U multi_dump_app -c "SELECT warden.log_event('login', 'LOGIN', details => '{\"password\": \"p\"}') FROM generate_series(1, 5)" >/dev/null
# These are the stored keys: their check values (HMAC(key, 'check'), first 4 bytes) match.
check_of() { printf check | openssl dgst -sha256 -mac HMAC -macopt "hexkey:$1" | sed 's/^.*= //' | cut -c1-8; }
expect_eq "$(q -c "SELECT string_agg(check_value, ',' ORDER BY name, version) FROM warden.keys")" \
  "$(check_of "$ka"),$(check_of "$kd1"),$(check_of "$kd2")" "the keys hold the bytes the test looks for"
# The key bytes in hex and in base64.
for k in "$kd1" "$kd2" "$ka"; do echo "$k"; echo "$k" | xxd -r -p | base64; done > "$work/key_forms"
expect_eq "$(wc -l < "$work/key_forms")" "6" "key forms (3 stored versions, hex and base64)"
# pg_dump dumps the rows of pg_warden's configuration tables: the ledger, its checkpoints
# and identity sequence, its Merkle tree, verification records and retention policies, rotation policies,
# stored profiles, the vault, and of the key store only key versions that hold no plaintext (sealed under
# the master key, or bound to a variable).
expect_eq "$(q -c "SELECT array_agg(c::regclass::text ORDER BY c::regclass::text) FROM pg_extension, unnest(extconfig) c WHERE extname = 'pg_warden'")" \
  "{warden.audit_checkpoint,warden.audit_ddl_changes,warden.audit_ddl_changes_id_seq,warden.audit_import,warden.audit_import_id_seq,warden.audit_log,warden.audit_log_id_seq,warden.audit_retention,warden.audit_tree_head,warden.audit_tree_leaves,warden.audit_tree_node,warden.audit_verification,warden.audit_verification_id_seq,warden.key_policy,warden.key_store,warden.profile_store,warden.secret,warden.secret_grant,warden.secret_version,warden.vault_state}" "configuration tables"
expect_eq "$(q -c "SELECT extcondition[array_position(extconfig, 'warden.key_store'::regclass)] FROM pg_extension WHERE extname = 'pg_warden'")" \
  "WHERE secret IS NULL" "the key store's dump condition"
# The tables a complete dump reads that neither role may read; leaving out their data
# gives the officer the ledger.
not_for_officer=(--exclude-table-data=warden.key_store --exclude-table-data=warden.vault_state --exclude-table-data='warden.secret*')

dump() {  # role, output name, pg_dump options...: runs pg_dump as the role into $work/name
  local role=$1 name=$2
  shift 2
  "$PG_BIN/pg_dump" -U "$role" -f "$work/$name.sql" "$@" 2>"$work/$name.err"
}
expect_failure() {  # output name, expected message
  grep -q "$2" "$work/$1.err" || { cat "$work/$1.err"; fail "$1: expected '$2'"; }
}

# Superuser: everything but key material.
dump postgres super || { cat "$work/super.err"; fail "pg_dump as superuser failed"; }
grep -q "^COPY warden.audit_log " "$work/super.sql" || fail "superuser dump lacks the ledger"
grep -q "^COPY warden.audit_checkpoint " "$work/super.sql" || fail "superuser dump lacks the checkpoints"
grep -q "setval('warden.audit_log_id_seq'" "$work/super.sql" || fail "superuser dump lacks the ledger's sequence"
grep -q "^COPY warden.key_store " "$work/super.sql" || fail "superuser dump lacks the key store's sealed rows"
if master_key_configured; then
  expect_eq "$(sed -n '/^COPY warden.key_store /,/^\\\.$/p' "$work/super.sql" | grep -vc '^COPY\|^\\\.$')" "3" \
    "the superuser's dump holds the three sealed key versions"
fi

# The application role's full dump stops at the ledger's sequence: it may not read the ledger.
if dump multi_dump_app app-full; then fail "multi_dump_app: a full pg_dump succeeded"; fi
expect_failure app-full "permission denied for sequence audit_ddl_changes_id_seq"

# Without warden's table data both succeed: schema, application data, CREATE EXTENSION.
for role in multi_dump_app multi_dump_officer; do
  dump "$role" "$role-nodata" --exclude-table-data='warden.*' || { cat "$work/$role-nodata.err"; fail "$role: pg_dump --exclude-table-data='warden.*' failed"; }
  grep -q "^CREATE EXTENSION IF NOT EXISTS pg_warden" "$work/$role-nodata.sql" || fail "$role: dump lacks the extension"
  grep -q "^COPY public.accounts " "$work/$role-nodata.sql" || fail "$role: dump lacks the application table"
  if grep -q "^COPY warden\." "$work/$role-nodata.sql"; then fail "$role: dump holds warden table data"; fi
done

# The key officer may read the ledger, its checkpoints, its sequence and the rotation
# policies, not the key store or the vault: its full dump stops there, and without their
# data it holds the whole ledger, which a superuser restores (warden.restore_mode) to a
# ledger that verifies and goes on numbering where it stopped.
if dump multi_dump_officer officer-all; then fail "multi_dump_officer: a full pg_dump succeeded"; fi
expect_failure officer-all "permission denied for table \(key_store\|vault_state\|secret\)"
dump multi_dump_officer officer-full "${not_for_officer[@]}" || { cat "$work/officer-full.err"; fail "the officer's pg_dump without key store and vault data failed"; }
grep -q "^COPY warden.key_policy " "$work/officer-full.sql" || fail "the officer's dump lacks the rotation policies"
grep -q "^COPY warden.profile_store " "$work/officer-full.sql" || fail "the officer's dump lacks the stored profiles"
entries=$(sed -n '/^COPY warden.audit_log /,/^\\\.$/p' "$work/officer-full.sql" | grep -vc '^COPY\|^\\\.$')
expect_eq "$entries" "$(q -c "SELECT count(*) FROM warden.audit_log")" "ledger entries in the officer's dump"
grep -q "setval('warden.audit_log_id_seq'" "$work/officer-full.sql" || fail "the officer's dump lacks the ledger's sequence"
if grep -q "^COPY warden.key_store" "$work/officer-full.sql"; then fail "the officer's dump holds key store rows"; fi
"$PG_BIN/dropdb" --if-exists "$restored" 2>/dev/null; "$PG_BIN/createdb" "$restored"
PGOPTIONS="-c warden.restore_mode=on" "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -d "$restored" -f "$work/officer-full.sql" \
  >/dev/null 2>"$work/restore.err" \
  || { cat "$work/restore.err"; fail "restoring the officer's dump failed"; }
# The same key material, provided again (the officer's dump does not carry it), makes
# the ledger verify.
q -d "$restored" -c "SELECT warden.create_key('audit', '\\x$ka')" >/dev/null
expect_eq "$(q -d "$restored" -c "SELECT valid, total_entries FROM warden.verify_audit()")" \
  "t|$(q -c "SELECT count(*) FROM warden.audit_log")" "the restored ledger verifies"
expect_eq "$(q -d "$restored" -c "SELECT warden.log_event('after_restore', 'NOTE') > (SELECT max(id) FROM warden.audit_log WHERE event_type <> 'after_restore')")" \
  "t" "the restored ledger numbers on"
# The stored profiles come back as they were (versions, hashes, who and when, documents),
# and the next save numbers on.
expect_eq "$(q -d "$restored" -c "$profiles_query")" "$profiles" "the restored stored profiles"
q -d "$restored" -c "SELECT warden.create_key('default')" >/dev/null
expect_eq "$(q -d "$restored" -c "SELECT warden.save_profile('{\"name\": \"dump\", \"version\": 3, \"strategies\": {},
    \"tables\": {\"public.accounts\": [{\"column\": \"token_fp\", \"strategy\": \"hash\"}]}}')")" "dump" "a save after the restore"
expect_eq "$(q -d "$restored" -c "SELECT max(version) FROM warden.profiles WHERE name = 'dump'")" "3" "a save after the restore is version 3"

# Neither role can read the key store directly.
for role in multi_dump_app multi_dump_officer; do
  if q -U "$role" -c "COPY warden.key_store TO STDOUT" >/dev/null 2>"$work/copy.err"; then
    fail "$role could copy warden.key_store out"
  fi
  expect_failure copy "permission denied for table key_store"
done

# No dump or error output holds a key's bytes, in hex or base64.
if grep -r -i -F -f "$work/key_forms" "$work"/*.sql "$work"/*.err; then fail "key material in a dump"; fi
# The check finds key bytes where they are.
q -c "COPY (SELECT encode('\\x$kd2'::bytea, 'base64')) TO STDOUT" > "$work/probe.sql"
grep -q -i -F -f "$work/key_forms" "$work/probe.sql" || fail "the key-material check finds nothing"
echo "superuser dump: ledger, sequence, sealed keys; warden_admin dump without key store and vault data: ledger + sequence + stored profiles (restored as they were); warden_user full dump: refused at the sequence; --exclude-table-data='warden.*': ok; no key material"
