# Adopting an existing audit table: a 1,000,000-row legacy audit_logs table imported
# with CALL warden.import_audit keeps its order and original timestamps, the import's
# SHA-256 chain recomputes from the source, the ledger verifies, a second import of the
# same table is refused. An import killed with kill -9 of the postmaster resumes after
# the last committed batch and copies every row exactly once. Bad mappings, a source
# without a unique order, a forged event type and callers outside warden_admin are refused.
. "$(dirname "$0")/lib.sh"
ROWS="${WARDEN_TEST_IMPORT_ROWS:-1000000}"
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
q <<SQL >/dev/null
SELECT warden.create_key('audit', '\x000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f');
CREATE TABLE public.audit_logs (id bigint PRIMARY KEY, "timestamp" timestamptz NOT NULL, actor text,
                                action text NOT NULL, payload jsonb);
-- Ids not in insertion order, timestamps from 2019 on.
INSERT INTO public.audit_logs
SELECT g * 7 % ($ROWS * 7 + 1), timestamptz '2019-01-01 00:00:00+00' + g * interval '1 minute',
       'user' || (g % 1000), CASE WHEN g % 3 = 0 THEN 'login' ELSE 'update' END,
       jsonb_build_object('n', g, 'ip', '192.0.2.' || (g % 250))
  FROM generate_series(1, $ROWS) g;
SQL
mapping='{"order_by": "id", "ts": "timestamp", "event_type": {"value": "legacy"}, "action": "action", "actor": "actor", "details": "payload", "resource_type": {"value": "legacy_audit"}}'
q -c "CALL warden.import_audit('public.audit_logs', '$mapping')" 2> "$work/notices" >/dev/null \
  || { cat "$work/notices"; fail "the import failed"; }
grep -q "finished, $ROWS rows" "$work/notices" || { tail -3 "$work/notices"; fail "no finishing NOTICE"; }
[ "$(grep -c "rows$" "$work/notices")" -ge $((ROWS / 10000)) ] || fail "no progress NOTICE per batch"
read -r import_id rows finished <<<"$(q -F ' ' -c "SELECT id, rows_imported, finished_at IS NOT NULL FROM warden.audit_import")"
expect_eq "$rows $finished" "$ROWS t" "the import is recorded as finished with every row"
expect_eq "$(q -c "SELECT count(*) FROM warden.audit_log WHERE event_type = 'legacy'")" "$ROWS" "one entry per row"
# Order and original times: entry ids follow the source's order, each entry holds its row's time.
expect_eq "$(q -c "
  WITH e AS (SELECT (details->'imported'->>'key')::bigint AS k, (details->'imported'->>'original_ts')::timestamptz AS t,
                    actor, action, details - 'imported' AS payload
               FROM warden.audit_log WHERE event_type = 'legacy')
  SELECT count(*) FILTER (WHERE e.t IS DISTINCT FROM s.\"timestamp\" OR e.actor IS DISTINCT FROM s.actor
                            OR e.action IS DISTINCT FROM s.action OR e.payload IS DISTINCT FROM s.payload), count(*)
    FROM e JOIN public.audit_logs s ON s.id = e.k")" "0|$ROWS" "every entry holds its row's time, actor, action and payload"
expect_eq "$(q -c "SELECT bool_and(k > prev) FROM (SELECT (details->'imported'->>'key')::bigint AS k,
                     lag((details->'imported'->>'key')::bigint) OVER (ORDER BY id) AS prev
                     FROM warden.audit_log WHERE event_type = 'legacy') x WHERE prev IS NOT NULL")" \
  "t" "entries are in the source's order_by order"
# The digest recomputes from the source table, as an auditor would.
q -c "COPY (SELECT to_jsonb(s)::text FROM public.audit_logs s ORDER BY id) TO STDOUT" > "$work/rows"
expected=$(python3 - "$work/rows" <<'PY'
import hashlib, sys
acc = bytes(32)
domain = b"pg_warden/import/v1"
with open(sys.argv[1], "rb") as f:
    for line in f:
        row = line.rstrip(b"\n").replace(b"\\\\", b"\\")
        acc = hashlib.sha256(len(domain).to_bytes(4, "big") + domain + acc + hashlib.sha256(row).digest()).digest()
print(acc.hex())
PY
)
expect_eq "$(q -c "SELECT details->>'rows_sha256' FROM warden.audit_log WHERE event_type = 'audit_import' AND action = 'FINISH'")" \
  "$expected" "the FINISH entry's SHA-256 chain recomputes from the source rows"
