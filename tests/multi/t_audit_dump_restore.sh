# pg_dump carries the ledger; restored with warden.restore_mode = on and the same key
# material, it verifies, stays append-only, keeps its digest, and chains on.
. "$(dirname "$0")/lib.sh"
k1=000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
q -c "SELECT warden.create_key('audit', '\x$k1')" >/dev/null
q -c "SELECT warden.log_event('e' || g, 'A', details => jsonb_build_object('n', g)) FROM generate_series(1, 50) g" >/dev/null
q -c "SELECT warden.audit_digest()" > "$work/digest.json"
"$PG_BIN/pg_dump" -Fc -f "$work/dump" || fail "pg_dump failed"
restored="${PGDATABASE}_restored"
"$PG_BIN/dropdb" --if-exists "$restored" 2>/dev/null; "$PG_BIN/createdb" "$restored"
PGOPTIONS="-c warden.restore_mode=on" "$PG_BIN/pg_restore" -d "$restored" "$work/dump" 2>"$work/restore.err" \
  || { cat "$work/restore.err"; fail "pg_restore failed"; }
expect_eq "$(q -d "$restored" -c "SELECT count(*) FROM warden.audit_log")" "50" "restored entries"
q -d "$restored" -c "SELECT warden.create_key('audit', '\x$k1')" >/dev/null
expect_eq "$(q -d "$restored" -c "SELECT valid FROM warden.verify_audit()")" "t" "restored ledger verifies"
expect_eq "$(q -d "$restored" -c "SELECT valid FROM warden.verify_audit('$(cat "$work/digest.json")', full => true)")" "t" "restored ledger matches the saved digest"
expect_eq "$(q -d "$restored" -c "SELECT warden.log_event('after_restore', 'NOTE') > 50")" "t" "identity continues after restore"
expect_eq "$(q -d "$restored" -c "SELECT valid, total_entries FROM warden.verify_audit()")" "t|51" "chain continues after restore"
if q -d "$restored" -c "DELETE FROM warden.audit_log" >/dev/null 2>&1; then fail "restored ledger is not append-only"; fi
"$PG_BIN/dropdb" "$restored"
