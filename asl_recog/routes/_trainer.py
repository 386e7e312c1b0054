"""The Trainer contract shared by both model routes, and the result it returns."""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from typing import Any, ClassVar

from sklearn.base import BaseEstimator

from asl_recog._deprecation import warn_renamed
from asl_recog._errors import ConfigurationError
from asl_recog.backends import check_backend_name, resolve_backend
from asl_recog.backends.local._workers import refuse_inside_worker_bootstrap
from asl_recog.data._dataset import as_dataset
from asl_recog.data._split import train_validation_split
from asl_recog.results import TrainingResult
from asl_recog.routes._route import Route
from asl_recog.routes._settings import check_common_settings, common_names, reject_unknown


class Trainer(BaseEstimator, ABC):
    """Base of the model routes: constructors store settings, ``fit`` runs the search.

    Settings are checked when the trainer is built (a bad space, policy, metric or
    limit raises :class:`ConfigurationError` at once), again by :meth:`set_params`
    and again in ``fit``, but stored unchanged, as in scikit-learn: ``get_params``,
    ``set_params``, ``sklearn.base.clone`` and the repr (non-default settings only)
    come from :class:`sklearn.base.BaseEstimator`. ``backend`` chooses where the
    search runs: ``None``/``"local"``, ``"azure"`` (SDK v2), ``"azureml"`` (SDK v1),
    ``"auto"``, or a backend object.

    The settings both routes share (budget, trial limit, concurrency, metric, model-size
    budget, seed, run_dir, resume, progress, refit, backend) keep each route's Azure name;
    :meth:`common_settings` gives them under one route-neutral name, for backends.

    Example:
        >>> trainer = HyperDriveTrainer(max_total_runs=2)  # or AutoMLTrainer(...): the same contract
        >>> trainer.get_params()["max_total_runs"]
        2
        >>> trainer.set_params(max_concurrent_runs=2)
        HyperDriveTrainer(max_concurrent_runs=2, max_total_runs=2)
        >>> trainer.common_settings()["concurrency"]
        2
        >>> tiny = HyperDriveTrainer(builder="seed", max_total_runs=1, progress=False,
        ...                          fixed_params={"hidden": 16, "batch_size": 64, "epochs": 1, "dropout": 0.1})
        >>> result = tiny.fit(train, validation)  # fit(load_sign_mnist("train")) makes the grouped split
        >>> result.best_params["hidden"], len(result.leaderboard)
        (16, 1)
    """

    #: what backends need from this route (its local plan, refit and Azure job kind); see :class:`Route`.
    route: ClassVar[Route]
    #: where the search runs (every trainer has this argument).
    backend: Any
    #: which column of :data:`COMMON_SETTINGS` names this trainer's shared settings.
    _settings_column: ClassVar[str] = ""
    #: the primary metrics this route knows.
    metrics: ClassVar[tuple[str, ...]] = ()
    #: deprecated argument name -> its current name; set_params and config files accept both.
    renamed_arguments: ClassVar[dict[str, str]] = {}

    def common_settings(self) -> dict[str, Any]:
        """The shared settings under route-neutral names, for backends and tools.

        Returns:
            concept -> value for every row of :data:`~asl_recog.routes._settings.COMMON_SETTINGS`:
            ``budget_minutes``, ``max_trials``, ``concurrency``, ``metric``,
            ``max_model_size_mb``, ``seed``, ``run_dir``, ``resume``, ``progress``,
            ``refit`` and ``backend``, read from this route's Azure-named arguments.

        Example:
            >>> AutoMLTrainer(experiment_timeout_minutes=5).common_settings()["budget_minutes"]
            5
        """
        params = self.get_params(deep=False)
        return {concept: params[name] for concept, name in common_names(self._settings_column).items()}

    def set_params(self, **params: Any) -> Trainer:
        """Change settings; the trainer is checked as if built with them, and left unchanged if invalid.

        Args:
            **params: constructor arguments; a deprecated name (``sampling``) is mapped,
                with a FutureWarning, to its current one.

        Returns:
            The trainer itself.

        Raises:
            ConfigurationError: an unknown name (with the nearest valid one) or an invalid value.
        """
        valid = self.get_params(deep=False)
        for old, new in self.renamed_arguments.items():
            if old in params:
                if new in params:
                    raise ConfigurationError(f"pass {new} only: {old} is its deprecated alias")
                warn_renamed(f"{type(self).__name__}.set_params({old}=...)", f"{new}=...")
                params[new] = params.pop(old)
        reject_unknown(params, valid, f"{type(self).__name__}.set_params", what="setting")
        super().set_params(**params)
        try:
            self._validate()
        except ConfigurationError:
            super().set_params(**{name: valid[name] for name in params})
            raise
        return self

    @abstractmethod
    def _validate(self) -> None:
        """Raise ConfigurationError on an invalid combination of settings."""

    def _check_common(self) -> None:
        """The checks of the settings both routes share, named as this route names them."""
        check_common_settings(self._settings_column, self.get_params(deep=False), self.metrics)

    def fit(self, train: Any, validation: Any = None) -> TrainingResult:
        """Search for the best model.

        Args:
            train: training data: a :class:`SignMnistDataset` or anything
                :func:`load_sign_mnist` accepts.
            validation: held-out data for model selection. None takes the grouped
                split of ``train`` (near-duplicates of one photo never straddle it).
                Never pass the test file: selecting on it makes the test score a lie.

        Returns:
            The best model with its leaderboard.
        """
        refuse_inside_worker_bootstrap()
        self._validate()
        train_data = as_dataset(train, split="train")
        if validation is None:
            seed = self.common_settings()["seed"] or 0
            train_data, validation_data = train_validation_split(train_data, seed=seed)
            self.validation_split_ = f"grouped (seed {seed})"  # fitted state, named as scikit-learn names it
        else:
            validation_data = as_dataset(validation, split="train")
            self.validation_split_ = "given"
        if len(train_data) == 0 or len(validation_data) == 0:
            raise ConfigurationError("training and validation data must both hold at least one image")
        backend = resolve_backend(self.backend)
        start = time.perf_counter()
        result = backend.fit(self, train_data, validation_data)
        result.duration_s = result.duration_s or time.perf_counter() - start
        return result

    def _check_backend(self) -> None:
        """Let a backend object reject settings it cannot express, at construction."""
        if self.backend is not None and not isinstance(self.backend, str):
            check = getattr(self.backend, "check", None)
            if check is not None:
                check(self)
        elif isinstance(self.backend, str):
            check_backend_name(self.backend)  # an unknown name fails here, not after the data is loaded


__all__ = ["Trainer"]
