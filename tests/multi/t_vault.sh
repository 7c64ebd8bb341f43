# The vault against real servers: no plaintext in table files, dumps or WAL (also after
# sealing a plaintext keyring); every read recorded, refused or rolled back; get_secret
# refused on a standby; master key changes (key to key, key to passphrase) with the old
# key gone afterwards; kill -9 during rewrap_vault (all old or all new); a server started
# without the master key. Part 1 and 2 run on the test cluster (it has the test master
# key); the rest on an extra cluster restarted with the keys each step needs.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/../../scripts/logcheck.sh"
work=$(mktemp -d)
reader=multi_vault_reader
outsider=multi_vault_outsider
port=$(extra_port 1)
standby_port=$(extra_port 2)
key_a=hex:7661756c742074657374206d6173746572206b65792041202e2e2e2e2e2e2e21
key_b=base64:dmF1bHQgdGVzdCBtYXN0ZXIga2V5IEIgLi4uLi4uLiE=
passphrase='vault test passphrase: correct horse battery staple'
cleanup() {
  extra_cluster_remove vault
  extra_cluster_remove vault_standby
  rm -rf "$work"
  q -c "SELECT pg_drop_replication_slot('t_vault_wal') FROM pg_replication_slots WHERE slot_name = 't_vault_wal'" >/dev/null
  q -c "SET client_min_messages = warning; DROP OWNED BY $reader, $outsider; DROP ROLE $reader, $outsider" >/dev/null
}
q -c "SET client_min_messages = warning; DROP ROLE IF EXISTS $reader, $outsider;
      CREATE ROLE $reader LOGIN IN ROLE warden_user; CREATE ROLE $outsider LOGIN IN ROLE warden_user" >/dev/null
trap cleanup EXIT
mark=$(log_mark)

