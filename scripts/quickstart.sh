#!/usr/bin/env bash
# README command (1): install dependencies, build atlc, and run the main job on the built-in
# defaults. Until the experiment runner lands, the main job compiles the study's Swin model and
# prints its IR summary.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
jobs=$(nproc 2>/dev/null || echo 2)
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$jobs" --target atlc
build/cli/atlc check models/*.atl
build/cli/atlc compile models/swin_cifar.atl --emit=summary
