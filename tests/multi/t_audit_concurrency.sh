# Many real connections log at once, with rollbacks, savepoints and reconnects; then
# every committed entry is present exactly once, no chain forks or skips, and the
# ledger verifies.
. "$(dirname "$0")/lib.sh"
q -c "SELECT warden.create_key('audit')" >/dev/null
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
cat > "$work/commit.sql" <<'SQL'
BEGIN;
SELECT warden.log_event('bench', 'COMMITTED', details => '{"password": "p", "n": 1}');
SAVEPOINT a;
SELECT warden.log_event('bench', 'ROLLED_BACK_SAVEPOINT');
ROLLBACK TO SAVEPOINT a;
SELECT warden.log_event('bench', 'COMMITTED');
COMMIT;
SQL
cat > "$work/abort.sql" <<'SQL'
BEGIN;
SELECT warden.log_event('bench', 'ABORTED');
ROLLBACK;
SQL
pgb() { "$PG_BIN/pgbench" -n "$@" >"$work/pgbench.out" 2>&1 || { cat "$work/pgbench.out"; fail "pgbench $*"; }; }
# 16 long-lived connections, two scripts mixed 3:1.
pgb -c 16 -j 2 -t 60 -f "$work/commit.sql@3" -f "$work/abort.sql@1"
commit_tx=$(grep -A2 "SQL script 1" "$work/pgbench.out" | grep -oP '^ - \K[0-9]+(?= transactions)')
[ -n "$commit_tx" ] || { cat "$work/pgbench.out"; fail "could not read pgbench's per-script count"; }
# 8 clients reconnecting for every transaction: leases are taken and released all the time.
pgb -C -c 8 -j 2 -t 20 -f "$work/commit.sql"
out=$(q <<'SQL'
SELECT count(*) FILTER (WHERE action = 'COMMITTED'),
       count(*) FILTER (WHERE action IN ('ABORTED', 'ROLLED_BACK_SAVEPOINT')),
       count(*) FILTER (WHERE details ? 'password')
  FROM warden.audit_log;
SQL
)
IFS='|' read -r committed stray raw <<<"$out"
[ "$stray" = 0 ] || fail "$stray rolled-back entries are in the ledger"
[ "$raw" = 0 ] || fail "raw secrets stored"
# Each commit.sql transaction writes 2 entries; abort.sql commits nothing.
expect_eq "$committed" "$(( 2 * (commit_tx + 160) ))" "committed entries"
gaps=$(q -c "SELECT count(*) FROM (SELECT chain_id, count(*) n, min(chain_pos) lo, max(chain_pos) hi FROM warden.audit_log GROUP BY chain_id) c WHERE lo <> 1 OR hi - lo + 1 <> n")
expect_eq "$gaps" "0" "chains with gaps or forks"
chains=$(q -c "SELECT count(DISTINCT chain_id) FROM warden.audit_log")
[ "$chains" -ge 2 ] || fail "concurrent writers shared one chain ($chains)"
expect_eq "$(q -c "SELECT valid, invalid_entries FROM warden.verify_audit()")" "t|0" "ledger verifies"
echo "committed=$committed chains=$chains"
