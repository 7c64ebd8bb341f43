# Retention per tenant: entries of two tenants and of none interleaved on the same chains,
# policies of 0 seconds and 1 year; apply_retention removes the due entries at the start
# of each chain behind checkpoints and redacts the due ones behind a kept entry; the
# ledger verifies afterwards, fully and from a digest taken before; a second run finds
# nothing new; once every entry is due, whole chains go. Refusals for bad arguments and
# for roles outside warden_admin.
. "$(dirname "$0")/lib.sh"
q -c "SELECT warden.create_key('audit', '\x000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f')" >/dev/null
# DDL capture on: its setting is read from an audit_control entry, which neither
# retention nor purge nor erasure may take away.
q -c "SELECT warden.audit_ddl(true)" >/dev/null
# Three sessions, so three chains; on each: acme, acme, globex, then acme/globex/none.
for s in 1 2 3; do
  q <<SQL >/dev/null &
SELECT warden.log_event('t', 'A', actor => 'a-user-$s', tenant => 'acme', details => '{"who": "acme person"}');
SELECT warden.log_event('t', 'A', actor => 'a-user-$s', tenant => 'acme', details => '{"who": "acme person"}');
SELECT warden.log_event('t', 'G', actor => 'g-user-$s', tenant => 'globex');
SELECT warden.log_event('t', CASE g % 3 WHEN 0 THEN 'A' WHEN 1 THEN 'G' ELSE 'N' END,
                        actor => 'x-user-$s', tenant => CASE g % 3 WHEN 0 THEN 'acme' WHEN 1 THEN 'globex' END,
                        details => '{"who": "someone"}')
  FROM generate_series(1, 30) g;
SELECT pg_sleep(0.5);
SQL
done
wait
chains=$(q -c "SELECT count(DISTINCT chain_id) FROM warden.audit_log WHERE event_type = 't'")
[ "$chains" -ge 2 ] || fail "expected entries on several chains, got $chains"
digest=$(q -c "SELECT warden.audit_digest()")
q <<'SQL' >/dev/null
SELECT warden.set_retention('acme', '0 seconds');
SELECT warden.set_retention('globex', '1 year');
SELECT warden.set_retention(NULL, '0 seconds');
SQL
expect_eq "$(q -c "SELECT count(*) FROM warden.audit_log WHERE event_type = 'audit_control' AND action = 'SET_RETENTION'")" \
  "3" "each policy set is an audit_control entry"
