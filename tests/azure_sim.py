"""A simulated Azure ML workspace for the conformance checks: it answers any job the backends submit.

The scripted fakes of tests/azure_fakes.py replay children and
artifacts a test wrote in advance. The conformance checks submit jobs of their own, so here the
same fakes are driven by a small simulation: every submitted job gets one completed child whose
model is really trained on the check's data (a KNN exported to ONNX the way Azure AutoML's look,
or a small Keras network as a sweep trial leaves), and whose logged metric is that model's real
validation accuracy, so every promise of the result can be checked against the model itself.
"""

from __future__ import annotations

import json
import math
import tempfile
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
from azure_fakes import FakeJobs, FakeMLClient, FakeParentRun, FakeRun, child, logged_run
from factories import azure_automl_onnx, small_keras_bytes

import asl_recog as asl


class Simulation:
    """Trains the stand-in models on the check's (train, validation) pair; seeded, so a rerun repeats."""

    def __init__(self, train: asl.SignMnistDataset, validation: asl.SignMnistDataset) -> None:
        self.train, self.validation = train, validation
        self.folder = Path(tempfile.mkdtemp(prefix="azure-sim-"))
        self.jobs = 0

    def _path(self, name: str) -> Path:
        self.jobs += 1
        return self.folder / f"{self.jobs}-{name}"

    def automl_onnx(self) -> tuple[bytes, float]:
        """A KNN on raw 0-255 pixels predicting dataset labels (Azure AutoML's ONNX shape); its accuracy."""
        from sklearn.neighbors import KNeighborsClassifier

        blob, _ = azure_automl_onnx(KNeighborsClassifier(3), self.train)
        path = self._path("model.onnx")
        path.write_bytes(blob)
        return blob, asl.Model.load(path).score(self.validation)

    def cnn_keras(self, *, refit: bool = False) -> tuple[bytes, list[float]]:
        """A small Keras network trained one epoch (on both parts for a refit); its validation curve."""
        data = self.train
        if refit:
            images = np.concatenate([self.train.images, self.validation.images])
            data = asl.SignMnistDataset(images, np.concatenate([self.train.labels, self.validation.labels]))
        folder = self._path("keras")
        blob = small_keras_bytes(folder, data)
        return blob, [asl.Model.load(folder / "model.keras").score(self.validation)]


def _middle(kind: str, low: float, high: float) -> float:
    return math.exp((low + high) / 2) if kind.startswith("log") else (low + high) / 2


def v2_sample(distribution: Any) -> Any:
    """One value of an azure.ai.ml sweep distribution: a choice's first value, else the range's middle."""
    values = getattr(distribution, "values", None)
    if values:
        return values[0]
    kind = type(distribution).__name__.lower()
    return _middle(kind, float(distribution.min_value), float(distribution.max_value))


def v1_sample(expression: list[Any]) -> Any:
    """One value of a v1 parameter expression such as ``["loguniform", [-6.5, -5.5]]``."""
    kind, args = expression
    if kind == "choice":
        return args[0][0]
    return _middle(kind, float(args[0]), float(args[1]))


def simulated_v2_client(simulation: Simulation, store: tuple[str, Any]) -> Any:
    """A FakeMLClient (tests/azure_fakes.py) whose jobs run through ``simulation``."""

    class SimulatedJobs(FakeJobs):
        def __init__(self) -> None:
            super().__init__([], {})
            self.children_of: dict[str, list[Any]] = {}

        def create_or_update(self, job: Any) -> Any:
            kind = type(job).__name__
            self.calls.append(("create_or_update", kind))
            self.submissions.append(job)
            name = f"job-{len(self.submissions)}"
            if kind == "ClassificationJob":
                blob, score = simulation.automl_onnx()
                run = logged_run(store, {"accuracy": [score]})
                self.children_of[name] = [child(run, "Completed", {"run_algorithm": "KNN"})]
                self.artifacts[run] = {"outputs/model.onnx": blob}
            elif kind == "Sweep":
                params = {key: v2_sample(d) for key, d in job.search_space.items()}
                blob, history = simulation.cnn_keras()
                run = logged_run(store, {"accuracy": history}, params)
                self.children_of[name] = [child(run, "Completed")]
                self.artifacts[run] = {"outputs/model.keras": blob}
            elif kind == "Command":  # the refit job
                self.artifacts[name] = {"outputs/model.keras": simulation.cnn_keras(refit=True)[0]}
            else:
                raise AssertionError(f"the simulation does not know the job type {kind}")
            return SimpleNamespace(name=name, studio_url=f"https://ml.azure.com/runs/{name}")

        def get(self, name: str) -> Any:
            self.calls.append(("get", name))
            return SimpleNamespace(name=name, status="Completed", tags={})

        def list(self, parent_job_name: str | None = None) -> list[Any]:
            self.calls.append(("list", parent_job_name))
            return self.children_of.get(str(parent_job_name), [])

    return FakeMLClient(SimulatedJobs(), tracking_uri=store[0])


def simulated_v1_experiment(simulation: Simulation) -> type:
    """A replacement for ``azureml.core.Experiment`` whose submits run through ``simulation``."""

    class SimulatedExperiment:
        submitted: list[Any] = []

        def __init__(self, workspace: Any, name: str) -> None:
            self.workspace, self.name = workspace, name

        def submit(self, config: Any, **kwargs: Any) -> Any:
            kind = type(config).__name__
            self.submitted.append(config)
            number = len(self.submitted)
            if kind == "AutoMLConfig":
                blob, score = simulation.automl_onnx()
                run = FakeRun(
                    f"AutoML_{number}_0",
                    "Completed",
                    {"accuracy": score},
                    {"run_algorithm": "KNN"},
                    {"outputs/model.onnx": blob},
                )
                return FakeParentRun([run])
            if kind == "HyperDriveConfig":
                space = config._generator_config["parameter_space"]
                params = {key: v1_sample(expression) for key, expression in space.items()}
                blob, history = simulation.cnn_keras()
                run = FakeRun(f"HD_{number}_0", "Completed", {"accuracy": history}, files={"outputs/model.keras": blob})
                return FakeParentRun([run], {run.id: json.dumps(params)})
            if kind == "ScriptRunConfig":  # the refit run
                refit = FakeParentRun([])
                refit.id, refit.files = f"refit_{number}", {"outputs/model.keras": simulation.cnn_keras(refit=True)[0]}
                return refit
            raise AssertionError(f"the simulation does not know the run configuration {kind}")

    return SimulatedExperiment
