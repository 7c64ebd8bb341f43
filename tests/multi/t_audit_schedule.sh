# Scheduled digests kept on another server (docs/audit.md, "Scheduling"): a ledger server
# with pg_cron preloaded runs, as a warden_admin member who is not a superuser, a job
# that advances the Merkle tree and writes audit_digest() through postgres_fdw into an
# append-only table on a second server (the digest keeper), and two verification jobs.
# The keeper receives at least two digests, only from the job; each run inserted one and
# every run succeeded (cron.job_run_details); the later digest covers the entries logged
# between the two and carries a larger tree head, consistent with the earlier one; every
# kept digest verifies offline with warden-verify against an export. The keeper's role
# may insert and nothing else (42501 for SELECT, UPDATE, DELETE and TRUNCATE on the
# keeper, and for UPDATE, DELETE and TRUNCATE through the foreign table). After a
# superuser who disables the guards deletes the newest entry, verify_audit() (which
# requires the heads the last valid run recorded), verify_audit(kept digest, full =>
# true), warden-verify with the kept digest and both verification jobs fail; with the
# entry put back they pass. An edited entry fails the full verification job. With Debian 12's pg_cron (1.4, minute
# schedules) the test waits for two minute boundaries: 65 to 125 s.
. "$(dirname "$0")/lib.sh"
verify_bin="$(dirname "$0")/../../target/debug/warden-verify"
[ -x "$verify_bin" ] || fail "warden-verify is not built (make verifier)"
[ -f "$("$PG_CONFIG" --pkglibdir)/pg_cron.so" ] || fail "pg_cron is not installed (scripts/setup.sh installs postgresql-${PG_MAJOR}-cron)"
ledger_port=$(extra_port 1)
keeper_port=$(extra_port 2)
officer=warden_officer
writer=digest_writer
writer_password=keeper-test-password
work=$(mktemp -d)
cleanup() {
  extra_cluster_remove sched-ledger
  extra_cluster_remove sched-keeper
  rm -rf "$work"
}
trap cleanup EXIT

# The digest keeper: a table only the job's role may insert into, over a password login
# (postgres_fdw lets a role that is not a superuser connect only with one).
extra_cluster_init sched-keeper "$keeper_port"
keeper() { q -p "$keeper_port" -d keeperdb "$@"; }
q -p "$keeper_port" -d postgres -c "CREATE DATABASE keeperdb" >/dev/null
keeper <<SQL >/dev/null
REVOKE ALL ON DATABASE keeperdb FROM PUBLIC;
REVOKE ALL ON SCHEMA public FROM PUBLIC;
CREATE ROLE $writer LOGIN PASSWORD '$writer_password';
CREATE ROLE digest_auditor LOGIN;
GRANT CONNECT ON DATABASE keeperdb TO $writer, digest_auditor;
GRANT USAGE ON SCHEMA public TO $writer, digest_auditor;
CREATE TABLE public.digests (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    received_at timestamptz NOT NULL DEFAULT now(),
    taken_at timestamptz NOT NULL,
    digest jsonb NOT NULL
);
GRANT INSERT (taken_at, digest) ON public.digests TO $writer;
GRANT SELECT ON public.digests TO digest_auditor;
SQL
hba="$(extra_dir sched-keeper)/data/pg_hba.conf"
as_postgres sed -i "1i local keeperdb $writer scram-sha-256" "$hba"
q -p "$keeper_port" -d postgres -c "SELECT pg_reload_conf()" >/dev/null
writer_sqlstate() { PGPASSWORD=$writer_password sqlstate_of -p "$keeper_port" -d keeperdb -U "$writer" -c "$1"; }
PGPASSWORD=wrong q -p "$keeper_port" -d keeperdb -U "$writer" -c "SELECT 1" 2>&1 | grep -q "password authentication failed" \
  || fail "the keeper does not ask $writer for its password"

