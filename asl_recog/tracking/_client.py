"""The MLflow client of a tracked search: where it logs, and the one check of a run id read from a study.

MLflow is optional (extra ``mlflow``; ``mlflow-skinny`` from the ``azure`` extra is
enough for a client) and heavy to import, so it is loaded on first use through
:class:`~asl_recog._imports.LazyModule`. Every call here goes through an explicit
``MlflowClient(tracking_uri)``, never MLflow's fluent API: the fluent API keeps one
active run and one tracking URI per process, and a notebook that imports asl_recog may
have its own active run, which a search must neither end nor log into.
"""

from __future__ import annotations

import os
import re
import urllib.error
import urllib.request
from typing import Any

from asl_recog._errors import ConfigurationError
from asl_recog._imports import LazyModule

_MLFLOW = LazyModule("mlflow", package="mlflow", extra="mlflow", purpose="Tracking in MLflow")
_TRACKING = LazyModule("mlflow.tracking", package="mlflow", extra="mlflow", purpose="Tracking in MLflow")
_EXCEPTIONS = LazyModule("mlflow.exceptions", package="mlflow", extra="mlflow", purpose="Tracking in MLflow")
#: MLflow's entities (``Metric``, ``Param``), loaded on first use.
entities = LazyModule("mlflow.entities", package="mlflow", extra="mlflow", purpose="Tracking in MLflow")

#: MLflow's HTTP settings for every call of a search or the registry (set per call with
#: asl_recog._environ.environment). Its defaults retry a failed request 7 times with exponential
#: backoff (minutes): a server that went away would stall a search that long per trial, where a
#: warning and going on is right. Its client would also print two "View run ... at" lines to stdout
#: for every run it ends (and fetch the run again to do it); a search logs its parent's address once.
MLFLOW_CALLS = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "15",
    "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT": "true",
}
#: The first request of a search: no retry at all, so a wrong URI fails at once, with the fix.
MLFLOW_FIRST_CONTACT = {**MLFLOW_CALLS, "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0"}

#: The experiment searches log to, unless ``$MLFLOW_EXPERIMENT_NAME`` (MLflow's own variable) names another.
DEFAULT_EXPERIMENT = "asl-recog"
#: An MLflow run id: 32 lower-case hex digits. A run id read from a shared study is checked against it.
_RUN_ID = re.compile(r"[0-9a-f]{32}")


def check_tracking_uri(where: str, value: Any, *, allow_none: bool = True) -> None:
    """Raise ConfigurationError unless ``value`` is None or a tracking URI MLflow accepts.

    Example:
        >>> check_tracking_uri("tracking_uri", "http://127.0.0.1:5000")
        >>> check_tracking_uri("tracking_uri", 5000)
        Traceback (most recent call last):
        asl_recog._errors.ConfigurationError: tracking_uri must be an MLflow tracking URI ...
    """
    if value is None and allow_none:
        return
    if not isinstance(value, str) or not value.strip() or value != value.strip():
        raise ConfigurationError(
            f"{where} must be an MLflow tracking URI (e.g. 'http://127.0.0.1:5000', 'sqlite:///mlflow.db', "
            f"'databricks', or a folder), got {value!r}"
        )


def check_run_id(value: Any, where: str) -> str:
    """``value`` as an MLflow run id, or ConfigurationError: a run id read from outside is data, never more.

    Example:
        >>> check_run_id("0123456789abcdef0123456789abcdef", "the study")
        '0123456789abcdef0123456789abcdef'
    """
    if not isinstance(value, str) or not _RUN_ID.fullmatch(value):
        raise ConfigurationError(f"{where}: {value!r} is not an MLflow run id (32 hexadecimal digits)")
    return value


def experiment_name() -> str:
    """The experiment to log to: ``$MLFLOW_EXPERIMENT_NAME`` (as MLflow reads it), else :data:`DEFAULT_EXPERIMENT`."""
    return os.environ.get("MLFLOW_EXPERIMENT_NAME") or DEFAULT_EXPERIMENT


def check_reachable(tracking_uri: str, timeout_s: float = 5.0) -> None:
    """Raise ConfigurationError when an ``http(s)://`` tracking server does not answer at all.

    The one check of a tracked search made before its parent run is opened in the background
    (``_background.OpeningSearch``): a wrong address or a stopped server should stop the search
    at once, and this costs milliseconds where opening the run costs MLflow's import (about 2 s).
    It asks for MLflow's ``/health``, but any HTTP answer counts as reachable: a proxy or a hosted
    server may answer that path otherwise, and MLflow itself then says what is wrong. Other
    URIs (a folder, ``sqlite:///``, ``databricks``) have nothing to reach here.

    Example:
        >>> check_reachable("sqlite:///mlflow.db")  # nothing to reach: no request
        >>> check_reachable("http://127.0.0.1:9")
        Traceback (most recent call last):
        asl_recog._errors.ConfigurationError: tracking_uri='http://127.0.0.1:9': no MLflow server answered ...
    """
    if not tracking_uri.startswith(("http://", "https://")):
        return
    try:
        with urllib.request.urlopen(tracking_uri.rstrip("/") + "/health", timeout=timeout_s):
            pass
    except urllib.error.HTTPError:
        return  # it answered
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise ConfigurationError(
            f"tracking_uri={tracking_uri!r}: no MLflow server answered ({reason}). Fix: start the server or "
            "correct the URI, or leave tracking_uri unset to run without tracking"
        ) from exc


def client(tracking_uri: str) -> Any:
    """An ``MlflowClient`` for ``tracking_uri`` (and its model registry); MissingExtraError without MLflow."""
    return _TRACKING.MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)


def experiment_id(mlflow_client: Any, name: str | None = None) -> str:
    """The id of experiment ``name`` (default :func:`experiment_name`), created when missing.

    Two workers may create it at once; the loser of that race reads the winner's.
    """
    name = name or experiment_name()
    found = mlflow_client.get_experiment_by_name(name)
    if found is not None:
        return str(found.experiment_id)
    try:
        return str(mlflow_client.create_experiment(name))
    except _EXCEPTIONS.MlflowException:
        found = mlflow_client.get_experiment_by_name(name)
        if found is None:
            raise
        return str(found.experiment_id)


def mlflow_exception() -> type[Exception]:
    """MLflow's exception class (loaded lazily), for ``except`` clauses."""
    return _EXCEPTIONS.MlflowException


__all__ = [
    "DEFAULT_EXPERIMENT",
    "MLFLOW_CALLS",
    "MLFLOW_FIRST_CONTACT",
    "check_reachable",
    "check_run_id",
    "check_tracking_uri",
    "client",
    "entities",
    "experiment_id",
    "experiment_name",
    "mlflow_exception",
]
