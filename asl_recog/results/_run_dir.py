"""The run directory: where a search writes its study, models, logs and settings."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any


def default_run_dir(route_name: str) -> Path:
    """``runs/<route>-<YYYYmmdd-HHMMSS>``: a fresh folder per run when the trainer names none."""
    return Path("runs") / f"{route_name}-{time.strftime('%Y%m%d-%H%M%S')}"


def run_dir_of(trainer: Any) -> Path:
    """The trainer's ``run_dir`` setting, or a fresh default for its route (not created)."""
    return Path(trainer.run_dir) if trainer.run_dir is not None else default_run_dir(trainer.route.name)


def prepare_run_dir(trainer: Any) -> Path:
    """The trainer's run directory, created, with its settings recorded in ``settings.json``."""
    run_dir = run_dir_of(trainer)
    run_dir.mkdir(parents=True, exist_ok=True)
    plain = (int, float, str, bool, type(None), list, dict)

    def readable(value: Any) -> Any:  # a path as the path it names, not "PosixPath('runs/x')"
        return str(value) if isinstance(value, Path) else value if isinstance(value, plain) else repr(value)

    settings = {k: readable(v) for k, v in trainer.get_params().items()}
    (run_dir / "settings.json").write_text(json.dumps(settings, indent=2, default=repr))
    return run_dir


__all__ = ["default_run_dir", "prepare_run_dir", "run_dir_of"]
