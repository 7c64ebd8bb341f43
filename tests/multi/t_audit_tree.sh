# The ledger's Merkle tree under concurrent writers: while pgbench clients log (with
# rollbacks, savepoints and transactions that hold an id for a while), a key officer
# advances the tree every 0.2 s. Afterwards the latest signed head is the RFC 9162 root,
# recomputed here in Python, of every committed entry in id order, and every head is the
# root of the first tree_size of them, holding exactly the entries up to its last_id
# (nothing skipped by the horizon, nothing rewritten). Inclusion and consistency proofs
# verify offline with warden-verify and are rejected once tampered with; they survive a
# purge and a key rotation; a streaming standby serves them and refuses to advance the
# tree (25006); warden_user alone may neither advance nor prove (42501).
. "$(dirname "$0")/lib.sh"
verify_bin="$(dirname "$0")/../../target/debug/warden-verify"
[ -x "$verify_bin" ] || fail "warden-verify is not built (make verifier)"
k1=000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f
k2=ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100
keys=(--key "audit:1:$k1" --key "audit:2:$k2")
officer=multi_tree_officer
user=multi_tree_user
port=$(extra_port 1)
work=$(mktemp -d)
loop_pid=
cleanup() {
  [ -z "$loop_pid" ] || kill "$loop_pid" 2>/dev/null
  extra_cluster_remove tree_standby
  rm -rf "$work"
  q -c "SET client_min_messages = warning; DROP OWNED BY $officer, $user; DROP ROLE $officer, $user" >/dev/null
}
q -c "SET client_min_messages = warning; DROP ROLE IF EXISTS $officer; DROP ROLE IF EXISTS $user;
      CREATE ROLE $officer LOGIN IN ROLE warden_admin; CREATE ROLE $user LOGIN IN ROLE warden_user" >/dev/null
trap cleanup EXIT
q -c "SELECT warden.create_key('audit', '\\x$k1')" >/dev/null

# The reference: RFC 9162 §2.1.1 from the definition, and an incremental form of it for
# every head (cross-checked against the definition).
cat > "$work/merkle.py" <<'PY'
import hashlib, sys

def leaf(entry_hash):
    return hashlib.sha256(b"\x00" + entry_hash).digest()

def node(left, right):
    return hashlib.sha256(b"\x01" + left + right).digest()

def mth(leaves):
    n = len(leaves)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return leaves[0]
    k = 1
    while k * 2 < n:
        k *= 2
    return node(mth(leaves[:k]), mth(leaves[k:]))

def read_entries(paths):
    """id -> entry_hash from "id<TAB>hex" files (a purge removes rows; earlier copies keep them)."""
    entries = {}
    for path in paths:
        for line in open(path):
            i, h = line.split()
            entries[int(i)] = bytes.fromhex(h)
    return sorted(entries.items())

