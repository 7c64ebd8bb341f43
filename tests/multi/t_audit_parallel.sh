# Parallel full verification agrees with serial verification, on an intact ledger and on
# every kind of tampering: four sessions write four interleaved chains, part of them
# purged behind checkpoints; each tampering is committed in a copy of the database
# (a transaction that has written verifies serially), and there verify_audit() with
# parallel workers and with max_parallel_workers_per_gather = 0 must return the same
# row: validity, counts and every issue in the same order. Segment boundaries on both
# sides are tampered with. warden.audit_verification records the workers that took part:
# at least one for the parallel runs (or the test would prove nothing), none for the
# serial ones, none when the transaction has written, none below
# warden.parallel_verify_min_entries. An ordinary key officer's traps (temporary domains
# and tables) never run in the workers, which have the extension owner's rights.
. "$(dirname "$0")/lib.sh"
k1=000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f
base="$PGDATABASE"
copies=()
cleanup() {
  for db in "${copies[@]}"; do "$PG_BIN/dropdb" --if-exists --force "$db" 2>/dev/null; done
}
trap cleanup EXIT
q -c "SELECT warden.create_key('audit', '\\x$k1')" >/dev/null
# The regression suite's tampering function (a superuser disabling every guard).
sed -n '/^CREATE FUNCTION public.tamper(/,/^\$\$;$/p' tests/pg_regress/sql/00_setup.sql | q >/dev/null
[ "$(q -c "SELECT count(*) FROM pg_proc WHERE proname = 'tamper'")" = 1 ] || fail "tamper() not defined"

# Four chains of 12,000 entries, written concurrently (their entries share heap pages),
# the first 1,000 of each purged behind a checkpoint.
write_chains() {  # entries per session, action
  local pids=()
  for s in 1 2 3 4; do
    q -c "SELECT count(warden.log_event('par', '$2', details => jsonb_build_object('s', $s, 'n', g)))
            FROM generate_series(1, $1) g" >/dev/null &
    pids+=($!)
  done
  for p in "${pids[@]}"; do wait "$p" || fail "a writer failed"; done
}
write_chains 1000 OLD
q -c "SELECT warden.purge_audit('0 seconds')" >/dev/null
write_chains 11000 NEW
# (purge_audit logs itself: one entry more, on the purging session's chain. A session
# that ends returns its chain, which a later one may take: a chain may hold 22,000.)
[ "$(q -c "SELECT count(*) FROM (SELECT chain_id FROM warden.audit_log GROUP BY 1 HAVING count(*) >= 11000) c")" -ge 2 ] \
  || fail "fewer than two chains written"
total=$(q -c "SELECT count(*) FROM warden.audit_log")
expect_eq "$(q -c "SELECT count(*) FROM warden.audit_checkpoint")" 4 "checkpoints (one per chain)"
digest=$(q -c "SELECT warden.audit_digest()")

# verify_audit's row (issues as text) with `workers` parallel workers; prints the row,
# then the workers audit_verification recorded for the run, on the last line.
verify_with() {  # database, workers, query
  q -d "$1" -c "SET warden.parallel_verify_min_entries = 0" -c "SET max_parallel_workers_per_gather = $2" \
    -c "SELECT valid, total_entries, invalid_entries, issues::text FROM $3" \
    -c "SELECT workers FROM warden.audit_verification ORDER BY id DESC LIMIT 1"
}

# Both ways on one database: same row; parallel runs had workers, except where an entry
# lacks its chain or position (then the plan reads serially: "serial"). Prints the row.
agree() {  # database, query, what[, serial]
  local parallel serial
  parallel=$(verify_with "$1" 2 "$2")
  serial=$(verify_with "$1" 0 "$2")
  if [ "${4:-}" = serial ]; then
    expect_eq "$(tail -n 1 <<<"$parallel")" 0 "$3: workers where entries have no chain or impossible positions"
  else
    [ "$(tail -n 1 <<<"$parallel")" -ge 1 ] || fail "$3: the parallel run had no worker"
  fi
  expect_eq "$(tail -n 1 <<<"$serial")" 0 "$3: workers of the serial run"
  expect_eq "$(head -n -1 <<<"$parallel")" "$(head -n -1 <<<"$serial")" "$3: parallel and serial reports"
  head -n -1 <<<"$parallel"
}

