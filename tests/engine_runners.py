"""Module-level trial runners for the engine's tests (worker processes import them by name)."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any

from asl_recog.backends.local._scheduler import TrialOutcome


def kill_first_runner(task: Any, reporter: Any) -> TrialOutcome:
    """Reports step 1; the first trial of the run then kills its own worker (SIGKILL), as a crash in
    native code would; every other trial completes with the value ``x / 10``."""
    value = task.params["x"] / 10
    reporter.report(1, value)
    try:
        with open(Path(task.run_dir) / "killed_once", "x") as marker:  # "x": one trial only, even in parallel
            marker.write(str(task.number))
    except FileExistsError:
        pass
    else:
        os.kill(os.getpid(), signal.SIGKILL)
    time.sleep(0.2)
    return TrialOutcome("complete", value, [value])


def sleep_runner(task: Any, reporter: Any) -> TrialOutcome:
    """Sleeps ``seconds`` (a parameter), then completes with the value 1: a trial of known length."""
    time.sleep(task.params["seconds"])
    return TrialOutcome("complete", 1.0, [1.0])