def check(heads_path, tree_ids_path, entry_paths):
    entries = read_entries(entry_paths)
    ids = [i for i, _ in entries]
    leaves = [leaf(h) for _, h in entries]
    heads = [(int(s), r, int(l)) for s, r, l in (line.split() for line in open(heads_path))]
    problems = []
    tree_ids = [int(line) for line in open(tree_ids_path)]
    if tree_ids != ids[:len(tree_ids)]:
        committed, in_tree = set(ids), set(tree_ids)
        missing = [i for i in ids if i not in in_tree and i <= max(tree_ids, default=0)]
        extra = [i for i in tree_ids if i not in committed]
        problems.append("the tree's leaves are not the committed entries in id order: %d committed entries "
                        "below its last leaf are missing (ids %s), %d leaves are of no committed entry (%s)"
                        % (len(missing), missing[:10], len(extra), extra[:10]))
    # Incremental roots: the perfect subtrees of the binary decomposition, folded right.
    stack, appended, last_size = [], 0, -1
    for size, root, last_id in heads:
        if size <= last_size:
            problems.append("heads not strictly growing at %d" % size)
        last_size = size
        if size > len(leaves):
            problems.append("head %d holds more leaves than the %d committed entries" % (size, len(leaves)))
            break
        while appended < size:
            h, height = leaves[appended], 0
            while stack and stack[-1][1] == height:
                h, height = node(stack.pop()[0], h), height + 1
            stack.append((h, height))
            appended += 1
        r = stack[-1][0] if stack else mth([])
        for s, _ in reversed(stack[:-1]):
            r = node(s, r)
        if r.hex() != root:
            problems.append("head %d: root %s, but the first %d committed entries give %s" % (size, root, size, r.hex()))
        upto = sum(1 for i in ids if i <= last_id)
        if upto != size:
            problems.append("head %d claims every entry up to id %d, but %d committed entries are up to it"
                            % (size, last_id, upto))
    # The definition itself, for the first, a middle and the last head.
    for size, root, _ in {heads[0], heads[len(heads) // 2], heads[-1]}:
        if size <= len(leaves) and mth(leaves[:size]).hex() != root:
            problems.append("head %d: root differs from MTH of the first %d entries" % (size, size))
    latest = heads[-1]
    if latest[0] != len(leaves):
        problems.append("latest head has %d leaves, the ledger %d committed entries" % (latest[0], len(leaves)))
    if problems:
        print("\n".join(problems[:20]))
        sys.exit(1)
    print("%d heads, %d leaves, root %s" % (len(heads), latest[0], latest[1]))

def tamper(src, dst, what):
    import json
    d = json.load(open(src))
    flip = lambda h: ("0" if h[0] != "0" else "1") + h[1:]
    if what == "none":
        pass
    elif what == "proof_hash":
        d["proof"][len(d["proof"]) // 2] = flip(d["proof"][len(d["proof"]) // 2])
    elif what == "leaf_index":
        d["leaf_index"] = d["leaf_index"] + 1 if d["leaf_index"] + 1 < d["tree_size"] else d["leaf_index"] - 1
    elif what == "entry_field":
        d["entry"]["action"] = d["entry"]["action"] + "X"
    elif what == "head_root":
        d["tree_head"]["root"] = flip(d["tree_head"]["root"])
    elif what == "tree_size":
        d["tree_size"] += 1
    elif what == "old_root":
        d["old_head"]["root"] = flip(d["old_head"]["root"])
    elif what == "new_root":
        d["new_head"]["root"] = flip(d["new_head"]["root"])
    else:
        raise SystemExit("unknown tampering " + what)
    json.dump(d, open(dst, "w"))

if sys.argv[1] == "check":
    check(sys.argv[2], sys.argv[3], sys.argv[4:])
else:
    tamper(sys.argv[2], sys.argv[3], sys.argv[4])
PY
# Files of the ledger and the tree for merkle.py.
snapshot() {  # prefix
  q -c "COPY (SELECT id, encode(entry_hash, 'hex') FROM warden.audit_log ORDER BY id) TO STDOUT" > "$work/$1.entries"
  q -c "COPY (SELECT tree_size, encode(root, 'hex'), last_id FROM warden.audit_tree_head ORDER BY tree_size) TO STDOUT" > "$work/$1.heads"
  q -c "COPY (SELECT u.id FROM warden.audit_tree_leaves, unnest(ids) WITH ORDINALITY u(id, n) ORDER BY block, n) TO STDOUT" > "$work/$1.tree_ids"
}
# Runs warden-verify on a document; echoes its exit status.
verify_rc() {  # --proof|--consistency, file, key args...
  local rc
  "$verify_bin" "$@" > "$work/verify.out" 2>&1
  rc=$?
  echo "$rc"
}
expect_verifies() {  # --proof|--consistency, file, what
  [ "$(verify_rc "$1" "$2" "${keys[@]}")" = 0 ] || { cat "$work/verify.out" >&2; fail "$3 did not verify offline"; }
}
# One document a line (jsonb never breaks a line) into files $work/<prefix>.<n>.
split_docs() {  # prefix; reads stdin; echoes the count
  local n=0 line
  while IFS= read -r line; do
    [ -n "$line" ] || continue
    n=$((n + 1))
    printf '%s\n' "$line" > "$work/$1.$n"
  done
  echo "$n"
}

# 1. Concurrent writers and a builder.
cat > "$work/commit.sql" <<'SQL'
SELECT warden.log_event('bench', 'COMMITTED', details => '{"n": 1}');
SQL
cat > "$work/rollback.sql" <<'SQL'
BEGIN;
SELECT warden.log_event('bench', 'ROLLED_BACK');
ROLLBACK;
SQL
cat > "$work/savepoint.sql" <<'SQL'
BEGIN;
SELECT warden.log_event('bench', 'COMMITTED');
SAVEPOINT a;
SELECT warden.log_event('bench', 'ROLLED_BACK');
ROLLBACK TO SAVEPOINT a;
SELECT warden.log_event('bench', 'COMMITTED');
COMMIT;
SQL
# Holds an id (and a transaction id taken before it) across a sleep, so that rounds start
# while an older id is still undecided.
cat > "$work/long.sql" <<'SQL'
BEGIN;
SELECT warden.log_event('bench', 'COMMITTED');
SELECT pg_sleep(0.3);
SELECT warden.log_event('bench', 'COMMITTED');
COMMIT;
SQL
cat > "$work/long_abort.sql" <<'SQL'
BEGIN;
SELECT warden.log_event('bench', 'ROLLED_BACK');
SELECT pg_sleep(0.2);
ROLLBACK;
SQL
advance_loop() {
  while [ ! -e "$work/stop" ]; do
    q -U "$officer" -c "SELECT warden.advance_audit_tree()" >> "$work/rounds.out" 2>> "$work/rounds.err" \
      || echo "round failed" >> "$work/rounds.err"
    sleep 0.2
  done
}
: > "$work/rounds.err"
advance_loop &
loop_pid=$!
"$PG_BIN/pgbench" -n -c 6 -j 3 -T 15 -f "$work/commit.sql@5" -f "$work/rollback.sql@2" -f "$work/savepoint.sql@2" \
  -f "$work/long.sql@2" -f "$work/long_abort.sql@1" > "$work/pgbench.out" 2>&1 \
  || { cat "$work/pgbench.out"; fail "pgbench"; }
touch "$work/stop"
wait "$loop_pid"
loop_pid=
[ ! -s "$work/rounds.err" ] || { cat "$work/rounds.err"; fail "advance_audit_tree() failed during the writes"; }
rounds=$(wc -l < "$work/rounds.out")
concurrent_heads=$(q -c "SELECT count(*) FROM warden.audit_tree_head")
[ "$concurrent_heads" -ge 10 ] || fail "only $concurrent_heads heads in $rounds rounds during the writes"
q -U "$officer" -c "SELECT warden.advance_audit_tree()" >/dev/null
out=$(q -c "SELECT count(*), count(*) FILTER (WHERE action = 'ROLLED_BACK'), max(id) - min(id) + 1 - count(*) FROM warden.audit_log")
IFS='|' read -r entries stray gaps <<< "$out"
expect_eq "$stray" 0 "rolled-back entries in the ledger"
[ "$gaps" -gt 0 ] || fail "no rolled-back ids: the horizon was not exercised"
snapshot phase1
python3 "$work/merkle.py" check "$work/phase1.heads" "$work/phase1.tree_ids" "$work/phase1.entries" > "$work/check.out" \
  || { cat "$work/check.out"; fail "the tree built during concurrent writes is not the committed ledger's"; }
expect_eq "$(q -c "SELECT tree_size, tree_last_id = last_id, tree_lag FROM warden.audit_status()")" "$entries|t|0" \
  "audit_status() after the final round"
expect_eq "$(q -c "SELECT count(*) FROM warden.verify_audit() WHERE valid")" 1 "the ledger verifies"

# 2. Proofs offline: first and last entries, the block boundary (leaves 255 to 257), and
# random ones, against the latest head and against the first head holding them.
q -c "SELECT warden.audit_proof(id) FROM (
        (SELECT id FROM warden.audit_log ORDER BY id LIMIT 1)
        UNION (SELECT id FROM warden.audit_log ORDER BY id DESC LIMIT 1)
        UNION (SELECT id FROM warden.audit_log ORDER BY id OFFSET 255 LIMIT 3)
        UNION (SELECT id FROM (SELECT id FROM warden.audit_log ORDER BY random() LIMIT 8) r)) s ORDER BY id" \
  | split_docs proof > "$work/nproofs"
q -c "SELECT warden.audit_proof(s.id, h.tree_size) FROM
        (SELECT id, row_number() OVER (ORDER BY id) AS leaf FROM warden.audit_log) s,
        LATERAL (SELECT tree_size FROM warden.audit_tree_head WHERE tree_size >= s.leaf ORDER BY tree_size LIMIT 1) h
      WHERE s.id IN (SELECT id FROM warden.audit_log ORDER BY random() LIMIT 6)" \
  | split_docs older > "$work/nolder"
nproofs=$(cat "$work/nproofs"); nolder=$(cat "$work/nolder")
[ "$nproofs" -ge 6 ] && [ "$nolder" = 6 ] || fail "expected proofs, got $nproofs and $nolder"
for i in $(seq "$nproofs"); do expect_verifies --proof "$work/proof.$i" "inclusion proof $i (latest head)"; done
for i in $(seq "$nolder"); do expect_verifies --proof "$work/older.$i" "inclusion proof $i (earliest head holding it)"; done
expect_eq "$(python3 -c 'import json, sys; d = json.load(open(sys.argv[1])); print(d["leaf_index"], d["tree_size"])' "$work/proof.1")" \
  "0 $entries" "the first entry's leaf and tree"
expect_eq "$(python3 -c 'import json, sys; d = json.load(open(sys.argv[1])); print(d["leaf_index"])' "$work/proof.$nproofs")" \
  "$((entries - 1))" "the last entry's leaf"
# Heads: every consecutive pair, and some further apart (and one to itself). A round
# past only rolled-back ids signs a head of 0 leaves, which has no consistency proof.
mapfile -t sizes < <(cut -f1 "$work/phase1.heads" | grep -vx 0)
nh=${#sizes[@]}
pairs=()
for ((i = 0; i + 1 < nh; i++)); do pairs+=("(${sizes[i]}, ${sizes[i + 1]})"); done
pairs+=("(${sizes[0]}, ${sizes[nh - 1]})" "(${sizes[0]}, ${sizes[nh / 2]})" "(${sizes[nh / 3]}, ${sizes[nh - 1]})"
        "(${sizes[nh / 4]}, ${sizes[3 * nh / 4]})" "(${sizes[nh - 1]}, ${sizes[nh - 1]})")
q -c "SELECT warden.audit_consistency(o, n) FROM (VALUES $(IFS=,; echo "${pairs[*]}")) v(o, n)" \
  | split_docs cons > "$work/ncons"
ncons=$(cat "$work/ncons")
expect_eq "$ncons" "${#pairs[@]}" "consistency proofs returned"
for i in $(seq "$ncons"); do expect_verifies --consistency "$work/cons.$i" "consistency proof $i"; done

# Tampering: the unchanged document, rewritten the same way, still verifies (control);
# each change is caught (exit 1); a cut document is an input error (exit 2).
tampered() {  # file, kind, --proof|--consistency: echoes warden-verify's exit status
  python3 "$work/merkle.py" tamper "$1" "$work/tampered.json" "$2" || fail "tampering $2"
  verify_rc "$3" "$work/tampered.json" "${keys[@]}"
}
mid=$(( (nproofs + 1) / 2 ))  # a random-ish entry with a non-empty path
expect_eq "$(tampered "$work/proof.$mid" none --proof)" 0 "re-serialised, untampered inclusion proof"
for kind in proof_hash leaf_index entry_field head_root tree_size; do
  expect_eq "$(tampered "$work/proof.$mid" "$kind" --proof)" 1 "inclusion proof with tampered $kind"
done
cons_far=$((nh))  # (first head, last head): a proof with several hashes
[ "$(python3 -c 'import json, sys; print(len(json.load(open(sys.argv[1]))["proof"]) > 1)' "$work/cons.$cons_far")" = True ] \
  || fail "consistency proof $cons_far has too few hashes to tamper with"
expect_eq "$(tampered "$work/cons.$cons_far" none --consistency)" 0 "re-serialised, untampered consistency proof"
for kind in proof_hash old_root new_root; do
  expect_eq "$(tampered "$work/cons.$cons_far" "$kind" --consistency)" 1 "consistency proof with tampered $kind"
done
expect_eq "$(verify_rc --proof "$work/proof.$mid" --key "audit:1:$k2")" 1 "inclusion proof with the wrong key"
head -c 300 "$work/proof.$mid" > "$work/cut.json"
expect_eq "$(verify_rc --proof "$work/cut.json" "${keys[@]}")" 2 "truncated inclusion proof"
expect_eq "$(verify_rc --consistency "$work/proof.$mid" "${keys[@]}")" 2 "an inclusion proof given as a consistency proof"

# 3. Retention and a key rotation: the phase-1 entries are purged (their leaves stay), new
# entries are signed with key version 2; proofs of what remains verify, and heads from
# before the purge are consistent with heads after it.
before_size=${sizes[nh - 1]}
a_last=$(q -c "SELECT max(id) FROM warden.audit_log")
a_first=$(q -c "SELECT min(id) FROM warden.audit_log")
sleep 1.2
q -c "SELECT warden.rotate_key('audit', '\\x$k2')" >/dev/null
# A few writers at once, so the kept entries are on several chains.
for c in 1 2 3; do q -c "SELECT warden.log_event('kept', 'B' || g) FROM generate_series(1, 100) g" >/dev/null & done
wait
mid_size=$(q -U "$officer" -c "SELECT warden.advance_audit_tree()")
# The rotation is an entry of its own (key_change), before the 300.
expect_eq "$mid_size" "$((entries + 301))" "tree size after the kept entries"
# The cutoff 0.1 s after the last phase-1 entry (purge_audit measures from its own
# clock, later than this one: the cutoff can only move on, toward the kept entries, 1.2 s
# after it).
deleted=$(q -c "SELECT warden.purge_audit(clock_timestamp() - (SELECT max(ts) + interval '0.1 s' FROM warden.audit_log WHERE id <= $a_last))")
expect_eq "$deleted" "$entries" "entries purged"
# What remains: the rotation, the 300 and the purge's own ledger entry.
expect_eq "$(q -c "SELECT count(*) FILTER (WHERE event_type = 'kept'), count(*) FROM warden.audit_log")" "300|302" "entries kept"
q -c "SELECT warden.log_event('after_purge', 'C' || g) FROM generate_series(1, 40) g" >/dev/null
after_size=$(q -U "$officer" -c "SELECT warden.advance_audit_tree()")
expect_eq "$after_size" "$((entries + 342))" "tree size after the purge"
snapshot phase3
python3 "$work/merkle.py" check "$work/phase3.heads" "$work/phase3.tree_ids" "$work/phase1.entries" "$work/phase3.entries" > "$work/check.out" \
  || { cat "$work/check.out"; fail "the tree after the purge is not the ledger's (purged entries from the earlier copy)"; }
expect_eq "$(sqlstate_of -U "$officer" -c "SELECT warden.audit_proof($a_first)")" 22023 "proof of a purged entry"
q -c "SELECT warden.audit_proof(id) FROM (
        (SELECT id FROM warden.audit_log ORDER BY id LIMIT 1)
        UNION (SELECT id FROM warden.audit_log ORDER BY id DESC LIMIT 1)
        UNION (SELECT id FROM (SELECT id FROM warden.audit_log ORDER BY random() LIMIT 4) r)) s ORDER BY id" \
  | split_docs kept > "$work/nkept"
q -c "SELECT warden.audit_proof(min(id), $mid_size) FROM warden.audit_log" | split_docs kept_mid >/dev/null
for i in $(seq "$(cat "$work/nkept")"); do expect_verifies --proof "$work/kept.$i" "inclusion proof $i after the purge"; done
expect_verifies --proof "$work/kept_mid.1" "inclusion proof after the purge, against the head made before it"
expect_eq "$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["leaf_index"])' "$work/kept.1")" "$entries" \
  "the first kept entry's leaf (after the purged ones)"
q -c "SELECT warden.audit_consistency(o, n) FROM (VALUES ($before_size, $after_size), ($mid_size, $after_size), (${sizes[0]}, $after_size)) v(o, n)" \
  | split_docs purge_cons >/dev/null
for i in 1 2 3; do expect_verifies --consistency "$work/purge_cons.$i" "consistency proof $i across the purge"; done
expect_eq "$(python3 -c 'import json, sys; d = json.load(open(sys.argv[1])); print(d["old_head"]["key_version"], d["new_head"]["key_version"])' "$work/purge_cons.1")" \
  "1 2" "heads signed before and after the rotation"
expect_eq "$(verify_rc --consistency "$work/purge_cons.1" --key "audit:2:$k2")" 1 "a head whose key version is not supplied"

# 4. A streaming standby proves, read-only, and refuses to advance.
extra_cluster_standby tree_standby "$port"
wait_for_replay "$port"
expect_eq "$(q -p "$port" -c "SELECT pg_is_in_recovery()")" t "the standby is in recovery"
last_kept=$(q -c "SELECT max(id) FROM warden.audit_log")
for role in postgres "$officer"; do
  q -p "$port" -U "$role" -c "SELECT warden.audit_proof($last_kept)" > "$work/standby_proof.json" \
    || fail "$role: audit_proof() on the standby"
  expect_verifies --proof "$work/standby_proof.json" "$role: the standby's inclusion proof"
  [ "$(cat "$work/standby_proof.json")" = "$(q -c "SELECT warden.audit_proof($last_kept)")" ] \
    || fail "$role: the standby's inclusion proof differs from the primary's"
  q -p "$port" -U "$role" -c "SELECT warden.audit_consistency($before_size, $after_size)" > "$work/standby_cons.json" \
    || fail "$role: audit_consistency() on the standby"
  expect_verifies --consistency "$work/standby_cons.json" "$role: the standby's consistency proof"
  expect_eq "$(sqlstate_of -p "$port" -U "$role" -c "SELECT warden.advance_audit_tree()")" 25006 "$role: advance_audit_tree() on the standby"
  # (Not tree_lag: a standby's sequence shows the value WAL-logged ahead, up to 32 more.)
  expect_eq "$(q -p "$port" -U "$role" -c "SELECT tree_size, tree_last_id FROM warden.audit_status()")" \
    "$(q -c "SELECT tree_size, tree_last_id FROM warden.audit_status()")" "$role: audit_status() on the standby"
done
if grep " XX000 " "$(extra_dir tree_standby)/server.log"; then fail "the standby logged internal errors"; fi
# It goes on replaying rounds made after the refused one.
q -c "SELECT warden.log_event('after_standby', 'D')" >/dev/null
q -U "$officer" -c "SELECT warden.advance_audit_tree()" >/dev/null
wait_for_replay "$port"
q -p "$port" -c "SELECT warden.audit_consistency($after_size, $((after_size + 1)))" > "$work/standby_cons2.json" \
  || fail "audit_consistency() on the standby after a new round"
expect_verifies --consistency "$work/standby_cons2.json" "the standby's consistency proof to a replayed head"

# 5. warden_user alone: no building, no proofs (42501).
for sql in "SELECT warden.advance_audit_tree()" "SELECT warden.audit_proof($last_kept)" \
           "SELECT warden.audit_consistency($before_size, $after_size)" "SELECT * FROM warden.audit_tree_head"; do
  expect_eq "$(sqlstate_of -U "$user" -c "$sql")" 42501 "$user: $sql"
done
expect_eq "$(q -c "SELECT max(tree_size) FROM warden.audit_tree_head")" "$((after_size + 1))" "the refused calls built nothing"
echo "tree: $entries concurrent entries ($gaps ids rolled back), $concurrent_heads heads in $rounds rounds, $nproofs + $nolder proofs, $ncons consistency proofs; purge of $deleted, standby, privileges"

# 6. A builder killed mid-round (kill -9: the server resets every backend and recovers):
# the round leaves nothing behind, and the next one catches up over what it missed.
q -c "SELECT count(warden.log_event('before_kill', 'E' || g)) FROM generate_series(1, 100000) g" >/dev/null
size_before_kill=$(q -c "SELECT max(tree_size) FROM warden.audit_tree_head")
q -U "$officer" -c "SELECT warden.advance_audit_tree()" >/dev/null 2>&1 &
builder=""
for _ in $(seq 200); do
  builder=$(q -c "SELECT pid FROM pg_stat_activity WHERE query LIKE 'SELECT warden.advance_audit_tree()%' AND state = 'active'")
  [ -n "$builder" ] && break
  sleep 0.01
done
[ -n "$builder" ] || fail "the builder's round did not start"
kill -9 "$builder"
wait
for _ in $(seq 100); do q -c "SELECT 1" >/dev/null 2>&1 && break; sleep 0.1; done
expect_eq "$(q -c "SELECT max(tree_size) FROM warden.audit_tree_head")" "$size_before_kill" "the killed round left no head"
caught_up=$(q -U "$officer" -c "SELECT warden.advance_audit_tree()")
expect_eq "$caught_up" "$((size_before_kill + 100000))" "the next round caught up"
snapshot phase6
python3 "$work/merkle.py" check "$work/phase6.heads" "$work/phase6.tree_ids" "$work/phase1.entries" "$work/phase6.entries" > "$work/check.out" \
  || { cat "$work/check.out"; fail "the tree after the killed round is not the ledger's"; }
q -U "$officer" -c "SELECT warden.audit_proof(max(id)) FROM warden.audit_log" > "$work/after_kill.json"
expect_verifies --proof "$work/after_kill.json" "inclusion proof after the killed round"
echo "killed round: caught up to $caught_up leaves"
