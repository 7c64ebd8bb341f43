#!/usr/bin/env bash
# Installs everything pg_warden needs on a fresh Debian 12 machine. Idempotent.
# Works as root or as a user with sudo.
set -euo pipefail
. "$(dirname "$0")/common.sh"

PGRX_VERSION="0.18.1"
# The Debian packages installed below, and what pgrx builds against by default. This is
# the system server even when PG_BIN (common.sh) points the other scripts at a private copy.
SYSTEM_PG_CONFIG="/usr/lib/postgresql/${PG_MAJOR}/bin/pg_config"

need_pkgs=()
# postgresql-${PG_MAJOR}-cron (pg_cron) is for tests/multi/t_audit_schedule.sh, the scheduled
# digests of docs/audit.md; only that test's own cluster preloads it.
for p in "postgresql-${PG_MAJOR}" "postgresql-server-dev-${PG_MAJOR}" "postgresql-contrib" \
         "postgresql-${PG_MAJOR}-cron" libclang-dev clang sudo pkg-config libssl-dev make; do
  dpkg -s "$p" >/dev/null 2>&1 || need_pkgs+=("$p")
done
if [ "${#need_pkgs[@]}" -gt 0 ]; then
  echo "setup: installing ${need_pkgs[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_pkgs[@]}" >/dev/null
fi
# Debian's package creates and starts a default cluster (port 5432). It is left alone:
# the scripts run their own throwaway cluster (scripts/cluster.sh) and never touch it.

# `make lint` needs rustfmt and clippy, which a minimal rustup profile leaves out.
if ! cargo fmt --version >/dev/null 2>&1 || ! cargo clippy --version >/dev/null 2>&1; then
  echo "setup: rustup component add rustfmt clippy"
  rustup component add rustfmt clippy
fi

if ! cargo pgrx --version 2>/dev/null | grep -q "$PGRX_VERSION"; then
  echo "setup: installing cargo-pgrx $PGRX_VERSION"
  cargo install cargo-pgrx --version "$PGRX_VERSION" --locked
fi

PGRX_HOME="${PGRX_HOME:-$HOME/.pgrx}"
if ! grep -qs "pg${PG_MAJOR} *= *\"${SYSTEM_PG_CONFIG}\"" "$PGRX_HOME/config.toml"; then
  echo "setup: cargo pgrx init --pg${PG_MAJOR}"
  cargo pgrx init "--pg${PG_MAJOR}" "$SYSTEM_PG_CONFIG"
fi

# The extension is installed into the system PostgreSQL's directories.
for d in "$($SYSTEM_PG_CONFIG --pkglibdir)" "$($SYSTEM_PG_CONFIG --sharedir)/extension"; do
  if [ ! -w "$d" ]; then $SUDO chmod a+w "$d" 2>/dev/null || true; fi
done
echo "setup: ok"