# The ledger server: pg_cron preloaded, its jobs run in background workers of the
# ledger's database (no libpq connection back to the server, so no password for it).
# Until that database exists, the pg_cron launcher exits and is restarted each second.
extra_cluster_init sched-ledger "$ledger_port" "shared_preload_libraries = 'pg_cron'" \
  "cron.database_name = 'ledgerdb'" "cron.use_background_workers = on" "max_worker_processes = 16"
ledger() { q -p "$ledger_port" -d ledgerdb "$@"; }
as_officer() { ledger -U "$officer" "$@"; }
q -p "$ledger_port" -d postgres -c "CREATE DATABASE ledgerdb" >/dev/null
# A superuser's part: the extensions, the audit key bound to the server's environment
# (an auditor holds the same secret), the officer and what it may use.
ledger <<SQL >/dev/null
CREATE EXTENSION pg_warden;
CREATE EXTENSION postgres_fdw;
CREATE EXTENSION pg_cron;
SELECT warden.create_key_from_env('audit', 'WARDEN_DEMO_KEY');
CREATE ROLE $officer LOGIN IN ROLE warden_admin;
CREATE ROLE app LOGIN IN ROLE warden_user;
GRANT USAGE ON SCHEMA cron TO $officer;
GRANT USAGE ON FOREIGN DATA WRAPPER postgres_fdw TO $officer;
CREATE SCHEMA keeper AUTHORIZATION $officer;
SQL
expect_eq "$(as_officer -c "SELECT rolsuper FROM pg_roles WHERE rolname = current_user")" "f" "the officer is not a superuser"
cron_version=$(ledger -c "SELECT extversion FROM pg_extension WHERE extname = 'pg_cron'")
# pg_cron before 1.5 (Debian 12 ships 1.4) schedules by the minute; 1.5 and later take
# '[1-59] seconds'.
case "$cron_version" in
  1.[0-4]*) every='* * * * *'; run_wait=75 ;;
  *) every='2 seconds'; run_wait=20 ;;
esac

# Entries before the jobs exist (a run may start as soon as they do).
log_events() {  # label, count
  ledger -U app -c "SELECT warden.log_event('$1', 'NOTE', 'doc', g::text, jsonb_build_object('n', g)) FROM generate_series(1, $2) g" >/dev/null
}
log_events before_first 10

# The officer's part: the keeper as a foreign server, the jobs.
as_officer <<SQL >/dev/null
CREATE SERVER digest_keeper FOREIGN DATA WRAPPER postgres_fdw
    OPTIONS (host '$WARDEN_SOCKDIR', port '$keeper_port', dbname 'keeperdb');
CREATE USER MAPPING FOR $officer SERVER digest_keeper
    OPTIONS (user '$writer', password '$writer_password');
CREATE FOREIGN TABLE keeper.digests (taken_at timestamptz NOT NULL, digest jsonb NOT NULL)
    SERVER digest_keeper OPTIONS (schema_name 'public', table_name 'digests');
