# kill -9 of the postmaster while 8 clients log: after restart every acknowledged entry
# is present, nothing rolled back is, and the ledger verifies and chains on.
. "$(dirname "$0")/lib.sh"
q -c "SELECT warden.create_key('audit')" >/dev/null
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
writer() {  # client number: logs until the server goes away, recording what was acknowledged
  local i=0
  while [ "$i" -lt 2000 ]; do
    i=$((i + 1))
    if "$PG_BIN/psql" -X -q -A -t -c "SELECT warden.log_event('crash', 'WRITE', resource_id => '$1-$i')" >/dev/null 2>&1; then
      echo "$1-$i" >> "$work/acked.$1"
    else
      return 0
    fi
  done
}
for c in 1 2 3 4 5 6 7 8; do writer "$c" & done
sleep 3
crash_postmaster
wait
cat "$work"/acked.* | sort > "$work/acked"
acked=$(wc -l < "$work/acked")
[ "$acked" -gt 0 ] || fail "no write was acknowledged before the crash"
# Restart (crash recovery) and compare.
restart_after_crash
q -c "SELECT resource_id FROM warden.audit_log WHERE event_type = 'crash'" | sort > "$work/stored"
missing=$(comm -23 "$work/acked" "$work/stored" | wc -l)
expect_eq "$missing" "0" "acknowledged entries missing after the crash"
expect_eq "$(q -c "SELECT valid FROM warden.verify_audit()")" "t" "ledger verifies after crash recovery"
q -c "SELECT warden.log_event('after_crash', 'NOTE')" >/dev/null
expect_eq "$(q -c "SELECT valid FROM warden.verify_audit()")" "t" "chains continue after crash recovery"
echo "acknowledged=$acked stored=$(wc -l < "$work/stored")"