expect_eq "$(sqlstate_of -c "SELECT warden.log_event('audit_retention', 'APPLY')")" "42501" "a forged retention run"
before_acme=$(q -c "SELECT count(*) FROM warden.audit_log WHERE tenant = 'acme'")
# What must go: on each chain, everything before its first globex entry or the entry
# DDL capture reads its setting from (a whole chain without either: the key's creation
# and the policy changes are entries without a tenant).
leading=$(q -c "SELECT count(*) FROM warden.audit_log a
                 WHERE a.chain_pos < (SELECT coalesce(min(b.chain_pos) FILTER (WHERE b.tenant = 'globex'
                                                 OR b.id = (SELECT max(entry_id) FROM warden.audit_ddl_changes)), max(b.chain_pos) + 1)
                                        FROM warden.audit_log b WHERE b.chain_id = a.chain_id)")
all_chains=$(q -c "SELECT count(DISTINCT a.chain_id) FROM warden.audit_log a
                 WHERE a.chain_pos < (SELECT coalesce(min(b.chain_pos) FILTER (WHERE b.tenant = 'globex'
                                                 OR b.id = (SELECT max(entry_id) FROM warden.audit_ddl_changes)), max(b.chain_pos) + 1)
                                        FROM warden.audit_log b WHERE b.chain_id = a.chain_id)")
run=$(q -c "SELECT warden.apply_retention()")
deleted=$(echo "$run" | python3 -c 'import json,sys; print(json.load(sys.stdin)["deleted"])')
redacted=$(echo "$run" | python3 -c 'import json,sys; print(json.load(sys.stdin)["redacted"])')
expect_eq "$deleted" "$leading" "each chain's leading due entries removed behind a checkpoint"
expect_eq "$(q -c "SELECT count(*) FROM warden.audit_checkpoint")" "$all_chains" "a checkpoint per chain that lost entries"
# Every acme entry and every entry without a tenant left is redacted; globex untouched.
expect_eq "$(q -c "SELECT count(*) FROM warden.audit_log WHERE event_type = 't' AND (tenant = 'acme' OR tenant IS NULL) AND (actor IS NOT NULL OR details IS NOT NULL)")" \
  "0" "due entries behind a kept one are redacted"
expect_eq "$(q -c "SELECT count(*) FROM warden.audit_log WHERE tenant = 'globex' AND actor IS NULL")" "0" "globex entries kept whole"
expect_eq "$(q -c "SELECT count(*) FROM warden.audit_log WHERE event_type = 't' AND (tenant = 'acme' OR tenant IS NULL)")" \
  "$redacted" "the run reports what it redacted"
[ $((before_acme - 2 * chains)) -le "$redacted" ] || fail "fewer redacted ($redacted) than acme entries left"
expect_eq "$(q -c "SELECT count(*) FROM warden.audit_log WHERE event_type = 'audit_retention'")" "1" "the run is logged"
expect_eq "$(q -c "SELECT valid, invalid_entries FROM warden.verify_audit()" 2>/dev/null)" "t|0" "the ledger verifies after retention"
expect_eq "$(q -c "SELECT valid FROM warden.verify_audit('$digest', full => true)" 2>/dev/null)" "t" \
  "a digest taken before retention still verifies in full"
expect_eq "$(q -c "SELECT valid FROM warden.verify_audit('$digest')" 2>/dev/null)" "t" \
  "and incrementally"
# A second run: of the entries before it only what the first run wrote (its log, without
# a tenant, so due at once) is newly due (audit-control entries are never redacted); its
# redaction records stay while the entries
# they vouch for do.
fresh=$(q -c "SELECT count(*) FROM warden.audit_log WHERE tenant IS NULL AND actor IS NOT NULL AND event_type NOT IN ('audit_redaction', 'audit_control')")
records=$(q -c "SELECT string_agg(id::text, ',' ORDER BY id) FROM warden.audit_log WHERE event_type = 'audit_redaction'")
[ -n "$records" ] || fail "the first run wrote no redaction record"
t_before=$(q -c "SELECT count(*), count(actor) FROM warden.audit_log WHERE event_type = 't'")
run=$(q -c "SELECT warden.apply_retention()")
expect_eq "$(echo "$run" | python3 -c 'import json,sys; d = json.load(sys.stdin); print(d["deleted"] + d["redacted"])')" \
  "$fresh" "a second run handles only what became due since the first"
expect_eq "$(q -c "SELECT count(*), count(actor) FROM warden.audit_log WHERE event_type = 't'")" "$t_before" \
  "a second run leaves the entries the first handled as they are"
expect_eq "$(q -c "SELECT string_agg(id::text, ',' ORDER BY id) FROM warden.audit_log WHERE event_type = 'audit_redaction' AND id <= ${records##*,}")" "$records" \
  "redaction records of entries still held are kept"
expect_eq "$(q -c "SELECT valid FROM warden.verify_audit()" 2>/dev/null)" "t" "the ledger verifies after the second run"
# globex due too: everything written before the run goes, chain by chain.
q -c "SELECT warden.set_retention('globex', '0 seconds')" >/dev/null
q -c "SELECT warden.apply_retention()" >/dev/null
expect_eq "$(q -c "SELECT count(*) FROM warden.audit_log WHERE event_type = 't'")" "0" "every due entry removed"
expect_eq "$(q -c "SELECT valid, invalid_entries FROM warden.verify_audit()" 2>/dev/null)" "t|0" "the ledger verifies after removing whole chains"
expect_eq "$(q -c "SELECT warden.audit_ddl_in_force()")" "t" "DDL capture is still on after every due entry went"
q -c "SELECT warden.purge_audit('0 seconds')" >/dev/null
expect_eq "$(q -c "SELECT warden.audit_ddl_in_force()")" "t" "and after purge_audit"
q -c "SELECT warden.erase_subject(jsonb_build_object('session_user_name', session_user), 'erase the DBA')" >/dev/null
expect_eq "$(q -c "SELECT warden.audit_ddl_in_force()")" "t" "and after erasing the role that switched it on"
expect_eq "$(q -c "SELECT count(*) FROM warden.audit_log WHERE event_type = 'audit_control' AND session_user_name IS NULL")" "0" \
  "audit-control entries are never redacted"
# A keep that passes a sign check but puts the cutoff ahead, or beyond any time, is refused.
expect_eq "$(sqlstate_of -c "SELECT warden.set_retention('acme', '1 mon -31 days')")" "22023" "a keep whose cutoff lies ahead"
expect_eq "$(sqlstate_of -c "SELECT warden.set_retention('acme', '300000 years')")" "22023" "a keep beyond any time"
# Policies: listed, dropped by a NULL keep; each change is an audit_control entry.
expect_eq "$(q -c "SELECT string_agg(coalesce(tenant, '(none)') || '=' || keep, ',' ORDER BY tenant NULLS FIRST) FROM warden.audit_retention")" \
  "(none)=00:00:00,acme=00:00:00,globex=00:00:00" "the policies"
q -c "SELECT warden.set_retention('acme', NULL)" >/dev/null
expect_eq "$(q -c "SELECT count(*) FROM warden.audit_retention WHERE tenant = 'acme'")" "0" "a NULL keep drops the policy"
expect_eq "$(q -c "SELECT action || ':' || coalesce(resource_id, '(none)') FROM warden.audit_log WHERE event_type = 'audit_control' AND resource_type = 'audit_retention' ORDER BY id DESC LIMIT 1")" \
  "DROP_RETENTION:acme" "each policy change is an entry"
# Refusals.
expect_eq "$(sqlstate_of -c "SELECT warden.set_retention('', '1 day')")" "22023" "empty tenant"
expect_eq "$(sqlstate_of -c "SELECT warden.set_retention('acme', '-1 day')")" "22023" "negative keep"
q -c "CREATE ROLE retention_user; GRANT warden_user TO retention_user" >/dev/null
expect_eq "$(sqlstate_of -c "SET ROLE retention_user" -c "SELECT warden.apply_retention()")" "42501" "apply_retention outside warden_admin"
expect_eq "$(sqlstate_of -c "SET ROLE retention_user" -c "SELECT warden.set_retention('acme', '1 day')")" "42501" "set_retention outside warden_admin"
expect_eq "$(sqlstate_of -c "SET default_transaction_read_only = on" -c "SELECT warden.apply_retention()")" "25006" "apply_retention read-only"
q -c "DROP ROLE retention_user" >/dev/null
