#!/usr/bin/env bash
# Builds the libFuzzer harnesses with clang in build-fuzz/ (ASan + UBSan) and runs each one for N
# seconds (default 30): scripts/fuzz.sh [SECONDS] [FUZZER...]
# New inputs go to build-fuzz/corpus/NAME (the checked-in seeds stay untouched); crashes and
# leaks are written to build-fuzz/artifacts/. Copy an interesting input into the seed corpus
# (tests/fuzz/corpus_*/) to make it a ctest regression (the *_replay tests).
# Needs clang with libFuzzer: apt-get install clang-14 libclang-rt-14-dev
# (scripts/install-deps.sh does it with ATL_WITH_FUZZ=1).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
secs=${1:-30}
shift || true
build=${ATL_FUZZ_BUILD:-$root/build-fuzz}
cc=${ATL_FUZZ_CC:-$(command -v clang-14 || command -v clang || true)}
if [[ -z "$cc" ]]; then
  echo "fuzz.sh: clang not found (apt-get install clang-14 libclang-rt-14-dev)" >&2
  exit 1
fi

# name:seed-corpus-dir:dictionary (the dictionary may be empty). Add new harnesses here.
all=(
  "fuzz_dsl:tests/fuzz/corpus_dsl:tests/fuzz/dsl.dict"
  "fuzz_ir:tests/fuzz/corpus_ir:"
)

want=("$@")
selected=()
for entry in "${all[@]}"; do
  name=${entry%%:*}
  if [[ ${#want[@]} -eq 0 ]] || [[ " ${want[*]} " == *" $name "* ]]; then
    selected+=("$entry")
  fi
done
if [[ ${#selected[@]} -eq 0 ]]; then
  echo "fuzz.sh: no such fuzzer: ${want[*]}" >&2
  exit 1
fi

cmake -S "$root" -B "$build" -DCMAKE_C_COMPILER="$cc" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DATL_FUZZ=ON -DATL_SANITIZE=ON -DATL_NATIVE=OFF >/dev/null
targets=()
for entry in "${selected[@]}"; do targets+=("${entry%%:*}"); done
cmake --build "$build" --target "${targets[@]}" -j"$(nproc)"

status=0
mkdir -p "$build/artifacts"
for entry in "${selected[@]}"; do
  IFS=: read -r name seeds dict <<<"$entry"
  exe=$(find "$build" -type f -name "$name" -perm -u+x | head -n1)
  work="$build/corpus/$name"
  mkdir -p "$work"
  args=(-max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -max_len=8192
        -print_final_stats=1 -artifact_prefix="$build/artifacts/$name-")
  [[ -n "$dict" ]] && args+=(-dict="$root/$dict")
  echo "== $name: ${secs}s"
  if ! ASAN_OPTIONS=detect_leaks=1 "$exe" "${args[@]}" "$work" "$root/$seeds"; then
    echo "== $name: FAILED (see $build/artifacts/)" >&2
    status=1
  fi
done
exit $status
