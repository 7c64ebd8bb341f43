#!/usr/bin/env bash
# Installs everything pg_warden needs on a fresh Debian 12 machine. Idempotent.
# Works as root or as a user with sudo.
set -euo pipefail

PG_MAJOR="${PG_MAJOR:-15}"
PGRX_VERSION="0.18.1"
PG_CONFIG="/usr/lib/postgresql/${PG_MAJOR}/bin/pg_config"

if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo"; fi

need_pkgs=()
for p in "postgresql-${PG_MAJOR}" "postgresql-server-dev-${PG_MAJOR}" "postgresql-contrib" \
         libclang-dev clang sudo pkg-config libssl-dev make; do
  dpkg -s "$p" >/dev/null 2>&1 || need_pkgs+=("$p")
done
if [ "${#need_pkgs[@]}" -gt 0 ]; then
  echo "setup: installing ${need_pkgs[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_pkgs[@]}" >/dev/null
fi

# Debian's package creates and starts a default cluster; we never use it.
if command -v pg_lsclusters >/dev/null 2>&1 && pg_lsclusters -h 2>/dev/null | grep -q online; then
  :
fi

export PATH="$HOME/.cargo/bin:$PATH"
if ! cargo pgrx --version 2>/dev/null | grep -q "$PGRX_VERSION"; then
  echo "setup: installing cargo-pgrx $PGRX_VERSION"
  cargo install cargo-pgrx --version "$PGRX_VERSION" --locked
fi

PGRX_HOME="${PGRX_HOME:-$HOME/.pgrx}"
if ! grep -qs "pg${PG_MAJOR} *= *\"${PG_CONFIG}\"" "$PGRX_HOME/config.toml"; then
  echo "setup: cargo pgrx init --pg${PG_MAJOR}"
  cargo pgrx init "--pg${PG_MAJOR}" "$PG_CONFIG"
fi

# The extension is installed into the system PostgreSQL's directories.
for d in "$($PG_CONFIG --pkglibdir)" "$($PG_CONFIG --sharedir)/extension"; do
  if [ ! -w "$d" ]; then $SUDO chmod a+w "$d" 2>/dev/null || true; fi
done
echo "setup: ok"
