"""Screenshots of the MLflow UI with a real tracked search, for docs/tracking.md.

Starts ``mlflow server`` (SQLite store; tests/mlflow_server.py), runs a small real tracked
search in it (``HyperDriveTrainer(builder="seed")``, 6 trials of 3 epochs on 2,400
training images, two worker processes, a bandit policy, then the refit), opens the MLflow
UI in the system's Chromium (Playwright) and saves:

* ``docs/img/mlflow-runs.png``: the experiment's runs, the search's parent run expanded
  to its nested trial runs and refit run;
* ``docs/img/mlflow-charts.png``: the runs' charts (each trial's accuracy per epoch);
* ``docs/img/mlflow-trial.png``: one trial's run page (its params, metrics, tags and parent run).

Usage: .venv/bin/python tools/screenshot_mlflow.py [--out docs/img]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))


def search(tracking_uri: str, run_dir: Path) -> str:
    """Run the tracked search; return its parent run's id."""
    import numpy as np

    import asl_recog as asl

    fit_part, validation = asl.train_validation_split(asl.load_sign_mnist("train"), seed=0)
    rng = np.random.default_rng(0)

    def per_letter(data: asl.SignMnistDataset, n: int) -> asl.SignMnistDataset:
        picks = [rng.choice(np.flatnonzero(data.labels == c), n, replace=False) for c in np.unique(data.labels)]
        return data[np.sort(np.concatenate(picks))]

    trainer = asl.HyperDriveTrainer(
        builder="seed",
        max_total_runs=6,
        max_concurrent_runs=2,
        fixed_params={"epochs": 3},
        policy=asl.BanditPolicy(slack_factor=0.1, delay_evaluation=2),
        run_dir=run_dir,
        progress=False,
        tracking_uri=tracking_uri,
    )
    result = trainer.fit(per_letter(fit_part, 100), per_letter(validation, 30))
    return str(result.extras["mlflow"]["run_id"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default=str(ROOT / "docs" / "img"))
    args = parser.parse_args()
    from mlflow import MlflowClient
    from mlflow_server import start_mlflow_server, stop_mlflow_server
    from playwright.sync_api import sync_playwright

    os.environ["MLFLOW_EXPERIMENT_NAME"] = "asl-recog"
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        raise SystemExit("no chromium on PATH: apt-get install chromium")
    with tempfile.TemporaryDirectory(prefix="mlflow-shots-") as tmp:
        server = start_mlflow_server(Path(tmp) / "mlflow")
        try:
            parent = search(server.url, Path(tmp) / "runs" / "hyperdrive-demo")
            run = MlflowClient(server.url).get_run(parent)
            experiment = run.info.experiment_id
            trial = next(
                r
                for r in MlflowClient(server.url).search_runs([experiment])
                if r.data.tags.get("mlflow.parentRunId") == parent and r.info.run_name == "trial-1"
            )
            with sync_playwright() as driver:
                browser = driver.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
                page = browser.new_page(viewport={"width": 1500, "height": 700})
                page.goto(f"{server.url}/#/experiments/{experiment}/runs", wait_until="load")
                page.get_by_text("hyperdrive-demo").first.wait_for(timeout=60_000)
                assistant = page.locator("button[aria-label='Close']").first  # MLflow's chat panel
                if assistant.count():
                    assistant.click()
                # the parent run's expander: its nested runs are collapsed under it
                page.locator("button[data-component-id*='runnamecellrenderer']").first.click()
                page.get_by_text("trial-0").first.wait_for(timeout=30_000)
                page.wait_for_timeout(1500)
                page.screenshot(path=str(Path(args.out) / "mlflow-runs.png"))
                # the chart view: its radio input is hidden behind an icon, so it is clicked as a user's click would
                page.locator("input[name='runs-view-mode'][value='CHART']").evaluate("radio => radio.click()")
                page.wait_for_timeout(4000)
                page.screenshot(path=str(Path(args.out) / "mlflow-charts.png"))
                page.set_viewport_size({"width": 1500, "height": 840})
                page.goto(f"{server.url}/#/experiments/{experiment}/runs/{trial.info.run_id}", wait_until="load")
                page.get_by_text("learning_rate").first.wait_for(timeout=60_000)
                page.wait_for_timeout(1500)
                page.screenshot(path=str(Path(args.out) / "mlflow-trial.png"))
                browser.close()
        finally:
            stop_mlflow_server(server)
    print(f"wrote mlflow-runs.png, mlflow-charts.png and mlflow-trial.png in {args.out}")


if __name__ == "__main__":
    main()