SELECT cron.schedule('warden-digest', '$every', \$job\$
    SELECT warden.advance_audit_tree();
    INSERT INTO keeper.digests (taken_at, digest) SELECT now(), warden.audit_digest()
\$job\$);
SELECT cron.schedule('warden-verify', '$every', \$job\$
    DO \$\$
    DECLARE r record;
    BEGIN
        SELECT valid, issues INTO r FROM warden.verify_audit(NULL, full => false);
        IF NOT r.valid THEN
            RAISE EXCEPTION 'pg_warden: the audit ledger does not verify: %', left(r.issues::text, 1000);
        END IF;
    END \$\$
\$job\$);
SELECT cron.schedule('warden-verify-full', '$every', \$job\$
    DO \$\$
    DECLARE r record;
    BEGIN
        SELECT valid, issues INTO r FROM warden.verify_audit(
            (SELECT through FROM warden.audit_verification
              WHERE valid AND through IS NOT NULL ORDER BY id DESC LIMIT 1), full => true);
        IF NOT r.valid THEN
            RAISE EXCEPTION 'pg_warden: the audit ledger does not verify: %', left(r.issues::text, 1000);
        END IF;
    END \$\$
\$job\$);
SQL
expect_eq "$(keeper -c "SELECT count(*) FROM public.digests")" "0" "digests before the first run"
digests() { keeper -c "SELECT count(*) FROM public.digests"; }
kept_at_least() { [ "$(digests)" -ge "$1" ]; }
cron_log() {
  as_officer -c "SELECT j.jobname, d.status, d.return_message FROM cron.job_run_details d JOIN cron.job j USING (jobid) ORDER BY runid" >&2
  grep -E "ERROR|FATAL|pg_cron" "$(extra_dir sched-ledger)/server.log" | tail -10 >&2
}
wait_until "$run_wait" kept_at_least 1 || { cron_log; fail "no digest reached the keeper within $run_wait s"; }
log_events between 7
wait_until "$run_wait" kept_at_least 2 || { cron_log; fail "a second digest did not reach the keeper within $run_wait s"; }
# The verification jobs' commands, for running them by hand after the tampering below.
verify_cmd=$(as_officer -c "SELECT command FROM cron.job WHERE jobname = 'warden-verify'")
verify_full_cmd=$(as_officer -c "SELECT command FROM cron.job WHERE jobname = 'warden-verify-full'")
# No further runs, and none still under way.
as_officer -c "SELECT cron.unschedule(j) FROM unnest(ARRAY['warden-digest', 'warden-verify', 'warden-verify-full']) j" >/dev/null
runs_finished() { [ "$(as_officer -c "SELECT count(*) FROM cron.job_run_details WHERE status NOT IN ('succeeded', 'failed')")" = 0 ]; }
wait_until 30 runs_finished || { cron_log; fail "job runs did not finish"; }

