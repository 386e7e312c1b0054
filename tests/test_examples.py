"""The examples run end to end on the real data: quickstart.py in a subprocess, the tour notebook with nbclient."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import asl_recog as asl

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
NOTEBOOK = EXAMPLES / "asl_recog_tour.ipynb"
#: Appended to the notebook in memory only: prints the results the test checks.
CHECK_CELL = """
print("ASL-RECOG-CHECK " + json.dumps({
    "split": split_table.to_dict(orient="index"),
    "best": comparison.best,
    "response": response,
    "true_labels": test[1:10].labels.tolist(),
    "onnx_exists": os.path.isfile(onnx_path),
}))
"""


def _env() -> dict[str, str]:
    return {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONUNBUFFERED": "1"}


def test_quickstart_is_short() -> None:
    lines = (EXAMPLES / "quickstart.py").read_text(encoding="utf-8").splitlines()
    assert len(lines) <= 15, f"examples/quickstart.py has {len(lines)} lines; the promise is 15 at most"


def test_notebook_is_stored_without_outputs() -> None:
    nbformat = pytest.importorskip("nbformat")
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(notebook)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert code, "the notebook has no code cells"
    assert all(not cell.outputs and cell.execution_count is None for cell in code), (
        "store the notebook without outputs (clear them before committing)"
    )
    assert any("parameters" in cell.metadata.get("tags", []) for cell in code), "the parameters cell is missing"


@pytest.mark.slow
def test_quickstart_runs(tmp_path: Path) -> None:
    run = subprocess.run(
        [sys.executable, str(EXAMPLES / "quickstart.py")],
        cwd=tmp_path,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert run.returncode == 0, f"quickstart.py failed:\n{run.stdout[-3000:]}\n{run.stderr[-5000:]}"
    match = re.search(r"predicted: ([A-Y]{9}) \| true: ([A-Y]{9})", run.stdout)
    assert match, f"no prediction line in the output:\n{run.stdout[-3000:]}"
    assert match.group(2) == "".join(asl.load_sign_mnist("test")[1:10].letters)
    assert set(match.group(1)) <= set(asl.LETTERS)
    assert "Best by accuracy:" in run.stdout  # the Comparator's verdict
    assert (tmp_path / "runs" / "quickstart" / "best.onnx").is_file()


@pytest.mark.slow
def test_tour_notebook_runs(tmp_path: Path) -> None:
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    from ipykernel.kernelspec import write_kernel_spec
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import KernelManager

    # A kernel spec that runs this very interpreter (the venv's), whatever "python3" means elsewhere.
    kernels = tmp_path / "kernels"
    write_kernel_spec(kernels / "asl-recog-test")
    km = KernelManager(kernel_name="asl-recog-test", kernel_spec_manager=KernelSpecManager(kernel_dirs=[str(kernels)]))
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    notebook.cells.append(nbformat.v4.new_code_cell(CHECK_CELL))
    work = tmp_path / "work"
    work.mkdir()
    old_env = dict(os.environ)
    os.environ.update(_env())  # the kernel inherits this process's environment
    try:
        client = nbclient.NotebookClient(notebook, km=km, timeout=600, resources={"metadata": {"path": str(work)}})
        client.execute()
    finally:
        os.environ.clear()
        os.environ.update(old_env)
        nbformat.write(notebook, tmp_path / "executed.ipynb")  # kept for inspection when a check fails

    text = "".join(out.get("text", "") for out in notebook.cells[-1].outputs if out.output_type == "stream")
    assert "ASL-RECOG-CHECK " in text, f"the check cell printed nothing: {notebook.cells[-1].outputs}"
    found = json.loads(text.split("ASL-RECOG-CHECK ", 1)[1])
    # The seed request's answer: 9 dataset labels with their letters, single-encoded JSON.
    result = found["response"]["result"]
    assert len(result) == 9 and all(label in asl.LABELS for label in result)
    assert list(found["response"]["letters"]) == list(asl.labels_to_letters(result))
    assert found["best"] in ("automl", "cnn") and found["onnx_exists"]
    # The split demo shows the random split overstating accuracy more than the grouped one.
    split = found["split"]
    assert split["random"]["validation accuracy"] > split["grouped"]["validation accuracy"]
    assert split["random"]["gap"] > split["grouped"]["gap"]
    # Plots were drawn: the sample grid and the confusion matrix.
    images = [
        out
        for cell in notebook.cells
        if cell.cell_type == "code"
        for out in cell.outputs
        if "image/png" in out.get("data", {})
    ]
    assert len(images) >= 2
    # The AutoML search showed its progress in the notebook: one HTML output, updated in place.
    tables = [
        out["data"]["text/html"]
        for cell in notebook.cells
        if cell.cell_type == "code"
        for out in cell.outputs
        if out.output_type in ("display_data", "update_display_data") and "text/html" in out.get("data", {})
    ]
    assert any("trials done" in table and "elapsed" in table for table in tables), tables[:1]
    noise = [
        out.get("text", "")
        for cell in notebook.cells
        if cell.cell_type == "code"
        for out in cell.outputs
        if out.output_type == "stream" and out.get("name") == "stderr"
    ]
    assert not any("IProgress not found" in text or "np.object" in text for text in noise), noise
    # The seed-request cell printed the raw reply: one json.loads gives the dict (not a JSON string).
    seed_cell = next(c for c in notebook.cells if "seed-request" in c.metadata.get("tags", []))
    printed = "".join(out.get("text", "") for out in seed_cell.outputs if out.output_type == "stream")
    raw = next(line for line in printed.splitlines() if line.startswith("{"))
    assert json.loads(raw)["result"] == result
