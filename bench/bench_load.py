"""How long loading the real data takes: import, cold parse (no cache), and cached loads.

Usage: python bench/bench_load.py [--repeats 5]
Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile

PROBE = """
import os, time, sys
t0 = time.perf_counter()
import asl_recog as asl
t1 = time.perf_counter()
train = asl.load_sign_mnist("train"); test = asl.load_sign_mnist("test")
t2 = time.perf_counter()
print(t1 - t0, t2 - t1, len(train), len(test))
"""


def run(env: dict[str, str]) -> tuple[float, float]:
    out = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, check=True)
    import_s, load_s, *_ = out.stdout.split()
    return float(import_s), float(load_s)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as cache:
        base = {**os.environ, "ASL_RECOG_CACHE": cache}
        cold = [run({**base, "ASL_RECOG_CACHE": "0"}) for _ in range(args.repeats)]
        run(base)  # fills the cache
        warm = [run(base) for _ in range(args.repeats)]
    rows = [
        ("`import asl_recog` (fresh process)", [c[0] for c in warm], "< 1 s"),
        ("load train + test, no cache (parse 35k CSV rows + validate)", [c[1] for c in cold], "≤ 2 s"),
        ("load train + test, cached arrays", [w[1] for w in warm], "≤ 2 s"),
    ]
    print(f"| step | median (s) | min..max (s) over {args.repeats} fresh processes | target |")
    print("|---|---|---|---|")
    for name, values, target in rows:
        print(f"| {name} | {statistics.median(values):.3f} | {min(values):.3f}..{max(values):.3f} | {target} |")


if __name__ == "__main__":
    main()