# Every run succeeded, and each digest run kept exactly one digest.
runs=$(as_officer -c "SELECT d.command LIKE '%audit_digest%' AS digest_job, count(*) FILTER (WHERE status = 'succeeded'),
                             count(*) FILTER (WHERE status <> 'succeeded')
                        FROM cron.job_run_details d GROUP BY 1 ORDER BY 1")
kept=$(digests)
verify_runs=$(echo "$runs" | sed -n 's/^f|\([0-9]*\)|0$/\1/p')
digest_runs=$(echo "$runs" | sed -n 's/^t|\([0-9]*\)|0$/\1/p')
if [ -z "$verify_runs" ] || [ -z "$digest_runs" ]; then cron_log; fail "job runs failed or are missing: $runs"; fi
expect_eq "$digest_runs" "$kept" "succeeded digest runs and digests kept"
[ "$kept" -ge 2 ] || fail "only $kept digests kept"
[ "$verify_runs" -ge 2 ] || fail "only $verify_runs verification runs"
expect_eq "$(as_officer -c "SELECT DISTINCT username FROM cron.job_run_details")" "$officer" "the jobs ran as"

# The digests: signed by the audit key, each with a tree head, the later one covering the
# entries logged between them.
keeper -c "SELECT digest FROM public.digests ORDER BY taken_at LIMIT 1" > "$work/first.json"
keeper -c "SELECT digest FROM public.digests ORDER BY taken_at DESC LIMIT 1" > "$work/newest.json"
fields() { python3 -c 'import json, sys; d = json.load(open(sys.argv[1])); print(d["format"], d["key_name"], d["total_entries"], d["tree_head"]["tree_size"])' "$1"; }
read -r format key first_total first_tree <<< "$(fields "$work/first.json")"
read -r _ _ newest_total newest_tree <<< "$(fields "$work/newest.json")"
expect_eq "$format $key" "pg_warden-digest-v1 audit" "the kept digest's format and key"
[ "$first_total" -ge 10 ] || fail "the first digest covers $first_total entries, fewer than the 10 logged before it"
[ "$newest_total" -ge $((first_total + 7)) ] || fail "the newest digest covers $newest_total entries, the first $first_total: not the 7 logged between"
[ "$newest_tree" -gt "$first_tree" ] || fail "the newest digest's tree head ($newest_tree) is not larger than the first's ($first_tree)"
total=$(ledger -c "SELECT count(*) FROM warden.audit_log")
expect_eq "$newest_total $newest_tree" "$total $total" "the newest digest's entries and tree head against the ledger"
expect_eq "$(q -p "$keeper_port" -d keeperdb -U digest_auditor -c "SELECT count(*) FROM public.digests")" "$kept" \
  "the keeper's auditor reads the digests"

# Offline, as docs/audit.md's auditor does: an export (by the officer) verifies against
# every kept digest (read by the keeper's auditor, one a line), with the key the auditor
# holds (the server's variable without its hex: prefix).
as_officer -c "SELECT warden.export_audit()" > "$work/export.json"
export WARDEN_K1=${WARDEN_DEMO_ENV_KEY#hex:}
q -p "$keeper_port" -d keeperdb -U digest_auditor -c "SELECT digest FROM public.digests ORDER BY id" \
  | (cd "$work" && split -l 1 - digest-)
checked=0
for d in "$work"/digest-*; do
  "$verify_bin" --export "$work/export.json" --key-env audit:1:WARDEN_K1 --digest "$d" > "$work/verify.out" \
    || { cat "$work/verify.out" >&2; fail "the export did not verify offline against kept digest $(basename "$d")"; }
  checked=$((checked + 1))
done
expect_eq "$checked" "$kept" "kept digests verified offline"
# The tree heads the two kept digests carry: the ledger proves the newer extends the
# older (a consistency proof, verified offline), between exactly the roots kept.
as_officer -c "SELECT warden.audit_consistency($first_tree, $newest_tree)" > "$work/consistency.json"
"$verify_bin" --consistency "$work/consistency.json" --key-env audit:1:WARDEN_K1 > "$work/verify.out" \
  || { cat "$work/verify.out" >&2; fail "the consistency proof between the kept tree heads did not verify offline"; }
expect_eq "$(python3 -c '
import json, sys
proof, first, newest = (json.load(open(p)) for p in sys.argv[1:])
print(proof["old_head"]["root"] == first["tree_head"]["root"], proof["new_head"]["root"] == newest["tree_head"]["root"])' \
  "$work/consistency.json" "$work/first.json" "$work/newest.json")" "True True" "the consistency proof's roots are the kept heads' roots"
newest=$(cat "$work/newest.json")
expect_eq "$(as_officer -c "SELECT valid FROM warden.verify_audit('$newest'::jsonb, full => true)")" "t" \
  "verify_audit(newest kept digest, full => true) before tampering"

# The keeper's role inserts and nothing else, on the keeper and through the foreign table.
for sql in "UPDATE public.digests SET digest = '{}'" "DELETE FROM public.digests" "TRUNCATE public.digests" \
           "SELECT count(*) FROM public.digests"; do
  expect_eq "$(writer_sqlstate "$sql")" "42501" "$writer on the keeper: $sql"
done
expect_eq "$(writer_sqlstate "INSERT INTO public.digests (received_at, taken_at, digest) VALUES (now() - interval '1 day', now(), '{}')")" \
  "42501" "$writer on the keeper: choosing received_at"
for sql in "UPDATE keeper.digests SET digest = '{}'" "DELETE FROM keeper.digests" "TRUNCATE keeper.digests"; do
  expect_eq "$(sqlstate_of -p "$ledger_port" -d ledgerdb -U "$officer" -c "$sql")" "42501" "$officer through the foreign table: $sql"
done
expect_eq "$(digests)" "$kept" "digests after the refused changes"

# Tampering by a superuser who disables the guards (as tests/pg_regress/sql/00_setup.sql).
tamper() {  # statement
  ledger -c "BEGIN;
    ALTER EVENT TRIGGER warden_audit_ddl_guard DISABLE;
    ALTER EVENT TRIGGER warden_audit_drop_guard DISABLE;
    ALTER TABLE warden.audit_log DISABLE TRIGGER USER;
    $1;
    ALTER TABLE warden.audit_log ENABLE ALWAYS TRIGGER audit_append_only;
    ALTER TABLE warden.audit_log ENABLE ALWAYS TRIGGER zz_audit_chain;
    ALTER EVENT TRIGGER warden_audit_ddl_guard ENABLE;
    ALTER EVENT TRIGGER warden_audit_drop_guard ENABLE;
    COMMIT" >/dev/null || fail "tampering: $1"
}
job_sqlstate() { sqlstate_of -p "$ledger_port" -d ledgerdb -U "$officer" -c "$1"; }
kept_digest_verdict() { as_officer -c "SELECT valid, issues FROM warden.verify_audit('$newest'::jsonb, full => true)"; }
# 1. The newest entry deleted (tail truncation). Every entry left verifies on its own;
# a full verification checks the chains against the heads the last valid run recorded,
# so it fails (read-only here: nothing recorded either way), and so do the jobs and the
# kept digest. A failed run records no heads: the next runs fail again.
ledger -c "CREATE TABLE public.saved_tail AS SELECT * FROM warden.audit_log WHERE id = (SELECT max(id) FROM warden.audit_log)" >/dev/null
tamper "DELETE FROM warden.audit_log WHERE id = (SELECT max(id) FROM warden.audit_log)"
expect_eq "$(as_officer -c "SET default_transaction_read_only = on" -c "SELECT valid FROM warden.verify_audit()")" "f" \
  "verify_audit() without a digest after the tail truncation"
expect_eq "$(job_sqlstate "$verify_cmd")" "P0001" "the incremental verification job's command after the tail truncation"
expect_eq "$(job_sqlstate "$verify_full_cmd")" "P0001" "the full verification job's command after the tail truncation"
verdict=$(kept_digest_verdict)
case "$verdict" in
  "f|"*"holds no entry"*) ;;
  *) fail "verify_audit(newest kept digest, full => true) after the tail truncation: $verdict" ;;
