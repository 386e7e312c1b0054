"""AutoMLTrainer: automated model selection and tuning, Azure Automated ML style."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from asl_recog._errors import ConfigurationError
from asl_recog.evaluation._metrics import AUTOML_PRIMARY_METRICS
from asl_recog.models._featurization import featurizers_of
from asl_recog.routes._settings import DEFAULT_MAX_MODEL_SIZE_MB, check_positive_number, reject_unknown
from asl_recog.routes._trainer import Trainer
from asl_recog.routes.automl._portfolio import ALGORITHMS
from asl_recog.routes.automl._route import AUTOML

#: Classification metrics AutoMLConfig can select by, named as there.
METRICS = AUTOML_PRIMARY_METRICS


class AutoMLTrainer(Trainer):
    """Choose and tune a scikit-learn pipeline automatically, with AutoMLConfig's settings.

    Args:
        task: only ``"classification"``.
        primary_metric: one of :data:`METRICS`.
        experiment_timeout_minutes: budget of the whole search. Running trials are stopped
            when it ends, with one exception: while no trial has finished, they may go on for
            up to half the budget more (within ``iteration_timeout_minutes``), so that a machine
            slower than the probes measured costs time rather than the model.
        iteration_timeout_minutes: budget of one trial; a slower trial is recorded as failed.
        max_iterations: the most trials (None: until the timeout).
        enable_early_stopping: stop when the best score has not improved for a while.
        max_concurrent_iterations: trials run at once (separate processes locally).
        enable_onnx_compatible_models: only pipelines that convert to ONNX: locally every trial's
            model is converted, and one that does not convert is recorded as failed with the reason.
        allowed_models: restrict the portfolio to these :data:`ALGORITHMS`.
        blocked_models: drop these from the portfolio.
        enable_voting_ensemble: add a soft-voting ensemble of the best models at the end.
        enable_stack_ensemble: add a StackEnsemble at the end: a logistic-regression
            meta-learner over the best models' validation probabilities, scored out of fold.
            Off by default (Azure's default is on): it adds a conversion of up to five
            members to the end of every search.
        featurization: ``"auto"`` (the search chooses, per pipeline, between HOG features
            and raw pixels, HOG first), ``"off"`` (raw pixels only) or a
            :class:`~asl_recog.FeaturizationConfig` (Azure's three values). The featurizer
            is part of the model and of its ONNX graph.
        augment: add one corrupted copy of each training image (training only): every family of
            the corruption benchmark within training's ranges, drawn at random before HOG
            (:func:`asl_recog.data.augment`).
        max_model_size_mb: the model-size budget in MB (10**6 bytes), for the larger of the
            saved training-side file and the ONNX graph; a candidate over it is recorded
            as failed with the reason. 100 MB keeps the scoring service of the winner
            under 300 MiB of memory, so it fits a 1 GB container.
        max_latency_ms: the latency budget (AutoGluon's ``infer_limit``): milliseconds to score
            one image with the candidate's ONNX graph on ONNX Runtime, one thread. Each
            candidate's graph is timed where its size is checked, as the minimum over 50 calls
            times a margin of 2 (``models/_latency.py``); one over the limit is recorded as
            failed with the reason and never enters an ensemble; an ensemble is kept only when
            the exported ensemble itself fits (its slowest members are dropped until it does);
            a refit model over it is declined for the trial's own. None (the default) measures
            nothing. A measured gate: it is outside the repeatability that ``seed`` gives.
            Needs ``enable_onnx_compatible_models=True``.
        refit: after the search, retrain the selected configuration on all the data
            given to ``fit`` (training part plus validation); ``best_model`` is then
            the refit model. False keeps the best trial's own model.
        seed: seeds the sampler, the probes' sample, the augmentation and every model. What it
            guarantees depends on the budget. With ``max_iterations`` and
            ``max_concurrent_iterations=1`` (the repeatable mode) the same settings and data choose
            the same algorithms in the same order on any machine, under any load: no fit is
            timed to decide the order (the baseline, then a static cheap-first order); only
            trials stopped by the time limits, and the ``max_latency_ms`` gate, can differ.
            With a time budget only, the order comes from fit times measured at the start
            (probes, at most 10% of the budget), so a busy machine can skip, defer or stop
            different algorithms: the seed then fixes each trial's configuration and result
            given the same order, not which trials run.
        run_dir: where the study and models go (default ``runs/automl-<time>``).
        resume: continue the search stored in ``run_dir``.
        progress: show a live progress table.
        tracking_uri: an MLflow tracking URI (``http://host:5000``, ``sqlite:///mlflow.db``) to log the
            search to: a parent run with a nested run per trial and one for the refit (extra ``mlflow``;
            local backend; see ``docs/tracking.md``). None (the default) tracks nothing.
        backend: where to run: None/"local", "azure", "azureml", "auto", or a backend object.

    Settings are stored as given and checked at once, by ``set_params`` and again in
    ``fit``; ``get_params``, ``set_params`` and ``sklearn.base.clone`` work as for a
    scikit-learn estimator, and the repr shows the settings that differ from the defaults.

    Example:
        >>> from asl_recog import AutoMLTrainer
        >>> trainer = AutoMLTrainer(experiment_timeout_minutes=5, allowed_models=["SVM", "ExtremeRandomTrees"])
        >>> trainer  # the settings that differ from the defaults
        AutoMLTrainer(allowed_models=['SVM', 'ExtremeRandomTrees'],
                      experiment_timeout_minutes=5)
        >>> tiny = AutoMLTrainer(allowed_models=["KNN"], max_iterations=1, augment=False, progress=False)
        >>> result = tiny.fit(train, validation)  # fit(load_sign_mnist("train")) makes the grouped split
        >>> result.best_params["featurizer"]  # featurization="auto": HOG features first (0.36 on raw pixels)
        'hog'
        >>> result.leaderboard[["model", "accuracy", "status"]]
          model  accuracy     status
        0   KNN      0.6...  completed
    """

    route = AUTOML
    _settings_column = "automl"
    metrics = METRICS

    def __init__(
        self,
        task: str = "classification",
        primary_metric: str = "accuracy",
        experiment_timeout_minutes: float = 15,
        iteration_timeout_minutes: float = 5,
        max_iterations: int | None = None,
        enable_early_stopping: bool = True,
        max_concurrent_iterations: int = 1,
        enable_onnx_compatible_models: bool = True,
        allowed_models: Sequence[str] | None = None,
        blocked_models: Sequence[str] | None = None,
        enable_voting_ensemble: bool = True,
        enable_stack_ensemble: bool = False,
        featurization: Any = "auto",
        augment: bool = True,
        max_model_size_mb: float = DEFAULT_MAX_MODEL_SIZE_MB,
        max_latency_ms: float | None = None,
        refit: bool = True,
        seed: int | None = 0,
        run_dir: str | Path | None = None,
        resume: bool = False,
        progress: bool = True,
        tracking_uri: str | None = None,
        backend: Any = None,
    ) -> None:
        self.task = task
        self.primary_metric = primary_metric
        self.experiment_timeout_minutes = experiment_timeout_minutes
        self.iteration_timeout_minutes = iteration_timeout_minutes
        self.max_iterations = max_iterations
        self.enable_early_stopping = enable_early_stopping
        self.max_concurrent_iterations = max_concurrent_iterations
        self.enable_onnx_compatible_models = enable_onnx_compatible_models
        self.allowed_models = allowed_models
        self.blocked_models = blocked_models
        self.enable_voting_ensemble = enable_voting_ensemble
        self.enable_stack_ensemble = enable_stack_ensemble
        self.featurization = featurization
        self.augment = augment
        self.max_model_size_mb = max_model_size_mb
        self.max_latency_ms = max_latency_ms
        self.refit = refit
        self.seed = seed
        self.run_dir = run_dir
        self.resume = resume
        self.progress = progress
        self.tracking_uri = tracking_uri
        self.backend = backend
        self._validate()

    def algorithms(self) -> list[str]:
        """The portfolio after ``allowed_models`` and ``blocked_models``."""
        chosen = list(self.allowed_models) if self.allowed_models else list(ALGORITHMS)
        return [a for a in chosen if a not in set(self.blocked_models or ())]

    def _validate(self) -> None:
        if self.task != "classification":
            raise ConfigurationError(f"task must be 'classification' (sign images are classified), got {self.task!r}")
        check_positive_number("iteration_timeout_minutes", self.iteration_timeout_minutes)
        for name in ("allowed_models", "blocked_models"):
            value = getattr(self, name)
            if value is None:
                continue
            if isinstance(value, str) or not isinstance(value, Sequence):
                raise ConfigurationError(f"{name} must be a list of algorithm names, got {value!r}")
            reject_unknown(value, ALGORITHMS, name, what="algorithm")
        if not self.algorithms():
            raise ConfigurationError("allowed_models minus blocked_models leaves no algorithm to try")
        featurizers_of(self.featurization)  # "auto", "off" or a FeaturizationConfig
        check_positive_number("max_latency_ms", self.max_latency_ms, allow_none=True)
        if self.max_latency_ms is not None and not self.enable_onnx_compatible_models:
            raise ConfigurationError(
                "max_latency_ms times each candidate's ONNX graph, so it needs enable_onnx_compatible_models=True"
            )
        self._check_common()
        self._check_backend()
