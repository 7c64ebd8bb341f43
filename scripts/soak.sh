#!/usr/bin/env bash
# Bounded soak: SOAK_CLIENTS (32) pgbench clients for SOAK_SECONDS (600) mix log_event,
# DML on an audited table, keyed fingerprint and anonymization queries and ledger reads,
# while the default key rotates every 10 s and the audit key every 30 s. Then the ledger
# must verify and hold exactly what was acknowledged, pgbench must report no failed
# transaction, the server log no crash or internal error, and the postmaster must keep
# its start time. Prints a summary; exits non-zero on any failure.
#
# Runs on a throwaway cluster of its own (WARDEN_ROOT and WARDEN_PGPORT override the
# defaults below) and stops it at the end if it started it.
set -euo pipefail
export WARDEN_ROOT="${WARDEN_ROOT:-/tmp/pg_warden-soak}"
export WARDEN_PGPORT="${WARDEN_PGPORT:-54316}"
. "$(dirname "$0")/common.sh"
. "$(dirname "$0")/logcheck.sh"
cd "$(dirname "$0")/.."
DURATION="${SOAK_SECONDS:-600}"
CLIENTS="${SOAK_CLIENTS:-32}"
DB=warden_soak
work=$(mktemp -d)
started_here=0
finish() {
  rm -rf "$work"
  if [ "$started_here" = 1 ]; then scripts/cluster.sh stop >/dev/null; fi
}
trap finish EXIT
failures=0
check() {  # label, actual, expected
  if [ "$2" = "$3" ]; then
    printf '  ok    %s: %s\n' "$1" "$2"
  else
    printf '  FAIL  %s: got %s, expected %s\n' "$1" "$2" "$3"; failures=$((failures + 1))
  fi
}
check_range() {  # label, actual, lowest, highest
  if [ "$2" -ge "$3" ] && [ "$2" -le "$4" ]; then
    printf '  ok    %s: %s\n' "$1" "$2"
  else
    printf '  FAIL  %s: got %s, expected %s..%s\n' "$1" "$2" "$3" "$4"; failures=$((failures + 1))
  fi
}

if ! as_postgres "$PG_BIN/pg_ctl" -D "$WARDEN_PGDATA" status >/dev/null 2>&1; then started_here=1; fi
scripts/cluster.sh start
export PGHOST="$WARDEN_SOCKDIR" PGPORT="$WARDEN_PGPORT" PGUSER=postgres PGDATABASE="$DB"
sql() { "$PG_BIN/psql" -X -q -A -t -v ON_ERROR_STOP=1 "$@"; }
"$PG_BIN/dropdb" --if-exists "$DB" 2>/dev/null
"$PG_BIN/createdb" "$DB"
sql -d postgres -c "SET client_min_messages = warning; DROP ROLE IF EXISTS soak_app; CREATE ROLE soak_app LOGIN;" >/dev/null
sql >/dev/null <<'SQL'
CREATE EXTENSION pg_warden;
SELECT warden.create_key('default'), warden.create_key('audit');
SELECT warden.create_key_from_env('payments', 'WARDEN_DEMO_KEY');
-- The captured table: half of the ids 1..5000 exist; api_token is secret-named.
CREATE TABLE soak_accounts (id int PRIMARY KEY, owner text NOT NULL, api_token text, balance bigint NOT NULL);
INSERT INTO soak_accounts SELECT g, 'owner' || g, 'soak-secret-seed-' || g, 0 FROM generate_series(1, 5000, 2) g;
SELECT warden.audit_table('soak_accounts');
-- What each transaction committed, written in the same transaction as its ledger entries.
CREATE TABLE soak_ack (kind text NOT NULL);
-- Fingerprints made under version 1 of the default key, checked during the rotations.
CREATE TABLE soak_fp (id int PRIMARY KEY, fp text NOT NULL);
INSERT INTO soak_fp SELECT g, warden.fingerprint('seed' || g) FROM generate_series(0, 999) g;
-- The clients log in as an ordinary role: keys are read on their behalf.
GRANT warden_admin TO soak_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON soak_accounts TO soak_app;
GRANT SELECT, INSERT ON soak_ack TO soak_app;
GRANT SELECT ON soak_fp TO soak_app;
SQL

