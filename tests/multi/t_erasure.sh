# Erasure of a subject: after erase_subject commits, VACUUM (INDEX_CLEANUP ON) leaves no
# heap tuple and no index entry holding the erased values (pageinspect reads them before
# it, so the check can fail), VACUUM FULL no byte of them in any page; the ledger still
# verifies. Exports holding redacted entries verify offline with warden-verify, the whole
# ledger and a window whose redaction records came after it, and an export in which a
# redacted value was written back is rejected.
. "$(dirname "$0")/lib.sh"
verify_bin="$(dirname "$0")/../../target/debug/warden-verify"
[ -x "$verify_bin" ] || fail "warden-verify is not built (make verifier)"
k1=000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
q <<SQL >/dev/null
CREATE EXTENSION pageinspect;
SELECT warden.create_key('audit', '\x$k1');
CREATE TABLE public.customers (id int PRIMARY KEY, email text, city text);
SELECT warden.audit_table('public.customers');
-- A site that erases by actor at scale adds its own B-tree (the DDL guard allows it).
CREATE INDEX audit_log_actor ON warden.audit_log (actor);
INSERT INTO public.customers SELECT g, 'user' || g || '@example.com', 'Lyon' FROM generate_series(1, 300) g;
UPDATE public.customers SET city = 'Nice' WHERE id = 77;
SELECT warden.log_event('support', 'CALL', 'customer', '77', '{"mail": "user77@example.com"}',
                        actor => 'erin.subject@example.com') FROM generate_series(1, 5);
-- Pages of rel (every block) holding needle anywhere, dead bytes included.
CREATE FUNCTION public.raw_pages(rel regclass, needle text) RETURNS bigint LANGUAGE sql AS \$\$
  SELECT count(*) FROM generate_series(0, (pg_relation_size(rel) / 8192)::int - 1) b
   WHERE position(convert_to(needle, 'UTF8') in get_raw_page(rel::text, b)) > 0 \$\$;
-- Heap tuples (live or dead, while their line pointer holds data) holding needle.
CREATE FUNCTION public.heap_tuples(needle text) RETURNS bigint LANGUAGE sql AS \$\$
  SELECT count(*) FROM generate_series(0, (pg_relation_size('warden.audit_log') / 8192)::int - 1) b,
       heap_page_items(get_raw_page('warden.audit_log', b)) h
   WHERE h.t_data IS NOT NULL AND position(convert_to(needle, 'UTF8') in h.t_data) > 0 \$\$;
-- Index entries of the actor B-tree holding needle.
CREATE FUNCTION public.index_entries(needle text) RETURNS bigint LANGUAGE sql AS \$\$
  SELECT count(*) FROM generate_series(1, (pg_relation_size('warden.audit_log_actor') / 8192)::int - 1) b,
       bt_page_items('warden.audit_log_actor', b) i
   WHERE i.data IS NOT NULL
     AND position(convert_to(needle, 'UTF8') in decode(replace(i.data, ' ', ''), 'hex')) > 0 \$\$;
SQL
# The Merkle tree covers the entries before the erasure: their leaves are their hashes,
# which redaction keeps.
q -c "SELECT warden.advance_audit_tree()" >/dev/null
q -c "SELECT pg_catalog.now()" > "$work/window_end"
sleep 1
expect_eq "$(q -c "SELECT heap_tuples('user77@example.com') > 0 AND index_entries('erin.subject') > 0")" "t" \
  "before the erasure, the heap and the actor index hold the values"

# The erasure: the customer's captured rows, and everything the actor did.
expect_eq "$(q -c "SELECT warden.erase_subject('{\"resource_type\": \"public.customers\", \"resource_id\": \"77\"}', 'GDPR request #1')")" \
  "2" "entries of customer 77 erased"
expect_eq "$(q -c "SELECT warden.erase_subject('{\"actor\": \"erin.subject@example.com\"}', 'GDPR request #2')")" \
  "5" "entries of the actor erased"
expect_eq "$(q -c "SELECT count(*) FROM warden.audit_log WHERE actor = 'erin.subject@example.com' OR after_state::text LIKE '%user77@%' OR details::text LIKE '%user77@%'")" \
  "0" "no query sees the erased values"
expect_eq "$(q -c "SELECT index_entries('erin.subject') > 0")" "t" \
  "before VACUUM, the actor index still holds entries for the old row versions"

