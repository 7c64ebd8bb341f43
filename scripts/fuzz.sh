#!/usr/bin/env bash
# Runs each cargo-fuzz target of warden-core (core/fuzz) for a bounded time.
# Not part of `make test` or CI: fuzzing finds new inputs, it does not pass or fail
# the same way twice.
#
#   FUZZ_SECONDS=60       seconds per target (libFuzzer -max_total_time)
#   FUZZ_TARGETS="..."    targets to run (default: all five)
#   FUZZ_TARGET_DIR=dir   cargo target directory (default core/fuzz/target)
#   FUZZ_UPDATE_CORPUS=1  merge inputs that reach new code into core/fuzz/corpus
#
# The committed corpus (core/fuzz/corpus/<target>) seeds each run and is read only: new
# inputs go to core/fuzz/scratch/<target> (not committed), which later runs start from
# too. FUZZ_UPDATE_CORPUS=1 merges into the committed corpus only the inputs that reach
# code it does not; keep it to a few dozen files per target (`cargo fuzz cmin`).
# A crashing input is saved under core/fuzz/artifacts/<target>; the script runs every
# target, then fails if any crashed.
set -euo pipefail

cd "$(dirname "$0")/../core"
export PATH="$HOME/.cargo/bin:$PATH"

FUZZ_SECONDS="${FUZZ_SECONDS:-60}"
FUZZ_TARGETS="${FUZZ_TARGETS:-profile secrets encoding export export_roundtrip}"
FUZZ_TARGET_DIR="${FUZZ_TARGET_DIR:-$PWD/fuzz/target}"
CARGO_FUZZ_VERSION="0.13.2"

# cargo-fuzz compiles with nightly-only flags (-Zsanitizer=address, sanitizer coverage
# options); this machine has only the stable toolchain, and RUSTC_BOOTSTRAP=1 lets it
# accept them. No nightly feature is used by warden-core itself.
export RUSTC_BOOTSTRAP=1

# libfuzzer-sys compiles libFuzzer's C++ sources.
if ! command -v c++ >/dev/null 2>&1 && ! command -v clang++ >/dev/null 2>&1; then
  echo "fuzz: a C++ compiler is needed (apt-get install clang)" >&2
  exit 2
fi

if ! cargo fuzz --version 2>/dev/null | grep -q "$CARGO_FUZZ_VERSION"; then
  echo "fuzz: installing cargo-fuzz $CARGO_FUZZ_VERSION"
  cargo install cargo-fuzz --version "$CARGO_FUZZ_VERSION" --locked
fi

cargo fuzz build --target-dir "$FUZZ_TARGET_DIR"

scratch="fuzz/scratch"
failed=()
for target in $FUZZ_TARGETS; do
  corpus="fuzz/corpus/$target"
  mkdir -p "$corpus" "$scratch/$target" "fuzz/artifacts/$target"
  flags=(-max_total_time="$FUZZ_SECONDS" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1)
  [ -f "fuzz/dicts/$target.dict" ] && flags+=(-dict="fuzz/dicts/$target.dict")
  # Exports need room for a few entries; the other inputs stay under libFuzzer's 4 KiB.
  [ "$target" = export ] && flags+=(-max_len=16384)
  echo "fuzz: $target for ${FUZZ_SECONDS}s"
  if ! cargo fuzz run --target-dir "$FUZZ_TARGET_DIR" "$target" "$scratch/$target" "$corpus" -- "${flags[@]}"; then
    failed+=("$target")
    continue
  fi
  if [ "${FUZZ_UPDATE_CORPUS:-0}" = 1 ]; then
    # Edges only, not hit counts or compared values: adds few files.
    cargo fuzz run --target-dir "$FUZZ_TARGET_DIR" "$target" "$corpus" "$scratch/$target" -- \
      -merge=1 -set_cover_merge=1 -use_counters=0 -use_value_profile=0 -max_len=16384
  fi
done

if [ "${#failed[@]}" -gt 0 ]; then
  echo "fuzz: crashes in ${failed[*]}; inputs are in core/fuzz/artifacts/" >&2
  exit 1
fi
echo "fuzz: no crash in $FUZZ_TARGETS (${FUZZ_SECONDS}s each)"