# Each secret in the workload contains 'soak-secret'; none may reach the ledger raw.
cat > "$work/log_event.sql" <<'SQL'
\set uid random(1, 100000)
\set conf random(0, 10000)
BEGIN;
SELECT warden.log_event('soak_login', 'LOGIN', 'user', :uid::text,
    jsonb_build_object('ip', '192.0.2.' || (:uid % 250), 'password', 'soak-secret-pw-' || :uid,
                       'client', jsonb_build_object('api_key', 'soak-secret-key-' || :uid,
                                                    'sessions', jsonb_build_array(jsonb_build_object('token', 'soak-secret-tok'), :uid, 'x'))),
    correlation_id => 'req-' || :client_id || '-' || :uid, reason => 'soak', confidence => :conf / 10000.0,
    tenant => 't' || (:uid % 7));
INSERT INTO soak_ack VALUES ('soak_login');
COMMIT;
SQL
cat > "$work/log_batch.sql" <<'SQL'
\set rid random(1, 1000000)
BEGIN;
SELECT warden.log_event('soak_batch', 'EXPORT', 'report', :rid::text, '{"rows": 10, "client_secret": "soak-secret-cs"}');
SAVEPOINT s;
SELECT warden.log_event('soak_rolled_back', 'NOTE');
ROLLBACK TO SAVEPOINT s;
SELECT warden.log_event('soak_batch', 'EXPORT_DONE', 'report', :rid::text, actor => 'soak-batch');
INSERT INTO soak_ack VALUES ('soak_batch'), ('soak_batch');
COMMIT;
SQL
cat > "$work/log_abort.sql" <<'SQL'
BEGIN;
SELECT warden.log_event('soak_aborted', 'NOTE', details => '{"token": "soak-secret-aborted"}');
INSERT INTO soak_ack VALUES ('soak_aborted');
ROLLBACK;
SQL
cat > "$work/dml_insert.sql" <<'SQL'
\set id random(1, 5000)
WITH w AS (INSERT INTO soak_accounts VALUES (:id, 'owner' || :id, 'soak-secret-new-' || :id, 0)
           ON CONFLICT DO NOTHING RETURNING 1)
INSERT INTO soak_ack SELECT 'INSERT' FROM w;
SQL
cat > "$work/dml_update.sql" <<'SQL'
\set id random(1, 5000)
\set amount random(-100, 100)
WITH w AS (UPDATE soak_accounts SET balance = balance + :amount, api_token = 'soak-secret-upd-' || :amount
            WHERE id = :id RETURNING 1)
INSERT INTO soak_ack SELECT 'UPDATE' FROM w;
SQL
cat > "$work/dml_delete.sql" <<'SQL'
\set id random(1, 5000)
WITH w AS (DELETE FROM soak_accounts WHERE id = :id RETURNING 1)
INSERT INTO soak_ack SELECT 'DELETE' FROM w;
SQL
# A fingerprint made under version 1 must keep matching through the rotations: a false
# match divides by zero and fails the transaction.
cat > "$work/fingerprint.sql" <<'SQL'
\set v random(1, 1000000)
SELECT 1 / warden.fingerprint_matches('seed' || id, fp)::int FROM soak_fp WHERE id = :v % 1000;
SELECT 1 / warden.fingerprint_matches('user' || :v, warden.fingerprint('user' || :v))::int,
       warden.fingerprint(('user' || :v)::bytea, 'payments'),
       warden.anonymize('user' || :v || '@example.com', 'email'),
       warden.anonymize('+1 (555) 010-' || lpad((:v % 10000)::text, 4, '0'), 'phone'),
       warden.pseudonymize(:v::bigint),
       warden.fingerprint_secrets(jsonb_build_object('user', :v, 'password', 'soak-secret-' || :v));
SQL
cat > "$work/read.sql" <<'SQL'
\set uid random(1, 100000)
SELECT id, event_type, chain_id, chain_pos FROM warden.audit_log WHERE correlation_id = 'req-' || :client_id || '-' || :uid;
SELECT count(*) FROM warden.audit_log WHERE ts > now() - interval '100 milliseconds';
SELECT name, max(version) FROM warden.keys GROUP BY name;
SQL
scripts=(log_event@30 log_batch@10 log_abort@3 dml_insert@10 dml_update@15 dml_delete@5 fingerprint@25 read@2)