row=$(agree "$base" "warden.verify_audit()" "intact ledger") || exit 1
expect_eq "$row" "t|$total|0|[]" "intact ledger"
row=$(agree "$base" "warden.verify_audit('$digest'::jsonb, full => true)" "intact ledger against a digest") || exit 1
expect_eq "$row" "t|$total|0|[]" "intact ledger against a digest"

# An ordinary key officer (warden_admin, default TEMP privilege) sets traps for the
# parallel workers, which run as the extension owner with the leader's settings and
# temporary schema: temporary domains over every type the verification queries use, a
# CHECK that tries to make the officer a superuser, temporary tables named as the
# ledger's, pg_temp first on its search_path. Workers take part; no trap runs.
officer=multi_parallel_officer
q -c "SET client_min_messages = warning; DROP ROLE IF EXISTS $officer;
      CREATE ROLE $officer LOGIN IN ROLE warden_admin;
      CREATE TABLE public.par_trap (role_name name NOT NULL, became_superuser boolean NOT NULL);
      GRANT SELECT, INSERT ON public.par_trap TO PUBLIC;
      CREATE FUNCTION public.par_grab(v pg_catalog.text) RETURNS boolean LANGUAGE plpgsql AS \$\$
      DECLARE became boolean := false;
      BEGIN
          BEGIN EXECUTE 'ALTER ROLE $officer SUPERUSER'; became := true; EXCEPTION WHEN others THEN NULL; END;
          INSERT INTO public.par_trap VALUES (current_user, became);
          RETURN true;
      END \$\$;" >/dev/null
domains=""
for t in int8 int4 bytea text jsonb timestamptz interval bool numeric inet name oid; do
  domains+="CREATE DOMAIN pg_temp.$t AS pg_catalog.$t CHECK (public.par_grab(VALUE::pg_catalog.text)); "
