"""What an Azure trial runs, and where: the entry-point command line, its requirements, the compute.

Trials run the packaged entry point ``python -m asl_recog.routes.hyperdrive.train_cnn`` with ``--data``
(the training part) and ``--validation`` folders, the trainer's constants (builder, seed,
fixed params, output folder) and the sampled parameters as ``--<name> <value>``. The
script logs validation ``accuracy`` and ``loss`` every epoch, so either can be the
sweep's primary metric, and saves ``outputs/model.keras``.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from asl_recog._errors import ConfigurationError
from asl_recog.backends._remote import SweepSpec

logger = logging.getLogger("asl_recog")

Sdk = Literal["v1", "v2"]


def cli_name(name: str) -> str:
    """The command-line flag of a parameter: ``hidden`` -> ``--hidden`` (as HyperDrive v1 keys are written)."""
    return f"--{name}"


def fixed_arguments(values: Mapping[str, Any]) -> list[Any]:
    """``{"epochs": 5}`` -> ``["--epochs", 5]`` (v1 ScriptRunConfig arguments)."""
    out: list[Any] = []
    for name, value in values.items():
        out += [cli_name(name), value]
    return out


#: Where a trial leaves its model (Azure uploads ``outputs/`` of every run).
OUTPUT_DIR = "outputs"
#: Python of the training image; SDK v1 (azureml-core) supports < 3.12.
TRAINING_PYTHON = "3.11"
TRAINING_IMAGE = "mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu22.04:latest"
#: The library's own requirements, used when asl-recog is run from a source tree (not installed).
_FALLBACK_REQUIREMENTS = (
    "numpy>=1.26",
    "pandas>=2.1",
    "scikit-learn>=1.4",
    "tensorflow>=2.16",
    "keras>=3.0",
    "onnx>=1.16",
    "onnxruntime>=1.18",
    "skl2onnx>=1.17",
    "tf2onnx>=1.16",
    "optuna>=4.0",
    "pillow>=10.0",
    "matplotlib>=3.8",
    "rich>=13.0",
    "pyyaml>=6.0",
)
#: What a trial needs on top, to log to the run: v1 ``Run.get_context()``, v2 MLflow to Azure.
TRACKING_REQUIREMENTS = {"v1": ("azureml-core>=1.55",), "v2": ("mlflow-skinny>=2.10", "azureml-mlflow>=1.55")}


def library_requirements() -> list[str]:
    """The installed asl-recog's requirements without extras (its distribution metadata)."""
    import importlib.metadata

    try:
        requires = importlib.metadata.requires("asl-recog") or []
    except importlib.metadata.PackageNotFoundError:
        return list(_FALLBACK_REQUIREMENTS)
    return [r for r in requires if "extra ==" not in r.replace("extra==", "extra ==")]


def training_requirements(sdk: Sdk) -> list[str]:
    return [*library_requirements(), *TRACKING_REQUIREMENTS[sdk]]


#: train_cnn's own options: a sampled or fixed parameter may not take these names.
RESERVED = ("data", "validation", "builder", "seed", "output_dir", "refit")


def entry_settings(spec: SweepSpec) -> dict[str, Any]:
    """The constant arguments of every trial: builder, seed and the fixed params."""
    settings: dict[str, Any] = {"builder": spec.builder}
    if spec.seed is not None:
        settings["seed"] = spec.seed
    settings.update(spec.fixed_params)
    settings["output_dir"] = OUTPUT_DIR
    return settings


def v1_arguments(spec: SweepSpec, train: Any, validation: Any) -> list[Any]:
    """ScriptRunConfig arguments (HyperDrive appends ``--<param> <value>`` for each sampled param)."""
    return ["--data", train, "--validation", validation, *fixed_arguments(entry_settings(spec))]


def v2_command(spec: SweepSpec, sampled: list[str]) -> tuple[str, dict[str, Any]]:
    """The v2 command line with ``${{inputs.<name>}}`` placeholders, and the constant inputs."""
    constants = entry_settings(spec)
    names = ["data", "validation", *constants, *sampled]
    command = " ".join(["python -m", spec.entry_module, *(f"{cli_name(n)} ${{{{inputs.{n}}}}}" for n in names)])
    return command, constants


# -- where to run ----------------------------------------------------------------------------------

#: Environment variable naming the compute target when ``from_config`` is not given one.
COMPUTE_ENV = "ASL_RECOG_AZURE_COMPUTE"
DEFAULT_COMPUTE = "cpu-cluster"


def compute_from_config(path: str | os.PathLike[str] | None, given: str | None) -> str:
    """The compute to use: given, else ``"compute"`` in config.json, else $ASL_RECOG_AZURE_COMPUTE, else cpu-cluster."""
    if given:
        return given
    if path is not None and Path(path).is_file():
        try:
            config = json.loads(Path(path).read_text())
        except ValueError as exc:
            raise ConfigurationError(
                f"{path}: not valid JSON ({exc}); download config.json again from the "
                "Azure portal (workspace overview > Download config.json)"
            ) from exc
        for key in ("compute", "compute_target"):
            if isinstance(config.get(key), str) and config[key]:
                return config[key]
    compute = os.environ.get(COMPUTE_ENV) or DEFAULT_COMPUTE
    logger.info("Azure ML: using compute %r (set %s or pass compute to choose another)", compute, COMPUTE_ENV)
    return compute