entries_before=$(sql -c "SELECT count(*) FROM warden.audit_log")
started=$(postmaster_started)
mark=$(log_mark)
echo "soak: $CLIENTS clients for $DURATION s on $WARDEN_SOCKDIR port $WARDEN_PGPORT"

# Rotations while the clients run.
(
  rotations=0
  while [ $((rotations * 10 + 10)) -lt "$DURATION" ]; do
    sleep 10
    rotations=$((rotations + 1))
    sql -c "SELECT warden.rotate_key('default')" >/dev/null
    if [ $((rotations % 3)) = 0 ]; then sql -c "SELECT warden.rotate_key('audit')" >/dev/null; fi
    echo "$rotations" > "$work/rotations"
  done
) &
rotator=$!

pgbench_args=(-n -U soak_app -c "$CLIENTS" -j 2 -T "$DURATION" -P 30 --failures-detailed)
for s in "${scripts[@]}"; do pgbench_args+=(-f "$work/${s%@*}.sql@${s#*@}"); done
# Progress and errors (stderr) show as they come; the report goes to pgbench.out.
set +e
"$PG_BIN/pgbench" "${pgbench_args[@]}" 2>&1 >"$work/pgbench.out" | tee "$work/pgbench.err"
pgbench_status=${PIPESTATUS[0]}
set -e
rotator_status=0
wait "$rotator" || rotator_status=$?
cat "$work/pgbench.out"

# pgbench's figures. Per script: "SQL script N: <file>" then " - <count> transactions (...)".
per_script() {  # script name -> transactions pgbench saw complete
  grep -A2 "^SQL script [0-9]*: $work/$1.sql" "$work/pgbench.out" | grep -oP '^ - \K[0-9]+(?= transactions)'
}
tps=$(grep -oP '^tps = \K[0-9.]+' "$work/pgbench.out" || echo missing)
processed=$(grep -oP '^number of transactions actually processed: \K[0-9]+' "$work/pgbench.out" || echo missing)
failed=$(grep -oP '^number of failed transactions: \K[0-9]+' "$work/pgbench.out" || echo missing)
aborted=$(cat "$work/pgbench.err" "$work/pgbench.out" | grep -c -E 'client [0-9]+ aborted|Run was aborted' || [ $? -eq 1 ])

echo "---- checks ----"
check "pgbench exit status" "$pgbench_status" 0
check "pgbench failed transactions" "$failed" 0
check "lines reporting an aborted client" "$aborted" 0
check "rotation loop exit status" "$rotator_status" 0
rotations=$(cat "$work/rotations" 2>/dev/null || echo 0)

# What the ledger holds against what was acknowledged.
IFS='|' read -r ack_login ack_batch ack_aborted ack_ins ack_upd ack_del <<<"$(sql -c "
  SELECT count(*) FILTER (WHERE kind = 'soak_login'), count(*) FILTER (WHERE kind = 'soak_batch'),
         count(*) FILTER (WHERE kind = 'soak_aborted'), count(*) FILTER (WHERE kind = 'INSERT'),
         count(*) FILTER (WHERE kind = 'UPDATE'), count(*) FILTER (WHERE kind = 'DELETE')
    FROM soak_ack")"
IFS='|' read -r led_login led_batch led_rolled led_aborted led_ins led_upd led_del led_total raw <<<"$(sql -c "
  SELECT count(*) FILTER (WHERE event_type = 'soak_login'), count(*) FILTER (WHERE event_type = 'soak_batch'),
         count(*) FILTER (WHERE event_type = 'soak_rolled_back'), count(*) FILTER (WHERE event_type = 'soak_aborted'),
         count(*) FILTER (WHERE event_type = 'row_change' AND resource_type = 'public.soak_accounts' AND action = 'INSERT'),
         count(*) FILTER (WHERE event_type = 'row_change' AND resource_type = 'public.soak_accounts' AND action = 'UPDATE'),
         count(*) FILTER (WHERE event_type = 'row_change' AND resource_type = 'public.soak_accounts' AND action = 'DELETE'),
         count(*),
         count(*) FILTER (WHERE concat(details::text, before_state::text, after_state::text) LIKE '%soak-secret%')
    FROM warden.audit_log")"
