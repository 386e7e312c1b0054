"""Save a :class:`~asl_recog.TrainingResult` as a folder of JSON, CSV and model files, and read it back.

No pickle anywhere: a pickle runs code when it is read, and a result folder is the kind of thing
people share. The models go through their own ``save``/``Model.load`` (Keras files, ONNX, or the
allow-listed ``.aslskl`` format), which are safe to read.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from asl_recog._errors import ModelFileError
from asl_recog.models._base import Model

RESULT_FILE = "result.json"
LEADERBOARD_FILE = "leaderboard.csv"
#: Columns of the leaderboard holding lists or mappings: written to the CSV as JSON text.
JSON_COLUMNS = ("params", "history")


def json_safe(value: Any) -> Any:
    """``value`` with what JSON cannot hold converted.

    Converted: NumPy scalars to Python numbers, arrays and tuples to lists, paths and other
    objects to ``str``, and NaN/inf to None (JSON has no NaN; ``json.dumps`` would write
    ``NaN``, which other readers refuse). Mapping keys become strings.

    Example:
        >>> json_safe({"n": np.int64(3), "shape": (28, 28), "score": float("nan"), "dir": Path("runs")})
        {'n': 3, 'shape': [28, 28], 'score': None, 'dir': 'runs'}
    """
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, np.ndarray)):
        return [json_safe(v) for v in (value.tolist() if isinstance(value, np.ndarray) else value)]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        number = float(value)
        return number if math.isfinite(number) else None
    if value is None or isinstance(value, str):
        return value
    return str(value)


def write_leaderboard(board: pd.DataFrame, path: str | os.PathLike[str]) -> Path:
    """Write a leaderboard as CSV, ``params`` and ``history`` as JSON text (any tool reads it); return the path."""
    board = board.copy()
    for column in JSON_COLUMNS:
        if column in board:
            board[column] = [json.dumps(json_safe(v)) for v in board[column]]
    board.to_csv(path, index=False)
    return Path(path)


def save_result(result: Any, path: str | os.PathLike[str]) -> Path:
    """Write ``result`` into the folder ``path`` (created); return the folder."""
    folder = Path(path)
    folder.mkdir(parents=True, exist_ok=True)
    files = {"best_model": result.best_model.save(folder / "best_model").name}
    if result.trial_model is not None:
        files["trial_model"] = result.trial_model.save(folder / "trial_model").name
    write_leaderboard(result.leaderboard, folder / LEADERBOARD_FILE)
    record = {
        "best_params": result.best_params,
        "best_score": result.best_score,
        "primary_metric": result.primary_metric,
        "run_dir": None if result.run_dir is None else str(result.run_dir),
        "backend": result.backend,
        "duration_s": result.duration_s,
        "extras": result.extras,
        "best_trial": result.best_trial,
        "refit": result.refit,
        "refit_seconds": result.refit_seconds,
        "files": files,
    }
    (folder / RESULT_FILE).write_text(json.dumps(json_safe(record), indent=2), encoding="utf-8")
    return folder


def load_fields(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The keyword arguments of ``TrainingResult`` read back from a folder written by :func:`save_result`.

    Raises:
        ModelFileError: the folder holds no ``result.json``.
    """
    folder = Path(path)
    if not (folder / RESULT_FILE).is_file():
        raise ModelFileError(f"{folder}: no {RESULT_FILE} here; give a folder written by TrainingResult.save")
    record = json.loads((folder / RESULT_FILE).read_text(encoding="utf-8"))
    files = record.pop("files")
    board = pd.read_csv(folder / LEADERBOARD_FILE)
    for column in JSON_COLUMNS:
        if column in board:
            board[column] = [json.loads(v) if isinstance(v, str) else v for v in board[column]]
    if "error" in board:  # an empty cell reads as NaN; the leaderboard's "no error" is None
        errors = [v if isinstance(v, str) else None for v in board["error"]]
        board["error"] = pd.Series(errors, index=board.index, dtype=object)
    score = record["best_score"]
    return {
        **record,
        "best_score": math.nan if score is None else float(score),
        "run_dir": None if record["run_dir"] is None else Path(record["run_dir"]),
        "leaderboard": board,
        "best_model": Model.load(folder / files["best_model"]),
        "trial_model": Model.load(folder / files["trial_model"]) if "trial_model" in files else None,
    }


__all__ = [
    "JSON_COLUMNS",
    "LEADERBOARD_FILE",
    "RESULT_FILE",
    "json_safe",
    "load_fields",
    "save_result",
    "write_leaderboard",
]