# Everything psql wrote to stderr for a statement (verbose: "ERROR:  55000: ...", HINT).
error_of() { "$PG_BIN/psql" -X -q -A -t -v ON_ERROR_STOP=1 -v VERBOSITY=verbose "$@" 2>&1 >/dev/null; }
expect_error() {  # sqlstate, text the message or hint must contain, what, psql arguments...
  local state=$1 text=$2 what=$3 out
  shift 3
  out=$(error_of "$@")
  case "$out" in
    *"ERROR:  $state:"*) ;;
    *) fail "$what: expected SQLSTATE $state, got: ${out:-success}" ;;
  esac
  case "$out" in
    *"$text"*) ;;
    *) fail "$what: the error does not say '$text': $out" ;;
  esac
}
hex_of() { printf '%s' "$1" | od -An -v -tx1 | tr -d ' \n'; }
# Needles are hex byte strings, comma-separated. Prints the files that contain one.
files_containing() {  # needles, file or directory...
  python3 - "$@" <<'PY'
import os, sys
needles = [bytes.fromhex(h) for h in sys.argv[1].split(',')]
for top in sys.argv[2:]:
    paths = [top] if os.path.isfile(top) else [os.path.join(d, f) for d, _, fs in os.walk(top) for f in fs]
    for path in paths:
        try:
            data = open(path, 'rb').read()
        except FileNotFoundError:
            continue
        if any(n in data for n in needles):
            print(path)
PY
}
# Prints "found" if the WAL between two LSNs (in the files of data dir's pg_wal) holds a
# needle, "clean" if not; fails if a segment of the range is missing (a physical slot
# keeps them from being recycled).
wal_search() {  # data dir, first segment's file name, start lsn, end lsn, segment size, needles
  python3 - "$@" <<'PY'
import os, sys
datadir, first, start, end, segsize, needles = sys.argv[1:7]
segsize = int(segsize)
needles = [bytes.fromhex(h) for h in needles.split(',')]
lsn = lambda t: (int(t.split('/')[0], 16) << 32) | int(t.split('/')[1], 16)
start, end, tli = lsn(start), lsn(end), int(first[:8], 16)
per = 0x100000000 // segsize
data = b''
for seg in range(start // segsize, end // segsize + 1):
    name = '%08X%08X%08X' % (tli, seg // per, seg % per)
    with open(os.path.join(datadir, 'pg_wal', name), 'rb') as f:
        chunk = f.read()
    lo, hi = max(start - seg * segsize, 0), min(end - seg * segsize, segsize)
    data += chunk[lo:hi]
print('found' if any(n in data for n in needles) else 'clean', len(data))
PY
}
wal_between() {  # port, data dir, start lsn, needles (the range ends where WAL is flushed now)
  local end first segsize
  end=$(q -p "$1" -d postgres -c "SELECT pg_current_wal_flush_lsn()")
  first=$(q -p "$1" -d postgres -c "SELECT pg_walfile_name('$3')")
  segsize=$(q -p "$1" -d postgres -c "SELECT setting FROM pg_settings WHERE name = 'wal_segment_size'")
  wal_search "$2" "$first" "$3" "$end" "$segsize" "$4"
}

# --- 1. No plaintext in the table files, pg_dump (plain and custom) or the WAL --------
datadir=$(q -c "SHOW data_directory")
q -c "SELECT pg_create_physical_replication_slot('t_vault_wal', true)" >/dev/null
lsn0=$(q -c "SELECT pg_current_wal_insert_lsn()")
v_text='vault-plaintext-Q7wX9zK2pL'
v_rotated='vault-rotated-M3nB8vC1xZ'
v_tenant='vault-tenant-R5tY6uI0oP'
v_bytes=c0ffee5ecae7b17e5a1e0ddba11fee1d
k_given=6b65796d6174657269616c2d7661756c742d74657374205e5e21402324252f2f
k_rotated=726f74617465646b65796d6174657269616c2d7661756c742d746573742f2f21
control='unsealed-control-H4jK5lZ6xC'
refs=$(q <<SQL
SELECT warden.create_key('audit');
SELECT warden.create_key('vaultkey', '\\x$k_given');
SELECT warden.rotate_key('vaultkey', '\\x$k_rotated');
CREATE TABLE public.control (v text);
INSERT INTO public.control VALUES ('$control');
SELECT warden.create_secret('plain', '$v_text');
SELECT warden.create_secret('bytes', '\\x$v_bytes'::bytea);
SELECT warden.create_secret('plain', '$v_tenant', 'acme');
SQL
) || fail "creating secrets and keys"
read -r ref_plain ref_bytes ref_tenant <<<"$(echo "$refs" | grep -E '^[0-9a-f-]{36}$' | tr '\n' ' ')"
q -c "SELECT warden.rotate_secret('$ref_plain', '$v_rotated');
      SELECT warden.grant_secret(secret_ref, '$reader') FROM warden.secret" >/dev/null
expect_eq "$(q -U "$reader" -c "SELECT warden.get_secret('$ref_plain'::uuid, 1) || ',' || warden.get_secret('$ref_plain'::uuid)
                                || ',' || warden.get_secret('plain', 'acme') || ',' || encode(warden.get_secret_bytes('$ref_bytes'), 'hex')")" \
  "$v_text,$v_rotated,$v_tenant,$v_bytes" "the reader reads every secret and version"
expect_eq "$(q -c "SELECT string_agg(source, ',' ORDER BY name, version) FROM warden.keys")" "sealed,sealed,sealed" \
  "keys made under a master key are sealed"
# ANALYZE copies column values into pg_statistic: they must be ciphertexts too.
q -c "ANALYZE; CHECKPOINT" >/dev/null
needles=$(hex_of "$v_text"),$(hex_of "$v_rotated"),$(hex_of "$v_tenant"),$v_bytes,$k_given,$k_rotated
needles="$needles,$(hex_of "$v_bytes"),$(hex_of "$k_given"),$(hex_of "$k_rotated")"  # as hex text (dumps)
control_needle=$(hex_of "$control")
dbdir="$datadir/base/$(q -c "SELECT oid FROM pg_database WHERE datname = current_database()")"
[ -n "$(files_containing "$control_needle" "$dbdir")" ] || fail "the file search finds nothing, not even the control value"
found=$(files_containing "$needles" "$dbdir" "$datadir/global")
[ -z "$found" ] || fail "plaintext of a secret or key in table files: $found"
"$PG_BIN/pg_dump" -f "$work/plain.sql" || fail "pg_dump (plain)"
# Custom format is compressed by default, which would hide any plaintext: -Z0.
"$PG_BIN/pg_dump" -Fc -Z0 -f "$work/custom.dump" || fail "pg_dump -Fc"
for dump in plain.sql custom.dump; do
  [ -n "$(files_containing "$control_needle" "$work/$dump")" ] || fail "the control value is missing from $dump"
  [ -z "$(files_containing "$needles" "$work/$dump")" ] || fail "$dump contains the plaintext of a secret or key"
done
grep -q "COPY warden.secret_version" "$work/plain.sql" || fail "the dump lacks the secrets' ciphertexts"
read -r verdict bytes <<<"$(wal_between "$WARDEN_PGPORT" "$datadir" "$lsn0" "$control_needle")"
expect_eq "$verdict" "found" "the WAL search finds the control value ($bytes bytes searched)"
read -r verdict bytes <<<"$(wal_between "$WARDEN_PGPORT" "$datadir" "$lsn0" "$needles")"
expect_eq "$verdict" "clean" "WAL written since before the secrets were made ($bytes bytes) holds no plaintext"
q -c "SELECT pg_drop_replication_slot('t_vault_wal')" >/dev/null

# --- 2. Reads recorded, also refused and rolled back ones; read-only; standby ----------
recorded() {  # secret ref, role, condition on details: how many such entries
  q -c "SELECT count(*) FROM warden.audit_log WHERE event_type = 'secret_read' AND resource_id = '$1'
          AND actor = '$2' AND $3"
}
recorded_once() { [ "$(recorded "$@")" -ge 1 ]; }
by_worker="details->>'recorded_by' = 'worker'"
# A refused read (no grant): its transaction aborts, a worker records it.
ref_refused=$(q -c "SELECT warden.create_secret('refused', 'never-shown')")
expect_eq "$(sqlstate_of -U "$outsider" -c "SELECT warden.get_secret('$ref_refused'::uuid)")" "42501" "a read without a grant"
wait_until 20 recorded_once "$ref_refused" "$outsider" "$by_worker AND details->>'outcome' = 'no grant'" ||
  fail "the refused read was not recorded by the worker"
# A granted read whose transaction rolls back.
ref_rolled=$(q -c "SELECT warden.create_secret('rolled', 'rolled-back-value')")
q -c "SELECT warden.grant_secret('$ref_rolled', '$reader')" >/dev/null
expect_eq "$(q -U "$reader" -c "BEGIN; SELECT warden.get_secret('$ref_rolled'::uuid); ROLLBACK;")" "rolled-back-value" \
  "the reader reads in a transaction it rolls back"
wait_until 20 recorded_once "$ref_rolled" "$reader" \
  "$by_worker AND details->>'rolled_back' = 'true' AND (details->>'granted')::boolean" ||
  fail "the rolled-back granted read was not recorded by the worker"
# A refused read caught in an EXCEPTION block of a transaction that commits.
ref_caught=$(q -c "SELECT warden.create_secret('caught', 'caught-value')")
q -U "$outsider" -c "BEGIN;
  DO \$\$ BEGIN PERFORM warden.get_secret('$ref_caught'::uuid);
          EXCEPTION WHEN insufficient_privilege THEN NULL; END \$\$;
  COMMIT;" >/dev/null || fail "the caught refusal"
wait_until 20 recorded_once "$ref_caught" "$outsider" "$by_worker AND NOT (details->>'granted')::boolean" ||
  fail "the refused read caught in an EXCEPTION block was not recorded"
# A read in a READ ONLY transaction (first thing the session does) is refused and recorded.
ref_ro=$(q -c "SELECT warden.create_secret('read_only', 'read-only-value')")
q -c "SELECT warden.grant_secret('$ref_ro', '$reader')" >/dev/null
expect_eq "$(sqlstate_of -U "$reader" -c "BEGIN READ ONLY; SELECT warden.get_secret('$ref_ro'::uuid)")" "25006" \
  "a read in a read-only transaction"
wait_until 20 recorded_once "$ref_ro" "$reader" "$by_worker AND details->>'outcome' = 'read-only transaction'" ||
  fail "the read in a read-only transaction was not recorded"
# A committed granted read is recorded in its own transaction, once.
q -U "$reader" -c "SELECT warden.get_secret('$ref_ro'::uuid)" >/dev/null
sleep 1  # time for a wrong worker record to show up
expect_eq "$(recorded "$ref_ro" "$reader" "(details->>'granted')::boolean AND NOT details ? 'recorded_by'")" "1" \
  "a committed read, recorded by its transaction"
for check in "$ref_refused $outsider" "$ref_rolled $reader" "$ref_caught $outsider" "$ref_ro $reader"; do
  read -r ref role <<<"$check"
  expect_eq "$(recorded "$ref" "$role" "$by_worker")" "1" "worker entries for $role reading $ref"
done
expect_eq "$(q -c "SELECT count(*) FROM warden.audit_log a WHERE a::text ~ 'never-shown|rolled-back-value|caught-value|read-only-value|$v_text'")" "0" \
  "no value in the ledger"
expect_eq "$(q -c "SELECT valid FROM warden.verify_audit()")" "t" "the ledger verifies with the worker's entries"
# On a standby, get_secret is refused before reading: the read could not be recorded.
extra_cluster_standby vault_standby "$standby_port"
wait_for_replay "$standby_port"
for role in "$reader" postgres; do
  expect_error 55000 "secrets cannot be read on a standby" "$role reading on a standby" \
    -p "$standby_port" -U "$role" -c "SELECT warden.get_secret('$ref_ro'::uuid)"
done
if grep " XX000 " "$(extra_dir vault_standby)/server.log"; then fail "the standby logged internal errors"; fi
extra_cluster_remove vault_standby
log_problems "$mark" >"$work/problems" || fail "reading the server log"
[ -s "$work/problems" ] && fail "the test cluster logged internal errors: $(head -5 "$work/problems")"

# --- An extra cluster for the master key's life, restarted with each step's keys --------
vault_start() {  # master key or none, previous key, passphrase, previous passphrase
  echo "$SECONDS stop" >>/tmp/wt_b_steps
  extra_cluster_stop vault
  echo "$SECONDS start $1" >>/tmp/wt_b_steps
  WARDEN_MASTER_KEY=$1 WARDEN_MASTER_KEY_PREVIOUS=${2:-} WARDEN_MASTER_PASSPHRASE=${3:-} \
    WARDEN_MASTER_PASSPHRASE_PREVIOUS=${4:-} extra_cluster_start vault
}
V=(-p "$port" -d vault)
vdata="$(extra_dir vault)/data"
vlog="$(extra_dir vault)/server.log"
WARDEN_MASTER_KEY=none extra_cluster_init vault "$port"
q -p "$port" -d postgres -c "CREATE DATABASE vault" >/dev/null
q "${V[@]}" -c "SELECT pg_create_physical_replication_slot('t_vault_wal', true)" >/dev/null

# --- 1b. Sealing a plaintext keyring: nothing of it in WAL written afterwards ------------
k_default=706c61696e746578742d6b6579696e672d64656661756c742d2d2d2d2d2d2d21
q "${V[@]}" >/dev/null <<SQL || fail "a keyring without a master key"
CREATE EXTENSION pg_warden;
SELECT warden.create_key('audit');
SELECT warden.create_key('default', '\\x$k_default');
SELECT warden.rotate_key('default');
SQL
fingerprints() {  # psql args
  q "$@" -c "SELECT warden.fingerprint('fp-input') || ',' || warden.fingerprint('fp-input'::bytea)
             || ',' || warden.pseudonymize(42::bigint)
             || ',' || (SELECT string_agg(check_value, ',' ORDER BY name, version) FROM warden.keys)"
}
fp_plain=$(fingerprints "${V[@]}")
expect_eq "$(q "${V[@]}" -c "SELECT string_agg(source, ',' ORDER BY name, version) FROM warden.keys")" "stored,stored,stored" \
  "without a master key, keys are stored in plaintext"
expect_error 55000 "WARDEN_MASTER_KEY=hex:" "create_secret without a master key" "${V[@]}" \
  -c "SELECT warden.create_secret('s', 'v')"
k_generated=$(q "${V[@]}" -c "SELECT string_agg(encode(secret, 'hex'), ',') FROM warden.key_store")
k_needles="$k_generated,$(hex_of "$k_default")"
q "${V[@]}" -c "ANALYZE; CHECKPOINT" >/dev/null
store_file() { echo "$vdata/$(q "${V[@]}" -c "SELECT pg_relation_filepath('warden.key_store')")"; }
[ -n "$(files_containing "$k_needles" "$(store_file)")" ] || fail "the file search does not find the plaintext keys"
vault_start "$key_a"
sealed_at=$(q "${V[@]}" -c "SELECT pg_current_wal_insert_lsn()")
expect_eq "$(q "${V[@]}" -c "SELECT warden.rewrap_vault()")" \
  '{"keys_sealed": 3, "keys_rewrapped": 0, "secrets_rewrapped": 0, "master_key_changed": false}' "rewrap_vault seals the keyring"
q "${V[@]}" -c "CHECKPOINT" >/dev/null
read -r verdict bytes <<<"$(wal_between "$port" "$vdata" "$sealed_at" "$k_needles")"
expect_eq "$verdict" "clean" "WAL written from the sealing on ($bytes bytes) holds no key material"
[ -z "$(files_containing "$k_needles" "$(store_file)")" ] || fail "warden.key_store's file still holds key material"
found=$(files_containing "$k_needles" "$vdata/base/$(q "${V[@]}" -c "SELECT oid FROM pg_database WHERE datname = 'vault'")")
[ -z "$found" ] || fail "key material left in the database's files after sealing: $found"
expect_eq "$(q "${V[@]}" -c "SELECT string_agg(source, ',' ORDER BY name, version) FROM warden.keys")" "sealed,sealed,sealed" \
  "every key is sealed"
expect_eq "$(q "${V[@]}" -c "SELECT warden.vault_status()->>'keys_in_plaintext'")" "0" "vault_status after sealing"
expect_eq "$(fingerprints "${V[@]}")" "$fp_plain" "fingerprints, pseudonyms and check values survive sealing"
q "${V[@]}" -c "SELECT pg_drop_replication_slot('t_vault_wal')" >/dev/null

# --- 3. Master key change: key A to key B, B to a passphrase ----------------------------
k_sealed=7365616c65642d756e6465722d612d2d2d2d2d2d2d2d2d2d2d2d2d2d2d2d2d21
q "${V[@]}" >/dev/null <<SQL || fail "secrets and keys under key A"
SELECT warden.create_key('sealedkey', '\\x$k_sealed');
SELECT warden.rotate_key('default');
SELECT warden.rotate_secret(warden.create_secret('api', 'api-v1'), 'api-v2');
SELECT warden.create_secret('api', 'acme-api', 'acme');
SELECT warden.create_secret('blob', '\\xdeadbeef00ff'::bytea);
SELECT warden.grant_secret(secret_ref, 'postgres') FROM warden.secret;
SQL
snapshot() {  # psql args: every version of every secret, a read by name, fingerprints
  q "$@" -c "SELECT string_agg(coalesce(s.tenant, '-') || '/' || s.name || '@' || v.version || '='
                                || encode(warden.get_secret_bytes(s.secret_ref, v.version), 'escape'),
                                ' ' ORDER BY s.tenant NULLS FIRST, s.name, v.version)
                     || ' ' || warden.get_secret('api') || ' ' || warden.fingerprint('fp-input', 'sealedkey')
               FROM warden.secret s JOIN warden.secret_version v USING (secret_ref)"
  fingerprints "$@"
}
expected='-/api@1=api-v1 -/api@2=api-v2 -/blob@1=\336\255\276\357\000\377 acme/api@1=acme-api api-v2'
before=$(snapshot "${V[@]}")
case "$before" in "$expected "*) ;; *) fail "secrets under key A: $before" ;; esac
vault_start "$key_b"
expect_error 55000 "not the one the vault is sealed with" "get_secret under another master key" "${V[@]}" \
  -c "SELECT warden.get_secret('api')"
