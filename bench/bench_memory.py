"""Peak memory (resident set size) of training and of serving, each in a fresh process.

- training, HyperDrive route: one default-CNN trial, 2 epochs, on the real training file;
- training, AutoML route: a 3-minute search over PCA+KNN and extra trees (with augmentation);
- serving: the ONNX service under 2,000 single-image requests.

Usage: python bench/bench_memory.py
Prints a Markdown table. Peak RSS is the largest resident set of the job or any of its worker processes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TRAIN_CNN = """
import asl_recog as asl
result = asl.HyperDriveTrainer(max_total_runs=1, fixed_params={"epochs": 2}, progress=False,
                               run_dir=r"%(dir)s").fit(asl.load_sign_mnist("train"))
result.best_model.save(r"%(dir)s/cnn.keras")
asl.export_onnx(result.best_model, r"%(dir)s/cnn.onnx")
"""
TRAIN_AUTOML = """
import asl_recog as asl
asl.AutoMLTrainer(experiment_timeout_minutes=3, allowed_models=["KNN", "ExtremeRandomTrees"], progress=False,
                  run_dir=r"%(dir)s/automl").fit(asl.load_sign_mnist("train"))
"""


WRAPPER = """
import resource, subprocess, sys
subprocess.run([sys.executable, "-c", sys.argv[1]], check=True)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
"""


def peak_of(code: str) -> tuple[float, float]:
    """Run ``code`` in a fresh interpreter; return (peak RSS MiB of it and its children, seconds).

    RUSAGE_CHILDREN is a running maximum over every child ever waited for, so
    each job gets its own wrapper process to keep the peaks apart.
    """
    start = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", WRAPPER, code], check=True, stdout=subprocess.PIPE, text=True,
                         env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}).stdout
    return int(out.strip().splitlines()[-1]) / 1024, time.perf_counter() - start


def serving_peak(model: Path, requests: int = 2000) -> tuple[float, float]:
    import httpx

    import asl_recog as asl

    with asl.LocalDeployer().deploy(model, name="memory-bench") as endpoint:
        pid = endpoint.pid
        row = asl.load_sign_mnist("test").to_frame().iloc[1:2].drop(columns=["label"])
        body = {"data": json.loads(row.to_json(orient="records"))}
        headers = {"Authorization": f"Bearer {endpoint.keys[0]}"}
        start = time.perf_counter()
        with httpx.Client(headers=headers) as client:
            for _ in range(requests):
                client.post(endpoint.scoring_uri, json=body).raise_for_status()
        seconds = time.perf_counter() - start
        status = Path(f"/proc/{pid}/status").read_text()
        peak_kib = int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM")))
    return peak_kib / 1024, seconds


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        automl_mib, automl_s = peak_of(TRAIN_AUTOML % {"dir": folder})
        cnn_mib, cnn_s = peak_of(TRAIN_CNN % {"dir": folder})
        serve_mib, serve_s = serving_peak(Path(folder) / "cnn.onnx")
    print("| process | peak RSS (MiB) | wall time (s) |")
    print("|---|---|---|")
    print(f"| training, AutoML route (3-min search, PCA+KNN and extra trees) | {automl_mib:.0f} | {automl_s:.0f} |")
    print(f"| training, HyperDrive route (1 default-CNN trial, 2 epochs, + ONNX export) | {cnn_mib:.0f} | {cnn_s:.0f} |")
    print(f"| serving the default CNN (ONNX), after 2,000 requests | {serve_mib:.0f} | {serve_s:.0f} |")


if __name__ == "__main__":
    main()