expect_eq "$(q -c "SELECT encode(rows_sha256, 'hex') FROM warden.audit_import")" "$expected" "audit_import holds the same digest"
expect_eq "$(q -c "SELECT string_agg(action, ',' ORDER BY id) FROM warden.audit_log WHERE event_type = 'audit_import'")" \
  "START,FINISH" "the import is logged when it starts and when it finishes"
expect_eq "$(q -c "SELECT valid, invalid_entries FROM warden.verify_audit()" 2>/dev/null)" "t|0" "the ledger verifies after the import"
expect_eq "$(sqlstate_of -c "CALL warden.import_audit('public.audit_logs', '$mapping')")" "55000" "a second import of the same table"

# kill -9 of the importing backend: the import resumes after the last committed batch,
# never duplicating.
q <<SQL >/dev/null
CREATE TABLE public.old_audit (seq int PRIMARY KEY, at timestamptz NOT NULL, what text NOT NULL);
INSERT INTO public.old_audit SELECT g, now() - g * interval '1 second', 'event ' || g FROM generate_series(1, 300000) g;
SQL
m2='{"order_by": "seq", "ts": "at", "event_type": {"value": "old"}, "action": "what"}'
"$PG_BIN/psql" -X -q -c "CALL warden.import_audit('public.old_audit', '$m2')" >/dev/null 2>&1 &
wait_until 60 bash -c "[ \"\$(\"$PG_BIN/psql\" -X -A -t -c \"SELECT coalesce(max(rows_imported), 0) >= 30000 FROM warden.audit_import WHERE source = 'public.old_audit'\")\" = t ]" \
  || fail "the second import made no progress"
# kill -9 of the backend running the import: the postmaster resets every session and
# recovers from the WAL.
victim=$(q -c "SELECT pid FROM pg_stat_activity WHERE query LIKE 'CALL warden.import_audit(''public.old_audit''%'")
[ -n "$victim" ] || fail "the importing backend was not found"
kill -9 "$victim"
wait || true
sleep 1
wait_until 60 "$PG_BIN/pg_isready" -q || fail "the server did not recover after kill -9"
wait_until 30 q -c "SELECT 1" >/dev/null 2>&1 || fail "the server accepts no connection after kill -9"
read -r id2 done2 finished2 <<<"$(q -F ' ' -c "SELECT id, rows_imported, finished_at IS NOT NULL FROM warden.audit_import WHERE source = 'public.old_audit'")"
[ "$finished2" = f ] || fail "the import finished before the crash; the test needs a bigger table"
expect_eq "$(q -c "SELECT count(*) FROM warden.audit_log WHERE event_type = 'old'")" "$done2" \
  "after the crash the ledger holds exactly the committed batches' rows"
q -c "CALL warden.import_audit('public.old_audit', '$m2')" 2> "$work/resume" >/dev/null || { cat "$work/resume"; fail "the resumed import failed"; }
grep -q "resuming import $id2" "$work/resume" || fail "no resuming NOTICE"
expect_eq "$(q -c "SELECT count(*), count(DISTINCT details->'imported'->>'key') FROM warden.audit_log WHERE event_type = 'old'")" \
  "300000|300000" "after resuming every row is in the ledger exactly once"
expect_eq "$(q -c "SELECT rows_imported, finished_at IS NOT NULL FROM warden.audit_import WHERE id = $id2")" "300000|t" "the resumed import finished"
expect_eq "$(q -c "SELECT valid FROM warden.verify_audit()" 2>/dev/null)" "t" "the ledger verifies after the resumed import"