expect_error 55000 "not the one the vault is sealed with" "a sealed key under another master key" "${V[@]}" \
  -c "SELECT warden.fingerprint('fp-input')"
expect_error 55000 "not the one the vault is sealed with" "create_secret under another master key" "${V[@]}" \
  -c "SELECT warden.create_secret('new', 'v')"
expect_error 55000 "WARDEN_MASTER_KEY_PREVIOUS" "rewrap_vault without the previous key" "${V[@]}" \
  -c "SELECT warden.rewrap_vault()"
expect_error 55000 "no previous master key is configured" "rewrap_vault without the previous key" "${V[@]}" \
  -c "SELECT warden.rewrap_vault()"
vault_start "$key_b" "$key_a"
expect_eq "$(q "${V[@]}" -c "SELECT warden.rewrap_vault()")" \
  '{"keys_sealed": 0, "keys_rewrapped": 5, "secrets_rewrapped": 3, "master_key_changed": true}' "rewrap from A to B"
expect_eq "$(q "${V[@]}" -c "SELECT warden.rewrap_vault()")" \
  '{"keys_sealed": 0, "keys_rewrapped": 0, "secrets_rewrapped": 0, "master_key_changed": false}' "rewrap again: nothing to do"
vault_start "$key_b"
expect_eq "$(snapshot "${V[@]}")" "$before" "with key B alone, every secret, version and fingerprint"
# To a passphrase: stretched with Argon2id, parameters and salt stored in vault_state.
vault_start none "$key_b" "$passphrase"
expect_eq "$(q "${V[@]}" -c "SELECT warden.rewrap_vault()->>'master_key_changed'")" "true" "rewrap from key B to a passphrase"
expect_eq "$(q "${V[@]}" -c "SELECT kdf ~ '^argon2id\\\$v=19\\\$m=65536,t=3,p=4\\\$[A-Za-z0-9+/=]{22,}\$' FROM warden.vault_state")" "t" \
  "vault_state.kdf holds the Argon2id parameters and salt"