q -c "VACUUM (INDEX_CLEANUP ON) warden.audit_log"
expect_eq "$(q -c "SELECT heap_tuples('user77@example.com'), heap_tuples('erin.subject'), index_entries('erin.subject')")" \
  "0|0|0" "after VACUUM (INDEX_CLEANUP ON), no heap tuple or index entry holds an erased value"
q -c "VACUUM FULL warden.audit_log"
pages=$(q -c "SELECT sum(raw_pages(c.oid, n)) FROM pg_class c, (VALUES ('user77@example.com'), ('erin.subject')) v(n)
               WHERE c.oid = 'warden.audit_log'::regclass
                  OR c.oid IN (SELECT indexrelid FROM pg_index WHERE indrelid = 'warden.audit_log'::regclass)")
expect_eq "$pages" "0" "after VACUUM FULL, no page of the ledger or its indexes holds a byte of the erased values"
expect_eq "$(q -c "SELECT valid, invalid_entries FROM warden.verify_audit()" 2>/dev/null)" "t|0" \
  "the ledger verifies after erasure and VACUUM FULL"
expect_eq "$(q -c "SELECT redacted_entries FROM warden.audit_verification ORDER BY id DESC LIMIT 1")" "7" \
  "the verification counts the redacted entries"

# Offline: the whole ledger, and the window before the erasure (its records are later).
keys=(--key "audit:1:$k1")
# An inclusion proof of a redacted entry, against the tree head signed before its
# erasure, still verifies: the leaf is the entry hash, unchanged.
q -c "SELECT warden.audit_proof((SELECT min(id) FROM warden.audit_log WHERE event_type = 'support' AND actor IS NULL))" > "$work/proof.json"
expect_eq "$(python3 -c 'import json, sys; d = json.load(open(sys.argv[1])); print("field_seals" in d["entry"], d["entry"].get("actor"))' "$work/proof.json")" \
  "True None" "the proof carries the redacted entry with its seals"
"$verify_bin" --proof "$work/proof.json" "${keys[@]}" > "$work/proof.txt" \
  || { cat "$work/proof.txt"; fail "the inclusion proof of a redacted entry did not verify offline"; }
q -c "SELECT warden.export_audit()" > "$work/all.json"
"$verify_bin" --export "$work/all.json" "${keys[@]}" > "$work/all.txt" \
  || { cat "$work/all.txt"; fail "an export with redacted entries did not verify offline"; }
q -c "SELECT warden.export_audit('-infinity', '$(cat "$work/window_end")')" > "$work/window.json"
expect_eq "$(python3 -c 'import json, sys; d = json.load(open(sys.argv[1])); print(d["format"], len(d.get("redaction_records", [])))' "$work/window.json")" \
  "pg_warden-audit-export-v2 2" "the window carries the two later redaction records"
"$verify_bin" --export "$work/window.json" "${keys[@]}" > "$work/window.txt" \
  || { cat "$work/window.txt"; fail "a window with redacted entries and later records did not verify offline"; }
grep -qi "redacted" "$work/window.txt" || { cat "$work/window.txt"; fail "warden-verify does not report the redacted entries"; }
# Without its records the window's redactions are unexplained.
python3 - "$work/window.json" "$work/norecords.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1])); d.pop("redaction_records")
json.dump(d, open(sys.argv[2], "w"))
PY
set +e; "$verify_bin" --export "$work/norecords.json" "${keys[@]}" > "$work/norecords.txt"; rc=$?; set -e
expect_eq "$rc" "1" "a window stripped of its redaction records"
grep -q "redacted without a redaction record" "$work/norecords.txt" || { cat "$work/norecords.txt"; fail "no uncovered-redaction issue"; }
# A redacted value written back into the export: rejected, the entry named.
python3 - "$work/all.json" "$work/writtenback.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
for e in d["entries"]:
    if e.get("event_type") == "support" and e.get("actor") is None:
        e["actor"] = "erin.subject@example.com"
        break
json.dump(d, open(sys.argv[2], "w"))
PY
set +e; "$verify_bin" --export "$work/writtenback.json" "${keys[@]}" > "$work/writtenback.txt"; rc=$?; set -e
expect_eq "$rc" "1" "an export with a redacted value written back"
grep -q "marked redacted but holding a value" "$work/writtenback.txt" || { cat "$work/writtenback.txt"; fail "no written-back issue"; }
