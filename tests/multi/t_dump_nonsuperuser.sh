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
# Random stored keys (only the key store knows the bytes), a rotation, and ledger entries.
q -c "SELECT warden.create_key('default'), warden.create_key('audit'), warden.rotate_key('default');
      CREATE TABLE public.accounts (id int PRIMARY KEY, token_fp text);
      INSERT INTO public.accounts VALUES (1, warden.fingerprint('tok'));
      GRANT SELECT ON public.accounts TO multi_dump_app, multi_dump_officer;" >/dev/null
q -U multi_dump_app -c "SELECT warden.log_event('login', 'LOGIN', details => '{\"password\": \"p\"}') FROM generate_series(1, 5)" >/dev/null
# The key bytes as the superuser reads them, in hex and in base64.
q -c "SELECT encode(secret, 'hex'), encode(secret, 'base64') FROM warden.key_store WHERE secret IS NOT NULL" \
  | tr '|' '\n' > "$work/key_forms"
expect_eq "$(wc -l < "$work/key_forms")" "6" "key forms (3 stored versions, hex and base64)"
# The key store is not an extension configuration table, so pg_dump never dumps its rows;
# the ledger, its checkpoints and its identity sequence are.
expect_eq "$(q -c "SELECT array_agg(c::regclass::text ORDER BY c::regclass::text) FROM pg_extension, unnest(extconfig) c WHERE extname = 'pg_warden'")" \
  "{warden.audit_checkpoint,warden.audit_log,warden.audit_log_id_seq}" "configuration tables"

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
if grep -q "key_store" "$work/super.sql"; then fail "superuser dump mentions warden.key_store"; fi

# The application role's full dump stops at the ledger's sequence: it may not read the ledger.
if dump multi_dump_app app-full; then fail "multi_dump_app: a full pg_dump succeeded"; fi
expect_failure app-full "permission denied for sequence audit_log_id_seq"

# Without warden's table data both succeed: schema, application data, CREATE EXTENSION.
for role in multi_dump_app multi_dump_officer; do
  dump "$role" "$role-nodata" --exclude-table-data='warden.*' || { cat "$work/$role-nodata.err"; fail "$role: pg_dump --exclude-table-data='warden.*' failed"; }
  grep -q "^CREATE EXTENSION IF NOT EXISTS pg_warden" "$work/$role-nodata.sql" || fail "$role: dump lacks the extension"
  grep -q "^COPY public.accounts " "$work/$role-nodata.sql" || fail "$role: dump lacks the application table"
  if grep -q "^COPY warden\." "$work/$role-nodata.sql"; then fail "$role: dump holds warden table data"; fi
done

# The key officer may read the ledger, its checkpoints and its sequence: its full dump is
# complete, and a superuser restores it (warden.restore_mode) to a ledger that verifies
# and goes on numbering where it stopped.
dump multi_dump_officer officer-full || { cat "$work/officer-full.err"; fail "the officer's full pg_dump failed"; }
entries=$(sed -n '/^COPY warden.audit_log /,/^\\\.$/p' "$work/officer-full.sql" | grep -vc '^COPY\|^\\\.$')
expect_eq "$entries" "$(q -c "SELECT count(*) FROM warden.audit_log")" "ledger entries in the officer's dump"
grep -q "setval('warden.audit_log_id_seq'" "$work/officer-full.sql" || fail "the officer's dump lacks the ledger's sequence"
if grep -q "key_store" "$work/officer-full.sql"; then fail "the officer's dump mentions warden.key_store"; fi
"$PG_BIN/dropdb" --if-exists "$restored" 2>/dev/null; "$PG_BIN/createdb" "$restored"
PGOPTIONS="-c warden.restore_mode=on" "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -d "$restored" -f "$work/officer-full.sql" \
  >/dev/null 2>"$work/restore.err" \
  || { cat "$work/restore.err"; fail "restoring the officer's dump failed"; }
# The same key material, provided again (no dump carries it), makes the ledger verify.
audit_key=$(q -c "SELECT encode(secret, 'hex') FROM warden.key_store WHERE name = 'audit' AND version = 1")
q -d "$restored" -c "SELECT warden.create_key('audit', '\\x$audit_key')" >/dev/null
expect_eq "$(q -d "$restored" -c "SELECT valid, total_entries FROM warden.verify_audit()")" \
  "t|$(q -c "SELECT count(*) FROM warden.audit_log")" "the restored ledger verifies"
expect_eq "$(q -d "$restored" -c "SELECT warden.log_event('after_restore', 'NOTE') > (SELECT max(id) FROM warden.audit_log WHERE event_type <> 'after_restore')")" \
  "t" "the restored ledger numbers on"

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
q -c "COPY (SELECT encode(secret, 'hex') FROM warden.key_store WHERE secret IS NOT NULL) TO STDOUT" > "$work/probe.sql"
grep -q -i -F -f "$work/key_forms" "$work/probe.sql" || fail "the key-material check finds nothing"
echo "superuser and warden_admin dumps: ledger + sequence; warden_user full dump: refused at the sequence; --exclude-table-data='warden.*': ok; no key material"
