"""Trial workers: set-ups they cannot start in fail at once with the fix, never in a loop;
a search never trains one configuration twice."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import asl_recog as asl

SEARCH = """
import asl_recog as asl
train = asl.load_sign_mnist("train")[:2400]
asl.AutoMLTrainer(allowed_models=["KNN"], augment=False, experiment_timeout_minutes=2, max_iterations=3, progress=False,
                  run_dir=r"{run_dir}").fit(train[:1800], train[1800:])
print("finished")
"""


def _run(command: list[str], cwd: Path, stdin: str | None = None) -> tuple[subprocess.CompletedProcess[str], float]:
    start = time.perf_counter()
    done = subprocess.run(command, input=stdin, capture_output=True, text=True, cwd=cwd, timeout=300)
    return done, time.perf_counter() - start


def test_a_script_on_standard_input_is_refused_before_any_worker_starts(tmp_path: Path) -> None:
    done, seconds = _run([sys.executable, "-"], tmp_path, stdin=SEARCH.format(run_dir=tmp_path / "run"))
    assert done.returncode != 0 and "finished" not in done.stdout
    assert "ConfigurationError" in done.stderr and "<stdin>" in done.stderr
    assert 'if __name__ == "__main__":' in done.stderr
    assert not (tmp_path / "run" / "logs").exists()  # no worker was ever started
    assert seconds < 60


def test_an_unguarded_script_stops_after_three_failed_workers_with_their_own_error(tmp_path: Path) -> None:
    script = tmp_path / "unguarded.py"
    script.write_text(SEARCH.format(run_dir=tmp_path / "run"))
    done, _ = _run([sys.executable, str(script)], tmp_path)
    assert done.returncode != 0 and "finished" not in done.stdout
    assert "TrialFailedError: 3 trials in a row failed" in done.stderr
    # The error carries what the worker itself printed, and the fix.
    assert "fit() was called while a trial worker process imported your script" in done.stderr
    assert 'if __name__ == "__main__":' in done.stderr
    assert len(list((tmp_path / "run" / "logs").glob("worker_*.log"))) == 3  # three workers, each its own log


def test_a_guarded_script_runs(tmp_path: Path) -> None:
    script = tmp_path / "guarded.py"
    body = SEARCH.format(run_dir=tmp_path / "run").replace("asl.AutoMLTrainer", "result = asl.AutoMLTrainer")
    script.write_text('if __name__ == "__main__":\n' + textwrap.indent(body, "    "))
    done, _ = _run([sys.executable, str(script)], tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "finished" in done.stdout


def test_one_configuration_is_never_trained_twice(small_split, tmp_path: Path) -> None:
    train, validation = small_split
    space = {"hidden": asl.choice(8, 16), "dropout": asl.choice(0.1, 0.2)}  # four configurations
    trainer = asl.HyperDriveTrainer(
        builder="seed",
        hyperparameter_sampling=asl.RandomParameterSampling(space),
        fixed_params={"epochs": 1, "batch_size": 256},
        max_total_runs=10,
        refit=False,
        run_dir=tmp_path / "run",
        progress=False,
    )
    result = trainer.fit(train[::4], validation[::4])
    tried = [tuple(sorted((k, v) for k, v in params.items() if k in space)) for params in result.leaderboard["params"]]
    assert len(tried) == len(set(tried)) == 4  # every configuration once, then the exhausted space ends it
    assert len(list((tmp_path / "run" / "models").glob("trial_*.keras"))) == 4


def test_check_spawnable_accepts_notebooks_and_files(monkeypatch: pytest.MonkeyPatch) -> None:
    from asl_recog.backends.local._workers import check_spawnable

    main = sys.modules["__main__"]
    monkeypatch.delattr(main, "__file__", raising=False)  # a notebook or python -c has no __file__
    check_spawnable()
    monkeypatch.setattr(main, "__file__", __file__, raising=False)
    check_spawnable()
    monkeypatch.setattr(main, "__file__", "<stdin>", raising=False)
    with pytest.raises(asl.ConfigurationError, match="cannot be imported again"):
        check_spawnable("set max_concurrent_runs=1")
