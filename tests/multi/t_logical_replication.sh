# Logical replication of the ledger from a publisher cluster (wal_level = logical) to the
# test database as subscriber: the initial copy and every later change arrive row for row
# as written on the publisher (ids, ts, session facts, chain material), before the
# subscriber even has the audit key; with the same key the copy verifies against the
# publisher's digests, and the subscriber's digest verifies on the publisher. A purge on
# the publisher is mirrored and still verifies. Local writes to the subscribed ledger are
# refused with 55000 and replication flows on. Audited user tables replicated with their
# capture triggers (schema copied by pg_dump -s) add nothing of the subscriber's own: the
# publisher's ledger already holds their changes. After DROP SUBSCRIPTION the former
# subscriber logs on without colliding with a replicated id.
. "$(dirname "$0")/lib.sh"
export PGTZ=UTC
k1=000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f
pub_port=$(extra_port 1)
# DROP SUBSCRIPTION drops the publisher's slot, so it runs alone (not in a transaction
# block); if that fails, the subscription is detached from its slot first.
drop_subscription() {
  PGOPTIONS="-c client_min_messages=warning" q -c "DROP SUBSCRIPTION IF EXISTS warden_sub" >/dev/null 2>&1 \
    || q -c "ALTER SUBSCRIPTION warden_sub DISABLE" -c "ALTER SUBSCRIPTION warden_sub SET (slot_name = NONE)" \
      -c "DROP SUBSCRIPTION warden_sub" >/dev/null 2>&1
}
cleanup() {
  drop_subscription
  extra_cluster_remove logical-pub
}
trap cleanup EXIT
extra_cluster_init logical-pub "$pub_port" "wal_level = logical"
"$PG_BIN/createdb" -p "$pub_port" pubdb
pub() { PGAPPNAME=publisher-app q -p "$pub_port" -d pubdb "$@"; }
pub_ledger() { ledger_text -p "$pub_port" -d pubdb; }
in_sync() { [ "$(pub_ledger)" = "$(ledger_text)" ] && [ "$(checkpoints_text -p "$pub_port" -d pubdb)" = "$(checkpoints_text)" ]; }
wait_for_sync() {  # what is being waited for
  if ! wait_until 30 in_sync; then
    diff <(pub_ledger) <(ledger_text) | head -6 | cut -c1-200 >&2
    grep -E "logical replication|ERROR" "$WARDEN_LOG" | tail -5 >&2
    fail "the subscriber's ledger does not match the publisher's: $1"
  fi
}
total() { q "$@" -c "SELECT count(*) FROM warden.audit_log"; }

pub -c "CREATE EXTENSION pg_warden; SELECT warden.create_key('audit', '\\x$k1');
        CREATE TABLE public.accounts (id int PRIMARY KEY, owner text, password text);
        SELECT warden.audit_table('public.accounts');
        INSERT INTO public.accounts SELECT g, 'owner ' || g, 'pw' || g FROM generate_series(1, 10) g;
        UPDATE public.accounts SET owner = 'Ünïcødé' WHERE id = 1;
        SELECT warden.log_event('before_subscription', 'A', details => jsonb_build_object('n', g)) FROM generate_series(1, 10) g;
        CREATE PUBLICATION warden_ledger FOR TABLE warden.audit_log, warden.audit_checkpoint;" >/dev/null
pub -c "SELECT warden.log_event('second_chain', 'B', confidence => 0.25); SELECT pg_sleep(1);
        SELECT warden.log_event('second_chain', 'B')" >/dev/null &
other=$!
sleep 0.3
pub -c "SELECT warden.log_event('first_chain', 'C', 'doc', g::text) FROM generate_series(1, 5) g" >/dev/null
wait "$other" || fail "the publisher's second session failed"
expect_eq "$(pub -c "SELECT count(DISTINCT chain_id) >= 2 FROM warden.audit_log")" "t" "the publisher writes several chains"

# The initial copy (tablesync), into a subscriber that has no audit key yet.
q -c "CREATE SUBSCRIPTION warden_sub CONNECTION 'host=$WARDEN_SOCKDIR port=$pub_port dbname=pubdb user=postgres'
      PUBLICATION warden_ledger" >/dev/null 2>&1 || fail "CREATE SUBSCRIPTION failed"
wait_for_sync "initial copy"
# Changes streamed after the copy (apply worker).
pub -c "SELECT warden.log_event('streamed', 'D', details => '{\"password\": \"x\"}') FROM generate_series(1, 10) g;
        UPDATE public.accounts SET password = 'new' WHERE id <= 3;" >/dev/null
wait_for_sync "streamed changes"