vault_start none "" "$passphrase"
expect_eq "$(snapshot "${V[@]}")" "$before" "with the passphrase alone, every secret, version and fingerprint"

# --- 5. Started without the master key after secrets exist -------------------------------
vault_start none
for sql in "SELECT warden.get_secret('api')" "SELECT warden.create_secret('new', 'v')"; do
  expect_error 55000 "no vault master key is configured" "$sql without a master key" "${V[@]}" -c "$sql"
  expect_error 55000 "HINT:  Start the server with WARDEN_MASTER_KEY set" "$sql without a master key" "${V[@]}" -c "$sql"
done
expect_error 55000 "no vault master key is configured" "a sealed key without a master key" "${V[@]}" \
  -c "SELECT warden.fingerprint('fp-input')"
expect_eq "$(q "${V[@]}" -c "SELECT warden.vault_status()->>'master_key_configured'")" "false" "vault_status without a master key"

# --- 4. kill -9 during rewrap_vault: all old or all new, never mixed -------------------
C=(-p "$port" -d crash)
vault_start "$key_a"
q -p "$port" -d postgres -c "CREATE DATABASE crash" >/dev/null
q "${C[@]}" -c "CREATE EXTENSION pg_warden; SELECT warden.create_key('audit');
  SELECT count(warden.grant_secret(warden.create_secret('s' || g, 'v' || g), 'postgres')) FROM generate_series(1, 20000) g" >/dev/null ||
  fail "20000 secrets"