esac
as_officer -c "SELECT warden.export_audit()" > "$work/truncated.json"
"$verify_bin" --export "$work/truncated.json" --key-env audit:1:WARDEN_K1 --digest "$work/newest.json" > "$work/verify.out" 2>&1
expect_eq "$?" "1" "warden-verify of the truncated ledger's export against the newest kept digest"
expect_eq "$(as_officer -c "SELECT valid FROM warden.verify_audit()")" "f" "a recorded verify_audit() after the tail truncation"
expect_eq "$(job_sqlstate "$verify_cmd")" "P0001" "the incremental verification job's command after a failed verification"
# The entry put back as it was: everything verifies again.
tamper "INSERT INTO warden.audit_log OVERRIDING SYSTEM VALUE SELECT * FROM public.saved_tail"
expect_eq "$(job_sqlstate "$verify_cmd")" "ok" "the incremental verification job's command with the entry back"
expect_eq "$(job_sqlstate "$verify_full_cmd")" "ok" "the full verification job's command with the entry back"
# 2. The first entry edited: the incremental job does not read that far back (it starts
# at the recorded heads); the full verification job catches it, the kept digest too.
tamper "UPDATE warden.audit_log SET reason = 'edited' WHERE id = (SELECT min(id) FROM warden.audit_log)"
expect_eq "$(job_sqlstate "$verify_cmd")" "ok" "the incremental verification job's command after an edit before the recorded heads"
expect_eq "$(job_sqlstate "$verify_full_cmd")" "P0001" "the full verification job's command after an edit"
expect_eq "$(kept_digest_verdict | cut -d'|' -f1)" "f" "verify_audit(newest kept digest, full => true) after an edit"
echo "schedule: pg_cron $cron_version every '$every': $kept digests kept ($first_total -> $newest_total entries, tree $first_tree -> $newest_tree), $verify_runs verification runs; keeper insert-only; tail truncation and edit caught"