# The same key on the subscriber: the copy verifies against the publisher's digest.
q -c "SELECT warden.create_key('audit', '\\x$k1')" >/dev/null
digest=$(pub -c "SELECT warden.audit_digest()")
n=$(total -p "$pub_port" -d pubdb)
expect_eq "$(q -c "SELECT valid, total_entries FROM warden.verify_audit()")" "t|$n" "the subscriber's copy verifies"
expect_eq "$(q -c "SELECT valid, total_entries FROM warden.verify_audit('$digest', full => true)")" "t|$n" "the copy verifies against the publisher's digest"
expect_eq "$(pub -c "SELECT valid FROM warden.verify_audit('$(q -c "SELECT warden.audit_digest()")', full => true)")" "t" \
  "the subscriber's digest verifies on the publisher"

# Local writes to the subscribed ledger are refused, loudly, and replication goes on.
expect_eq "$(sqlstate_of -c "SELECT warden.log_event('local', 'NOTE')")" "55000" "log_event on the subscriber"
expect_eq "$(sqlstate_of -c "INSERT INTO warden.audit_log (event_type, action) VALUES ('local', 'NOTE')")" "55000" \
  "a superuser's INSERT on the subscriber"
q -c "CREATE TABLE public.local_only (id int PRIMARY KEY)" >/dev/null
expect_eq "$(sqlstate_of -c "SELECT warden.audit_table('public.local_only')")" "55000" "audit_table on the subscriber"
pub -c "SELECT warden.log_event('after_refusals', 'E') FROM generate_series(1, 3)" >/dev/null
wait_for_sync "changes after refused local writes"

# Retention on the publisher: the purge's deletes and checkpoints are mirrored, and the
# subscriber still verifies against the digests taken before and after.
pub -c "SELECT pg_sleep(1.1); SELECT warden.purge_audit('1 second')" >/dev/null
expect_eq "$(pub -c "SELECT count(*) > 0 FROM warden.audit_checkpoint")" "t" "the publisher purged behind checkpoints"
wait_for_sync "a purge"
n=$(total -p "$pub_port" -d pubdb)
expect_eq "$(q -c "SELECT valid, total_entries FROM warden.verify_audit('$digest', full => true)")" "t|$n" \
  "after the purge, the copy verifies against the digest taken before it"
expect_eq "$(q -c "SELECT valid, total_entries FROM warden.verify_audit('$(pub -c "SELECT warden.audit_digest()")', full => true)")" "t|$n" \
  "after the purge, the copy verifies against the publisher's new digest"

# An audited user table replicated too, its schema (capture triggers included) copied
# with pg_dump -s as a DBA sets up a subscriber: its rows arrive, its changes are in the
# publisher's ledger already, and the subscriber records nothing of its own.
"$PG_BIN/pg_dump" -p "$pub_port" -d pubdb -s -t public.accounts | "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 >/dev/null \
  || fail "copying the schema of public.accounts failed"
expect_eq "$(q -c "SELECT count(*) FROM pg_trigger WHERE tgrelid = 'public.accounts'::regclass AND tgname LIKE 'warden_audit_%'")" "2" \
  "the subscriber's copy of public.accounts has the capture triggers"
pub -c "ALTER PUBLICATION warden_ledger ADD TABLE public.accounts" >/dev/null
q -c "ALTER SUBSCRIPTION warden_sub REFRESH PUBLICATION" >/dev/null
pub -c "INSERT INTO public.accounts VALUES (11, 'owner 11', 'pw'); UPDATE public.accounts SET owner = 'renamed' WHERE id = 2;
        DELETE FROM public.accounts WHERE id = 3;" >/dev/null
accounts_in_sync() {
  [ "$(q -p "$pub_port" -d pubdb -c "COPY (SELECT * FROM public.accounts ORDER BY id) TO STDOUT")" = \
    "$(q -c "COPY (SELECT * FROM public.accounts ORDER BY id) TO STDOUT")" ]
}
if ! wait_until 30 accounts_in_sync; then
  grep -E "logical replication|ERROR" "$WARDEN_LOG" | tail -5 >&2
  fail "public.accounts did not replicate (the subscriber's capture triggers on a subscribed ledger)"
fi
wait_for_sync "an audited user table replicated beside the ledger"
expect_eq "$(q -c "SELECT valid, total_entries FROM warden.verify_audit('$(pub -c "SELECT warden.audit_digest()")', full => true)")" \
  "t|$(total -p "$pub_port" -d pubdb)" "the copy verifies after the user table's changes"

# Cut over: without the subscription the former subscriber logs on, past every id it
# received, and its ledger verifies.
PGOPTIONS="-c client_min_messages=warning" q -c "DROP SUBSCRIPTION warden_sub" >/dev/null || fail "DROP SUBSCRIPTION failed"
max_id=$(q -c "SELECT max(id) FROM warden.audit_log")
expect_eq "$(q -c "SELECT warden.log_event('after_cutover', 'NOTE') > $max_id")" "t" "the first local entry after the cutover"
expect_eq "$(q -c "SELECT valid FROM warden.verify_audit()")" "t" "the former subscriber verifies after its own entry"
echo "logical replication: initial copy, streamed changes, purge, audited user table; local writes refused with 55000; cutover"