all_read() {  # psql args: how many secrets read back their own value
  q "$@" -c "SELECT count(*) FROM warden.secret WHERE warden.get_secret(secret_ref) = 'v' || substr(name, 2)"
}
wraps() { q "${C[@]}" -c "SELECT md5(string_agg(wrapped_key::text, ',' ORDER BY secret_ref)) FROM warden.secret"; }
wraps_a=$(wraps)
vault_start "$key_b" "$key_a"
q "${C[@]}" -c "SELECT warden.rewrap_vault()" >"$work/rewrap.out" 2>&1 &
rewrap=$!
writing() {  # the backend of the rewrap once it has begun writing (it has a transaction id)
  q "${C[@]}" -c "SELECT pid FROM pg_stat_activity WHERE query LIKE '%rewrap_vault%' AND state = 'active'
                    AND backend_xid IS NOT NULL AND pid <> pg_backend_pid()"
}
until backend=$(writing) && [ -n "$backend" ]; do
  kill -0 "$rewrap" 2>/dev/null || fail "rewrap_vault ended before the kill: $(cat "$work/rewrap.out")"
done
# The backend too: after the postmaster's death alone it would finish and commit.
WARDEN_LOG=$vlog log_problems 0 >"$work/problems" || fail "reading the vault cluster's log"
[ -s "$work/problems" ] && fail "the vault cluster logged internal errors: $(head -5 "$work/problems")"
kill -9 "$backend"
WARDEN_PGDATA="$vdata" crash_postmaster
wait "$rewrap" && fail "rewrap_vault succeeded although the server was killed while it ran"
vault_start "$key_a"
vmark=$(WARDEN_LOG=$vlog log_mark)
expect_eq "$(wraps)" "$wraps_a" "after the crash every data key is still wrapped under key A"
expect_eq "$(all_read "${C[@]}")" "20000" "after the crash, with key A, every secret reads"
vault_start "$key_b" "$key_a"
expect_eq "$(q "${C[@]}" -c "SELECT warden.rewrap_vault()->>'secrets_rewrapped'")" "20000" "the rewrap after the crash"
vault_start "$key_b"
expect_eq "$(all_read "${C[@]}")" "20000" "with key B alone, every secret reads"
expect_eq "$(q "${C[@]}" -c "SELECT valid FROM warden.verify_audit()")" "t" "the ledger verifies after crash and rewrap"

WARDEN_LOG=$vlog log_problems "$vmark" >"$work/problems" || fail "reading the vault cluster's log"
[ -s "$work/problems" ] && fail "the vault cluster logged internal errors: $(head -5 "$work/problems")"
echo "vault: no plaintext (files, dumps, WAL, sealing); reads recorded; standby; A->B->passphrase; crash during rewrap"
