"""Worker processes: starting them safely, capturing what they print, stopping them.

Workers are started with multiprocessing's ``spawn`` method (``fork`` would copy
TensorFlow's threads and locks). ``spawn`` runs a fresh interpreter that
re-imports the user's main script, so two set-ups cannot work and are refused at
once with the fix, instead of failing trial after trial:

* a script read from standard input (``python - <<EOF``) cannot be re-imported;
* a script without an ``if __name__ == "__main__":`` guard would, in every
  worker, run the whole search again (:func:`refuse_inside_worker_bootstrap`).

Each worker's stderr goes to ``<run_dir>/logs/worker_<k>.log`` so that, when a
worker dies before it can report, the error raised names what the worker itself
printed.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any

from asl_recog._console import stderr_fd_to
from asl_recog._environ import environment
from asl_recog._errors import ConfigurationError

#: Name prefix of worker processes.
WORKER_PREFIX = "asl-worker-"
_GUARD_FIX = (
    'put the code that calls fit() under `if __name__ == "__main__":` in a .py file and run that '
    "file (trial workers re-import it)"
)


def check_spawnable(in_process_hint: str = "") -> None:
    """Refuse, before any worker starts, a main script that worker processes cannot re-import.

    Args:
        in_process_hint: how this route can run trials in this process instead, if it can.

    Raises:
        ConfigurationError: the main script came from standard input or no longer exists.
    """
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None)
    # No __file__ (a notebook, a REPL, python -c): spawn does not re-import anything.
    if path is None or os.path.isfile(path):
        return
    alternative = f", or {in_process_hint}" if in_process_hint else ""
    raise ConfigurationError(
        f"trials run in worker processes, which re-import the main script, but it was read from {path!r} "
        f"and cannot be imported again. Fix: {_GUARD_FIX}{alternative}"
    )


def refuse_inside_worker_bootstrap() -> None:
    """Raise when called while a trial worker is importing the user's main script.

    An unguarded script calls ``fit()`` at import time; in a worker that would
    start a second search on the same run folder.
    """
    # While a spawned worker re-runs the main script (as "__mp_main__"), its process
    # already carries the name the search gave it (parent_process() is not set yet).
    if mp.current_process().name.startswith(WORKER_PREFIX):
        raise ConfigurationError(
            f"fit() was called while a trial worker process imported your script. Fix: {_GUARD_FIX}"
        )


def log_tail(path: Path, lines: int = 15) -> str:
    """The last ``lines`` lines a worker printed ('' when it printed nothing)."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.strip().splitlines()[-lines:])


def start_worker(target: Any, args: tuple[Any, ...], name: str, env: dict[str, str], log: Path) -> Any:
    """Start ``target(*args)`` in a spawned daemon process with ``env`` set and stderr sent to ``log``."""
    process = mp.get_context("spawn").Process(target=target, args=args, name=name, daemon=True)
    log.parent.mkdir(parents=True, exist_ok=True)
    # multiprocessing cannot redirect a spawned child's stderr: the child inherits fd 2 as it
    # is while it starts, so fd 2 points at the log for the milliseconds of start().
    with environment(env), open(log, "ab") as sink, stderr_fd_to(sink):
        process.start()
    return process


def watch_parent(parent_pid: int) -> None:
    """Start a thread that ends this worker when its parent dies (a SIGKILLed search leaves no orphans)."""

    def watch() -> None:
        while True:
            time.sleep(1.0)
            if os.getppid() != parent_pid:
                os._exit(3)

    threading.Thread(target=watch, daemon=True).start()


def stop(process: Any) -> None:
    """Terminate a worker, then kill it if it does not stop within 5 s."""
    process.terminate()
    process.join(5)
    if process.is_alive():
        process.kill()
        process.join()


def thread_env(threads: int) -> dict[str, str]:
    """Thread caps for a worker: BLAS/OpenMP pools that spin on a busy machine are very slow
    (a 2-thread OpenBLAS fit ran 17x slower than a 1-thread one on 2 shared cores)."""
    value = str(max(1, int(threads)))
    return {
        name: value for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "TF_NUM_INTRAOP_THREADS")
    }


__all__ = [
    "check_spawnable",
    "refuse_inside_worker_bootstrap",
    "start_worker",
    "watch_parent",
    "stop",
    "thread_env",
    "log_tail",
]
