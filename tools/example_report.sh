#!/usr/bin/env bash
# make example-report: regenerate docs/example-report/ from the current code. It runs the main job
# (quick preset, seed 0, no live display so the console output reads as a log), then replaces the
# report, its plots, summary.json and run-output.txt. The docs keep the old files if the job fails.
# tests/test_example_report.py fails when the recorded version or preset hash is no longer the code's.
set -euo pipefail
BIN=${BIN:-.venv/bin}
run=runs/example-report   # a fixed, relative folder: run-output.txt names it instead of a temporary path
dest=docs/example-report
rm -rf "$run" "$run.log"
mkdir -p runs
command="$BIN/asl-recog run --preset quick --no-progress --out $run"
echo "$command" > "$run.log"
$command 2>&1 | tee -a "$run.log"
rm -f "$dest"/*.png "$dest"/report.md "$dest"/report.html "$dest"/summary.json "$dest"/run-output.txt
mkdir -p "$dest"
cp "$run"/report/* "$run"/summary.json "$dest"/
cp "$run.log" "$dest"/run-output.txt
echo "docs/example-report/ regenerated from $run"
