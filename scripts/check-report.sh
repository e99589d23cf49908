#!/usr/bin/env bash
# Renders `atlc report` pages of the test fixtures (tests/report/) in a real browser, Debian's
# headless chromium: the plots must be in the rendered DOM (--dump-dom) as in the page, and a
# screenshot must show them painted (tests/report/render_check.py). The screenshots stay in
# OUTDIR for a look.
#
#   scripts/check-report.sh [ATLC] [OUTDIR]     (defaults: build/cli/atlc, a new temp directory)
#
# Exit status: 0 pass, 1 failure, 77 when chromium is not installed (ctest's SKIP_RETURN_CODE;
# `ATL_WITH_BROWSER=1 scripts/install-deps.sh` installs it).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
atlc=${1:-$root/build/cli/atlc}
out=${2:-$(mktemp -d)}
mkdir -p "$out"

browser=${CHROMIUM:-}
if [[ -z $browser ]]; then
  for c in chromium chromium-browser google-chrome; do
    if command -v "$c" >/dev/null 2>&1; then browser=$(command -v "$c"); break; fi
  done
fi
if [[ -z $browser ]]; then
  echo "check-report: chromium is not installed; skipped (ATL_WITH_BROWSER=1 scripts/install-deps.sh)"
  exit 77
fi
py=/usr/bin/python3
[[ -x $py ]] || py=python3

profile=$(mktemp -d)
trap 'rm -rf "$profile"' EXIT
flags=(--headless --no-sandbox --disable-gpu --disable-quic --no-first-run
       --disable-background-networking --disable-component-update --disable-sync
       --user-data-dir="$profile" --hide-scrollbars)

"$atlc" report "$root/tests/report/run" -o "$out/run.html" --svg "$out/run-svg" >/dev/null
"$atlc" report "$root/tests/report/sweep.csv" -o "$out/sweep.html" --svg "$out/sweep-svg" >/dev/null
"$atlc" report "$root/tests/report/grid.csv" -o "$out/grid.html" >/dev/null

for page in run sweep grid; do
  url="file://$out/$page.html"
  if ! timeout 120 "$browser" "${flags[@]}" --dump-dom "$url" >"$out/$page.dom.html" 2>"$out/$page.dom.log"; then
    echo "check-report: chromium --dump-dom failed on $page.html (see $out/$page.dom.log)" >&2
    exit 1
  fi
  # tall enough for the whole page: the screenshot is of the window
  if ! timeout 120 "$browser" "${flags[@]}" --window-size=1280,2800 --screenshot="$out/$page.png" \
       "$url" >/dev/null 2>"$out/$page.png.log"; then
    echo "check-report: chromium --screenshot failed on $page.html (see $out/$page.png.log)" >&2
    exit 1
  fi
  echo "== $page.html"
  "$py" "$root/tests/report/render_check.py" "$out/$page.html" "$out/$page.dom.html" "$out/$page.png"
done
echo "check-report: ok ($("$browser" --version 2>/dev/null | head -1)); screenshots: $out/{run,sweep,grid}.png"
