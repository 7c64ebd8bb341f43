#!/usr/bin/env bash
# Builds pg_warden (release) and installs it into the system PostgreSQL, together with the
# install scripts of earlier releases (sql/released) and the upgrade scripts between
# versions (sql/upgrade), so `CREATE EXTENSION pg_warden VERSION '<old>'` and
# `ALTER EXTENSION pg_warden UPDATE` work.
set -euo pipefail
. "$(dirname "$0")/common.sh"
cd "$(dirname "$0")/.."
# WARDEN_BUILD=debug installs a debug build (faster to build while developing); tests,
# CI and benchmarks use the release build.
profile=(--release)
[ "${WARDEN_BUILD:-release}" = debug ] && profile=()
if [ -n "$SUDO" ]; then
  cargo pgrx install "${profile[@]}" --pg-config "$PG_CONFIG" --sudo
else
  cargo pgrx install "${profile[@]}" --pg-config "$PG_CONFIG"
fi
scripts/install-upgrades.sh
