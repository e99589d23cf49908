#!/usr/bin/env bash
# README command (2): install dependencies, build with warnings as errors, run every test; then
# the same tests in an ASan/UBSan build, and a short fuzzing run of the parsers.
# Usage: scripts/test.sh [--quick]   (--quick: skip the sanitizer build and fuzzing)
set -euo pipefail
cd "$(dirname "$0")/.."
quick=0
[[ "${1:-}" == "--quick" ]] && quick=1
jobs=$(nproc 2>/dev/null || echo 2)

# the full run also installs clang (libFuzzer) and chromium (the report's browser check)
if [[ $quick == 0 ]]; then ATL_WITH_FUZZ=1 ATL_WITH_BROWSER=1 scripts/install-deps.sh; else scripts/install-deps.sh; fi

echo "== build (Release, -Werror) =="
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DATL_WERROR=ON -DATL_MPI=ON >/dev/null
cmake --build build -j"$jobs"
echo "== tests =="
ctest --test-dir build --output-on-failure -j"$jobs"

if [[ $quick == 1 ]]; then exit 0; fi

echo "== build (ASan + UBSan) =="
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DATL_WERROR=ON -DATL_SANITIZE=ON >/dev/null
cmake --build build-asan -j"$jobs"
echo "== tests under ASan + UBSan =="
ctest --test-dir build-asan --output-on-failure -j"$jobs" -LE 'valgrind|bench'

if [[ -x scripts/fuzz.sh ]]; then
  echo "== fuzzing (short) =="
  scripts/fuzz.sh 20
fi
echo "all tests passed"
