# A session that loses its chain lease (pg_advisory_unlock_all(), or DISCARD ALL, which
# every connection pooler sends on reset) must not go on appending to a chain another
# session may now lease: no unique violation, no poisoned session, no fork; and a
# transaction that lost its lease with entries on the chain cannot commit them.
. "$(dirname "$0")/lib.sh"
q -c "SELECT warden.create_key('audit')" >/dev/null
work=$(mktemp -d)
# Session A: a long-lived connection fed through a fifo; every command ends with a mark.
mkfifo "$work/a.in"
PGOPTIONS="-c warden.audit_chains=1" "$PG_BIN/psql" -X -q -A -t <"$work/a.in" >"$work/a.out" 2>&1 &
exec 3>"$work/a.in"
trap 'exec 3>&-; rm -rf "$work"' EXIT
marks=0
a() {  # runs SQL in session A and waits for it (or for it to block, with nowait)
  marks=$((marks + 1))
  printf '%s\n\\echo MARK %s\n' "$1" "$marks" >&3
  [ "${2:-}" = nowait ] && return 0
  for _ in $(seq 100); do grep -q "^MARK $marks$" "$work/a.out" && return 0; sleep 0.1; done
  fail "session A did not finish: $1"
}
b() { PGOPTIONS="-c warden.audit_chains=1" q -c "$1" 2>&1; }

# 1. A leases chain 1, then drops every advisory lock, as DISCARD ALL would.
a "SELECT warden.log_event('lease', 'A1');"
a "DISCARD ALL;"
# B now leases chain 1 (the only preferred one) and appends.
b "SELECT warden.log_event('lease', 'B1')" >/dev/null || fail "B could not log"
# A must notice, lease again (chain 1 is free once B is gone) and re-read the head
# instead of writing the position B took.
a "SELECT warden.log_event('lease', 'A2');"
a "SELECT warden.log_event('lease', 'A3');"
grep -q ERROR "$work/a.out" && { cat "$work/a.out"; fail "session A failed after losing its lease"; }
out=$(q -c "SELECT string_agg(action || '@' || chain_id || ':' || chain_pos, ' ' ORDER BY id) FROM warden.audit_log WHERE event_type = 'lease'")
expect_eq "$out" "A1@1:1 B1@1:2 A2@1:3 A3@1:4" "entries after the lease was lost"

# 2. A loses its lease inside a transaction that holds entries on its chain, and B takes
# the chain: A's commit must fail (its entries would fork B's), and B must not be poisoned.
a "BEGIN;"
a "SELECT warden.log_event('lease', 'A4');"
a "SELECT pg_advisory_unlock_all();"
# B leases chain 1 (A's, now free), and blocks on A's uncommitted position until A ends.
(PGOPTIONS="-c warden.audit_chains=1" q -c "SELECT warden.log_event('lease', 'B2'); SELECT warden.log_event('lease', 'B3')" >"$work/b.out" 2>&1) &
bpid=$!
sleep 1
a "COMMIT;"
wait "$bpid" || { cat "$work/b.out"; fail "B failed while A lost its lease"; }
grep -q "lost its audit chain lease" "$work/a.out" || { cat "$work/a.out"; fail "A committed entries on a chain it no longer leased"; }
a "SELECT warden.log_event('lease', 'A5');"
out=$(q -c "SELECT string_agg(action, ' ' ORDER BY id) FROM warden.audit_log WHERE event_type = 'lease' AND action IN ('A4', 'B2', 'B3', 'A5')")
expect_eq "$out" "B2 B3 A5" "entries after a lost lease at commit"
out=$(q -c "SELECT valid, total_entries FROM warden.verify_audit()")
expect_eq "$out" "t|7" "verification"
exit 0
