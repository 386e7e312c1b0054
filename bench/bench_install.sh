#!/usr/bin/env bash
# Install time of the README's two commands on a fresh clone, each step timed on its own:
#   make .venv/.core  - what `make demo` installs (the library and its core dependencies)
#   make .venv/.all   - what `make test` adds on top (every extra, in one pip call)
# Both install from constraints.txt. pip's own cache is whatever this machine has (say so when quoting).
#
#   bash bench/bench_install.sh [CLONE_DIR]    # default: a new temporary folder; the clone is kept
# Prints a Markdown table.
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
clone=${1:-$(mktemp -d /tmp/asl-recog-clone.XXXXXX)}
rm -rf "$clone" && git clone -q "$src" "$clone"
cd "$clone"
row() {  # step, target
  local log
  log=$(mktemp)
  /usr/bin/time -v -o "$log" make "$2" >/dev/null 2>&1
  local wall rss
  wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$log")
  rss=$(awk -F': ' '/Maximum resident set size/ {printf "%.2f", $2 / 1048576}' "$log")
  echo "| $1 | \`make $2\` | $wall | $rss GiB |"
  rm -f "$log"
}
echo "Fresh clone of $(git log --format=%h -1) in \`$clone\`; pip cache folder: $(du -sh ~/.cache/pip 2>/dev/null | cut -f1 || echo none)."
echo
echo "| step | command | wall (h:mm:ss) | peak RSS |"
echo "|---|---|---|---|"
row "install for \`make demo\` (core)" .venv/.core
row "install for \`make test\` (every extra, on top)" .venv/.all
