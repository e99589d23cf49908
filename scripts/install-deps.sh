#!/usr/bin/env bash
# Installs the Debian 12 packages atl needs to build and test. Idempotent: when everything is
# already installed it runs no apt-get at all and prints nothing.
set -euo pipefail

pkgs=(
  build-essential cmake pkg-config
  llvm-19-dev llvm-19-tools          # LLVM 19 C API + ORC JIT; FileCheck-19 for IR golden tests
  flex bison                         # DSL frontend
  libopenblas-dev                    # dense math (cblas_sgemm)
  libcmocka-dev                      # unit tests
  libjansson-dev                     # JSON (configs, metrics, safetensors headers)
  python3 python3-numpy              # independent safetensors/npy reader in tests
  valgrind                           # memory checks in tests
  libopenmpi-dev openmpi-bin         # atlc sweep over MPI ranks (-DATL_MPI=ON)
)
# Optional extras for the fuzz harness (clang's libFuzzer); only when asked for.
if [[ "${ATL_WITH_FUZZ:-0}" == 1 ]]; then
  pkgs+=(clang-14 libclang-rt-14-dev)
fi
# Optional: a real browser for scripts/check-report.sh (the report_browser ctest, skipped without
# it); about 40 s and ~400 MB on Debian 12.
if [[ "${ATL_WITH_BROWSER:-0}" == 1 ]]; then
  pkgs+=(chromium)
fi

missing=()
for p in "${pkgs[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done
[[ ${#missing[@]} -eq 0 ]] && exit 0

SUDO=""
if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi
echo "install-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