# Two CALLs of a new import at once: the second waits, then resumes the same import;
# every row is copied once.
q -c "CREATE TABLE public.twice (k int PRIMARY KEY, at timestamptz NOT NULL); INSERT INTO public.twice SELECT g, now() FROM generate_series(1, 60000) g" >/dev/null
m3='{"order_by": "k", "ts": "at", "event_type": {"value": "twice"}, "action": {"value": "x"}}'
"$PG_BIN/psql" -X -q -c "CALL warden.import_audit('public.twice', '$m3')" >/dev/null 2>&1 & a=$!
"$PG_BIN/psql" -X -q -c "CALL warden.import_audit('public.twice', '$m3')" >/dev/null 2>&1 & b=$!
wait "$a" || true; wait "$b" || true
expect_eq "$(q -c "SELECT count(*), count(DISTINCT details->'imported'->>'key') FROM warden.audit_log WHERE event_type = 'twice'")" \
  "60000|60000" "two concurrent CALLs copy every row once"
expect_eq "$(q -c "SELECT count(*), bool_and(finished_at IS NOT NULL) FROM warden.audit_import WHERE source = 'public.twice'")" "1|t" "as one import"

# Refusals.
q -c "CREATE TABLE public.null_key (k int UNIQUE, at timestamptz); INSERT INTO public.null_key VALUES (NULL, now()), (1, now())" >/dev/null
expect_eq "$(sqlstate_of -c "CALL warden.import_audit('public.null_key', '{\"order_by\": \"k\", \"ts\": \"at\", \"event_type\": {\"value\": \"n\"}, \"action\": {\"value\": \"n\"}}')")" \
  "22023" "an order_by column that may be NULL"
expect_eq "$(sqlstate_of -c "SELECT warden.import_audit_batch(1, 1000000)")" "22023" "a batch larger than the limit"
q -c "CREATE TABLE public.no_key (k int, at timestamptz, a text); INSERT INTO public.no_key VALUES (1, now(), 'x')" >/dev/null
q -c "CREATE TABLE public.forged (k int PRIMARY KEY, at timestamptz, t text); INSERT INTO public.forged VALUES (1, now(), 'audit_redaction')" >/dev/null
expect_eq "$(sqlstate_of -c "CALL warden.import_audit('public.no_key', '{\"order_by\": \"k\", \"ts\": \"at\", \"event_type\": \"a\", \"action\": \"a\"}')")" \
  "22023" "an order_by column without a unique index"
expect_eq "$(sqlstate_of -c "CALL warden.import_audit('public.forged', '{\"order_by\": \"k\", \"ts\": \"at\", \"event_type\": \"t\", \"action\": \"t\"}')")" \
  "42501" "a source row posing as one of pg_warden's own event types"
expect_eq "$(sqlstate_of -c "CALL warden.import_audit('public.forged', '{\"order_by\": \"k\", \"ts\": \"nope\", \"event_type\": \"t\", \"action\": \"t\"}')")" \
  "22023" "a mapping naming a column the source lacks"
expect_eq "$(sqlstate_of -c "CALL warden.import_audit('public.forged', '{\"order_by\": \"k\", \"ts\": \"at\", \"action\": \"t\"}')")" \
  "22023" "a mapping without event_type"
expect_eq "$(sqlstate_of -c "CALL warden.import_audit('warden.audit_log', '{\"order_by\": \"id\", \"ts\": \"ts\", \"event_type\": \"event_type\", \"action\": \"action\"}')")" \
  "22023" "the ledger itself as a source"
q -c "CREATE TABLE public.in_txn (k int PRIMARY KEY, at timestamptz); INSERT INTO public.in_txn SELECT g, now() FROM generate_series(1, 10001) g" >/dev/null
expect_eq "$(sqlstate_of -c "BEGIN" -c "CALL warden.import_audit('public.in_txn', '{\"order_by\": \"k\", \"ts\": \"at\", \"event_type\": {\"value\": \"x\"}, \"action\": {\"value\": \"x\"}}')")" \
  "2D000" "CALL inside a transaction block of more than one batch (it commits batch by batch)"
expect_eq "$(q -c "SELECT count(*) FROM warden.audit_import WHERE source = 'public.in_txn'")" "0" "which leaves nothing behind"
q -c "CREATE ROLE import_user; GRANT warden_user TO import_user; GRANT SELECT ON public.no_key TO import_user" >/dev/null
expect_eq "$(sqlstate_of -c "SET ROLE import_user" -c "CALL warden.import_audit('public.no_key', '{}')")" "42501" "import outside warden_admin"
q -c "DROP ROLE import_user" >/dev/null 2>&1 || true