# pgbench stops counting when the time is up: a COMMIT in flight then is committed but not
# counted, at most one per client. Exact counts come from soak_ack.
check "ledger soak_login = acknowledged" "$led_login" "$ack_login"
check_range "ledger soak_login - pgbench transactions" "$((led_login - $(per_script log_event)))" 0 "$CLIENTS"
check "ledger soak_batch = acknowledged" "$led_batch" "$ack_batch"
check_range "ledger soak_batch - 2 x pgbench transactions" "$((led_batch - 2 * $(per_script log_batch)))" 0 "$((2 * CLIENTS))"
check "rolled-back savepoint entries" "$led_rolled" 0
check "aborted transactions' entries and acks" "$led_aborted|$ack_aborted" "0|0"
check "captured INSERTs = rows inserted" "$led_ins" "$ack_ins"
check "captured UPDATEs = rows updated" "$led_upd" "$ack_upd"
check "captured DELETEs = rows deleted" "$led_del" "$ack_del"
check "ledger total = before + acknowledged" "$led_total" \
  "$((entries_before + ack_login + ack_batch + ack_ins + ack_upd + ack_del))"
check "entries holding a raw secret" "$raw" 0
check "rows in the audited table" "$(sql -c "SELECT count(*) FROM soak_accounts")" "$((2500 + ack_ins - ack_del))"
check "default key versions" "$(sql -c "SELECT max(version) FROM warden.keys WHERE name = 'default'")" "$((1 + rotations))"
check "chains with gaps or forks" "$(sql -c "SELECT count(*) FROM (SELECT chain_id, count(*) n, min(chain_pos) lo, max(chain_pos) hi
  FROM warden.audit_log GROUP BY chain_id) c WHERE lo <> 1 OR hi - lo + 1 <> n")" 0

verify_start=$(date +%s%N)
verdict=$(sql -c "SELECT valid, total_entries, invalid_entries FROM warden.verify_audit()")
verify_ms=$(( ($(date +%s%N) - verify_start) / 1000000 ))
check "verify_audit (valid, entries, invalid)" "$verdict" "t|$led_total|0"

now=$(postmaster_started)
check "postmaster start time" "$now" "$started"
problems=$(log_problems "$mark")
check "server log lines with a crash or internal error" "$(grep -c . <<<"$problems" || [ $? -eq 1 ])" 0
[ -z "$problems" ] || echo "$problems" | head -n 20

chains=$(sql -c "SELECT count(DISTINCT chain_id) FROM warden.audit_log")
size=$(sql -c "SELECT pg_size_pretty(pg_total_relation_size('warden.audit_log'))")
echo "---- summary ----"
printf '%-34s %s\n' \
  "clients / duration" "$CLIENTS / $DURATION s" \
  "pgbench transactions / tps" "$processed / $tps" \
  "log_event / batch / abort tx" "$(per_script log_event) / $(per_script log_batch) / $(per_script log_abort)" \
  "insert / update / delete tx" "$(per_script dml_insert) / $(per_script dml_update) / $(per_script dml_delete)" \
  "rows inserted / updated / deleted" "$ack_ins / $ack_upd / $ack_del" \
  "fingerprint / read tx" "$(per_script fingerprint) / $(per_script read)" \
  "key rotations (default)" "$rotations" \
  "ledger entries: total (added)" "$led_total ($((led_total - entries_before)))" \
  "ledger entries per second" "$(( (led_total - entries_before) / DURATION ))" \
  "chains / ledger size" "$chains / $size" \
  "verify_audit" "$verify_ms ms, $(( led_total * 1000 / (verify_ms > 0 ? verify_ms : 1) )) entries/s"
if [ "$failures" -ne 0 ]; then
  echo "soak: $failures check(s) failed"; exit 1
fi
echo "soak: all checks passed"
