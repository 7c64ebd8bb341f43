# Helpers for tests/multi/t_*.sh; sourced.
. "$(dirname "${BASH_SOURCE[0]}")/../../scripts/common.sh"
q() { "$PG_BIN/psql" -X -q -A -t -v ON_ERROR_STOP=1 "$@"; }
fail() { echo "FAILED: $*" >&2; exit 1; }
expect_eq() { [ "$1" = "$2" ] || fail "$3: expected '$2', got '$1'"; }
