# An export verifies offline with warden-verify (the same encoding and chain code as the
# extension), with and without the digest; an edited export and a truncated ledger are
# rejected and the tampered entry is named.
. "$(dirname "$0")/lib.sh"
verify_bin="$(dirname "$0")/../../target/debug/warden-verify"
[ -x "$verify_bin" ] || fail "warden-verify is not built (make verifier)"
k1=000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f
k2=ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
q <<SQL >/dev/null
SELECT warden.create_key('audit', '\x$k1');
SELECT warden.log_event('old', 'NOTE') FROM generate_series(1, 5);
SELECT warden.purge_audit('0 seconds');
SELECT warden.log_event('login', 'LOGIN', 'user', g::text, jsonb_build_object('ip', '192.0.2.' || g, 'n', g * 1.5, 'password', 'p' || g),
                        confidence => 0.5, tenant => 'acme') FROM generate_series(1, 20) g;
SELECT warden.rotate_key('audit', '\x$k2');
CREATE TABLE public.accounts (id int PRIMARY KEY, email text, password text);
SELECT warden.audit_table('public.accounts');
INSERT INTO public.accounts VALUES (1, 'ann@example.com', 'hunter2'), (2, 'bob@example.com', 's3cret');
UPDATE public.accounts SET email = 'é"\\\\ unicode & quotes' WHERE id = 2;
SELECT warden.log_event('after_rotation', 'NOTE', details => '{"nested": {"a": [1, {"b": null}], "c": "x"}}');
SQL
# Documents at the ledger's depth limit (124 levels of arrays or objects; a captured row
# adds its own object) are in the export; one level more is refused with 54001.
arrays() { echo "(repeat('[', $1) || repeat(']', $1))::jsonb"; }
objects() { echo "(repeat('{\"a\": ', $(($1 - 1))) || '{\"leaf\": \"x\"}' || repeat('}', $(($1 - 1))))::jsonb"; }
q <<SQL >/dev/null
SELECT warden.log_event('deep', 'LIMIT', details => $(arrays 124));
SELECT warden.log_event('deep', 'LIMIT', details => $(objects 124), reason => 'objects');
CREATE TABLE public.docs (id int PRIMARY KEY, doc jsonb);
SELECT warden.audit_table('public.docs');
INSERT INTO public.docs VALUES (1, $(arrays 123));
SQL
expect_eq "$(sqlstate_of -c "SELECT warden.log_event('deep', 'OVER', details => $(arrays 125))")" "54001" \
  "log_event of a document one level deeper than the limit"
expect_eq "$(sqlstate_of -c "INSERT INTO public.docs VALUES (2, $(arrays 124))")" "54001" \
  "capture of a row one level deeper than the limit"
q -c "SELECT warden.export_audit()" > "$work/export.json"
q -c "SELECT warden.audit_digest()" > "$work/digest.json"
keys=(--key "audit:1:$k1" --key "audit:2:$k2")
"$verify_bin" --export "$work/export.json" "${keys[@]}" --digest "$work/digest.json" > "$work/ok.txt" \
  || { cat "$work/ok.txt"; fail "a genuine export did not verify offline"; }
# Secrets from the environment, not argv.
WARDEN_K1=$k1 WARDEN_K2=$k2 "$verify_bin" --export "$work/export.json" --key-env audit:1:WARDEN_K1 --key-env audit:2:WARDEN_K2 >/dev/null \
  || fail "--key-env did not verify"
# Wrong key: rejected.
if "$verify_bin" --export "$work/export.json" --key "audit:1:$k2" --key "audit:2:$k1" >/dev/null; then fail "wrong keys accepted"; fi
# Edited export: the entry is named.
sed 's/"tenant": "acme"/"tenant": "evil"/g' "$work/export.json" > "$work/edited.json"
set +e; "$verify_bin" --export "$work/edited.json" "${keys[@]}" > "$work/edited.txt"; rc=$?; set -e
expect_eq "$rc" "1" "edited export exit status"
grep -q "content modified" "$work/edited.txt" || { cat "$work/edited.txt"; fail "edited export: no content-modified issue"; }
expect_eq "$(grep -c "content modified" "$work/edited.txt")" "20" "every edited entry is named"
expect_eq "$(python3 -c 'import json, sys; d = json.load(open(sys.argv[1])); print(len(d["checkpoints"]) >= 1 and all("signature" in e for e in d["entries"]))' "$work/export.json")" \
  "True" "export carries the purge checkpoint and every entry's chain material"
expect_eq "$(python3 -c '
import json, sys
def depth(v):
    return 1 + max([depth(x) for x in (v.values() if isinstance(v, dict) else v)] or [0]) if isinstance(v, (dict, list)) else 0
d = json.load(open(sys.argv[1]))
deep = [e for e in d["entries"] if e["event_type"] == "deep" or e["resource_type"] == "public.docs"]
print(len(deep), sorted(depth(e.get("details") or e.get("after_state")) for e in deep), depth(d))' "$work/export.json")" \
  "3 [124, 124, 124] 127" "limit-depth documents exported whole, the export 127 levels deep"
# Malformed export: a usage/input error, never a crash.
head -c 200 "$work/export.json" > "$work/cut.json"
set +e; "$verify_bin" --export "$work/cut.json" "${keys[@]}" >/dev/null 2>&1; rc=$?; set -e
expect_eq "$rc" "2" "truncated export exit status"
# A time window verifies on its own: its chains start from anchors signed at export.
q -c "SELECT warden.export_audit((SELECT ts FROM warden.audit_log ORDER BY chain_pos OFFSET 5 LIMIT 1), 'infinity')" > "$work/window.json"
"$verify_bin" --export "$work/window.json" "${keys[@]}" > "$work/window.txt" \
  || { cat "$work/window.txt"; fail "an exported time window did not verify offline"; }
# In-database export equals what the extension verifies.
expect_eq "$(q -c "SELECT valid FROM warden.verify_audit()")" "t" "in-database verification"