done
trapped=$(q -U "$officer" -c "$domains" \
  -c "CREATE TEMP TABLE audit_log (id int8); CREATE TEMP TABLE audit_checkpoint (chain_id int4);
      CREATE TEMP TABLE audit_verification (id int8); CREATE TEMP TABLE key_store (name text); CREATE TEMP TABLE pg_class (oid int8)" \
  -c "SET search_path = pg_temp, public, pg_catalog" -c "SET warden.parallel_verify_min_entries = 0" \
  -c "SET max_parallel_workers_per_gather = 2" \
  -c "SELECT valid, total_entries FROM warden.verify_audit()" \
  -c "SELECT workers FROM warden.audit_verification ORDER BY id DESC LIMIT 1")
expect_eq "$(head -n 1 <<<"$trapped")" "t|$total" "verify_audit() by the officer among traps"
[ "$(tail -n 1 <<<"$trapped")" -ge 1 ] || fail "no parallel worker took part in the officer's verification"
expect_eq "$(q -c "SELECT count(*) FROM public.par_trap WHERE role_name <> '$officer' OR became_superuser")" 0 \
  "traps run as another role, or the officer became a superuser"
expect_eq "$(q -c "SELECT rolsuper FROM pg_roles WHERE rolname = '$officer'")" f "the officer is no superuser"
# The traps are live: the officer's own cast to int8 runs one, as the officer.
q -U "$officer" -c "$domains" -c "SET search_path = pg_temp, public, pg_catalog" -c "SELECT 7::int8" >/dev/null
[ "$(q -c "SELECT count(*) FROM public.par_trap WHERE role_name = '$officer'")" -ge 1 ] || fail "the traps never ran, even for the officer"
q -c "SET client_min_messages = warning; DROP TABLE public.par_trap; DROP FUNCTION public.par_grab(text); DROP OWNED BY $officer; DROP ROLE $officer" >/dev/null

# Serial when the transaction has written, and below the threshold.
expect_eq "$(q -c "SET max_parallel_workers_per_gather = 2" -c "SET warden.parallel_verify_min_entries = 0" \
  -c "BEGIN" -c "SELECT warden.log_event('par', 'IN_TX') IS NOT NULL" -c "SELECT valid FROM warden.verify_audit()" \
  -c "SELECT workers FROM warden.audit_verification ORDER BY id DESC LIMIT 1" -c "COMMIT" | tail -n 1)" 0 \
  "workers in a transaction that has written"
expect_eq "$(q -c "SET max_parallel_workers_per_gather = 2" -c "SET warden.parallel_verify_min_entries = 1000000" \
  -c "SELECT valid FROM warden.verify_audit()" \
  -c "SELECT workers FROM warden.audit_verification ORDER BY id DESC LIMIT 1" | tail -n 1)" 0 \
  "workers below warden.parallel_verify_min_entries"
q -c "SELECT public.tamper(\$\$DELETE FROM warden.audit_log WHERE action = 'IN_TX'\$\$)" >/dev/null

# The tampered chain: the longest written one, preferably continued after its checkpoint
# (positions lo..lo+len-1).
read -r chain lo len <<<"$(q -F ' ' -c "SELECT chain_id, min(chain_pos), count(*) FROM warden.audit_log GROUP BY 1
                                         ORDER BY count(*) DESC, min(chain_pos) DESC, 1 LIMIT 1")"
read -r other other_head <<<"$(q -F ' ' -c "SELECT chain_id, max(chain_pos) FROM warden.audit_log GROUP BY 1
                                     HAVING count(*) >= 11000 AND chain_id <> $chain ORDER BY 1 LIMIT 1")"
at() { echo $((lo + $1)); }
# Where its segments start, by the planner's rule (src/audit/parallel.rs, segments()):
# len / width ranges of equal share, width 5,000 positions at this ledger's size.
count=$((len / 5000))
boundaries=()
for k in $(seq 1 $((count - 1))); do boundaries+=($((lo + len * k / count))); done
[ "${#boundaries[@]}" -ge 1 ] || fail "the tampered chain is one segment"

cases=(
  "edited|UPDATE warden.audit_log SET reason = 'edited' WHERE chain_id = $chain AND chain_pos = $(at 2000)"
  "deleted|DELETE FROM warden.audit_log WHERE chain_id = $chain AND chain_pos = $(at 2000)"
  "first entry deleted|DELETE FROM warden.audit_log WHERE chain_id = $chain AND chain_pos = $lo"
  "tail cut|DELETE FROM warden.audit_log WHERE chain_id = $other AND chain_pos > $((other_head - 10))"
  "chain deleted|DELETE FROM warden.audit_log WHERE chain_id = $other"
  "broken link|UPDATE warden.audit_log SET prev_hash = decode(repeat('07', 32), 'hex') WHERE chain_id = $chain AND chain_pos = $(at 3000)"
  "malformed|UPDATE warden.audit_log SET prev_hash = '\\x00' WHERE chain_id = $chain AND chain_pos = $(at 3000)"
  "unknown key|UPDATE warden.audit_log SET key_version = 9 WHERE chain_id = $chain AND chain_pos = $(at 3000)"
  "moved|UPDATE warden.audit_log SET chain_pos = $(at 12000) WHERE chain_id = $chain AND chain_pos = $(at 1500)"
  "swapped|ALTER TABLE warden.audit_log DROP CONSTRAINT audit_log_chain_id_chain_pos_key; UPDATE warden.audit_log SET chain_pos = CASE chain_pos WHEN $(at 1000) THEN $(at 4000) ELSE $(at 1000) END WHERE chain_id = $chain AND chain_pos IN ($(at 1000), $(at 4000))"
  "copied in place|ALTER TABLE warden.audit_log DROP CONSTRAINT audit_log_chain_id_chain_pos_key; INSERT INTO warden.audit_log OVERRIDING SYSTEM VALUE SELECT (jsonb_populate_record(NULL::warden.audit_log, to_jsonb(a) || '{\"id\": 900000000}')).* FROM warden.audit_log a WHERE chain_id = $chain AND chain_pos = $(at 2500)"
  "unchained|ALTER TABLE warden.audit_log ALTER COLUMN chain_pos DROP NOT NULL; UPDATE warden.audit_log SET chain_pos = NULL WHERE chain_id = $chain AND chain_pos = $(at 2500)"
  "no chain|ALTER TABLE warden.audit_log ALTER COLUMN chain_id DROP NOT NULL; UPDATE warden.audit_log SET chain_id = NULL WHERE chain_id = $chain AND chain_pos = $(at 2500)"
  "forged checkpoint|INSERT INTO warden.audit_checkpoint (chain_id, chain_pos, entry_hash, created_at, key_name, key_version, signature) SELECT chain_id, chain_pos, entry_hash, now(), key_name, key_version, decode(repeat('00', 32), 'hex') FROM warden.audit_log WHERE chain_id = $chain AND chain_pos = $(at 1000); DELETE FROM warden.audit_log WHERE chain_id = $chain AND chain_pos <= $(at 1000)"
)
# Rows stored as given with positions no writer issues: read serially (a planner that
# trusted the span would cut a chain into 10^15 segments), with the serial report.
extreme="INSERT INTO warden.audit_log OVERRIDING SYSTEM VALUE SELECT (jsonb_populate_record(NULL::warden.audit_log, to_jsonb(a) || jsonb_build_object('id', 900000000 + v.n, 'chain_id', v.c, 'chain_pos', v.p))).* FROM warden.audit_log a, (VALUES (1, 1001, 1), (2, 1001, 9223372036854775807), (3, 1002, -5), (4, 1002, 9223372036854775806)) v(n, c, p) WHERE a.chain_id = $chain AND a.chain_pos = $lo"
cases+=("positions at the extremes|$extreme")
for b in "${boundaries[@]}"; do
  cases+=("edited before boundary $b|UPDATE warden.audit_log SET reason = 'edited' WHERE chain_id = $chain AND chain_pos = $((b - 1))")
  cases+=("edited at boundary $b|UPDATE warden.audit_log SET reason = 'edited' WHERE chain_id = $chain AND chain_pos = $b")
  cases+=("deleted before boundary $b|DELETE FROM warden.audit_log WHERE chain_id = $chain AND chain_pos = $((b - 1))")
  cases+=("deleted at boundary $b|DELETE FROM warden.audit_log WHERE chain_id = $chain AND chain_pos = $b")
  cases+=("relinked at boundary $b|UPDATE warden.audit_log SET prev_hash = decode(repeat('07', 32), 'hex') WHERE chain_id = $chain AND chain_pos = $b")
  cases+=("copied at boundary $b|ALTER TABLE warden.audit_log DROP CONSTRAINT audit_log_chain_id_chain_pos_key; INSERT INTO warden.audit_log OVERRIDING SYSTEM VALUE SELECT (jsonb_populate_record(NULL::warden.audit_log, to_jsonb(a) || '{\"id\": 900000000}')).* FROM warden.audit_log a WHERE chain_id = $chain AND chain_pos = $b")
done

n=0
for c in "${cases[@]}"; do
  what=${c%%|*}
  sql=${c#*|}
  n=$((n + 1))
  db="${base}_t$n"
  copies+=("$db")
  "$PG_BIN/createdb" -T "$base" "$db" || fail "$what: copy of the database"
  q -d "$db" -c "SELECT public.tamper(\$q\$$sql\$q\$)" >/dev/null || fail "$what: tampering"
  mode=
  case "$what" in unchained|"no chain"|"positions at the extremes") mode=serial ;; esac
  row=$(agree "$db" "warden.verify_audit('$digest'::jsonb, full => true)" "$what, against the digest" $mode) || exit 1
  [ "${row%%|*}" = f ] || fail "$what: reported valid: $row"
  agree "$db" "warden.verify_audit()" "$what" $mode >/dev/null || exit 1
  "$PG_BIN/dropdb" --force "$db"
done
echo "parallel and serial verification agree on the intact ledger and on $n tamperings"
