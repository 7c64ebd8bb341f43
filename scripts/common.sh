# Shared settings for pg_warden's scripts; sourced, not run.
PG_MAJOR="${PG_MAJOR:-15}"
# PG_BIN may point at a private copy of the server (a worktree testing its own build
# beside another one); by default the system PostgreSQL.
PG_BIN="${PG_BIN:-/usr/lib/postgresql/${PG_MAJOR}/bin}"
PG_CONFIG="${PG_BIN}/pg_config"
# The throwaway cluster: private data directory, socket directory and port, never the
# machine's default cluster.
WARDEN_ROOT="${WARDEN_ROOT:-/tmp/pg_warden}"
WARDEN_PGDATA="${WARDEN_PGDATA:-$WARDEN_ROOT/data}"
WARDEN_SOCKDIR="${WARDEN_SOCKDIR:-$WARDEN_ROOT/sock}"
WARDEN_PGPORT="${WARDEN_PGPORT:-54315}"
WARDEN_LOG="${WARDEN_LOG:-$WARDEN_ROOT/server.log}"
# A fixed, public test key for the environment-bound key in tests and the demo. Real
# deployments set their own WARDEN_* variables in the server's service environment.
WARDEN_DEMO_ENV_KEY="${WARDEN_DEMO_ENV_KEY:-hex:70675f77617264656e2064656d6f20656e76206b65792030303031}"
# A fixed, public vault master key for the test and demo clusters (never use it for real
# data). WARDEN_MASTER_KEY=none starts a cluster without a master key.
WARDEN_TEST_MASTER_KEY="${WARDEN_TEST_MASTER_KEY:-hex:70675f77617264656e207075626c69632074657374206d6173746572206b6579}"
# The environment a test or demo server starts with: the demo's environment-bound key
# and the vault master key (WARDEN_MASTER_KEY, WARDEN_MASTER_KEY_PREVIOUS and the
# passphrase variables pass through when set, so a test can change them). It is given to
# `env`, one argument a line (read it with mapfile: a passphrase may hold spaces), and
# first removes them from the inherited environment: otherwise WARDEN_MASTER_KEY=none
# would reach the server as a (malformed) key.
server_env() {
  local key="${WARDEN_MASTER_KEY:-$WARDEN_TEST_MASTER_KEY}"
  local var
  for var in WARDEN_MASTER_KEY WARDEN_MASTER_KEY_PREVIOUS WARDEN_MASTER_PASSPHRASE WARDEN_MASTER_PASSPHRASE_PREVIOUS; do
    echo "--unset=$var"
  done
  echo "WARDEN_DEMO_KEY=$WARDEN_DEMO_ENV_KEY"
  # A profile seed for the regression tests of seed_env_var (tests/pg_regress/sql/profile_formats.sql).
  echo "WARDEN_TEST_SEED=424242"
  [ "$key" = none ] || echo "WARDEN_MASTER_KEY=$key"
  [ -z "${WARDEN_MASTER_KEY_PREVIOUS:-}" ] || echo "WARDEN_MASTER_KEY_PREVIOUS=$WARDEN_MASTER_KEY_PREVIOUS"
  [ -z "${WARDEN_MASTER_PASSPHRASE:-}" ] || echo "WARDEN_MASTER_PASSPHRASE=$WARDEN_MASTER_PASSPHRASE"
  [ -z "${WARDEN_MASTER_PASSPHRASE_PREVIOUS:-}" ] || echo "WARDEN_MASTER_PASSPHRASE_PREVIOUS=$WARDEN_MASTER_PASSPHRASE_PREVIOUS"
}
export PATH="$HOME/.cargo/bin:$PATH"

if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo"; fi

# Runs a command as the postgres OS user (initdb refuses root).
as_postgres() {
  if [ "$(id -un)" = postgres ]; then "$@"
  elif [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"
  else sudo -u postgres -- "$@"
  fi
}

warden_psql() {
  "$PG_BIN/psql" -X -v ON_ERROR_STOP=1 -h "$WARDEN_SOCKDIR" -p "$WARDEN_PGPORT" -U postgres "$@"
}
