#!/usr/bin/env bash
# README command (1): install dependencies, build atlc, and run the main job on the built-in
# synthetic data: the study's protocol at small scale (examples/quickstart.atl) — digital
# pretraining, transfer to a 2-class and a 5-class task with c-TTv2 on HfOx ReRAM tiles, and the
# baselines — ending with the results table. Results go to runs/quickstart/.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
jobs=$(nproc 2>/dev/null || echo 2)
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$jobs" --target atlc
build/cli/atlc run examples/quickstart.atl "$@"
