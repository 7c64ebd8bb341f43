#!/usr/bin/env bash
# Builds pg_warden (release) and installs it into the system PostgreSQL.
set -euo pipefail
. "$(dirname "$0")/common.sh"
cd "$(dirname "$0")/.."
if [ -n "$SUDO" ]; then
  cargo pgrx install --release --pg-config "$PG_CONFIG" --sudo
else
  cargo pgrx install --release --pg-config "$PG_CONFIG"
fi
