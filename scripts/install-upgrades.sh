#!/usr/bin/env bash
# Copies the frozen install scripts of released versions and the upgrade scripts into the
# server's extension directory. `cargo pgrx install` only installs the current version.
set -euo pipefail
. "$(dirname "$0")/common.sh"
cd "$(dirname "$0")/.."
extdir="$("$PG_CONFIG" --sharedir)/extension"
$SUDO install -m 0644 sql/released/pg_warden--*.sql sql/upgrade/pg_warden--*--*.sql "$extdir/"
