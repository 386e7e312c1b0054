"""The StackEnsemble: a meta-learner over the best trials' validation probabilities, as Azure AutoML's.

The members are the best completed trials, already fitted on the training part; the
meta-learner (a multinomial logistic regression, Azure's default for classification)
learns from their predicted probabilities on the validation images, which none of them
was trained on. Its score is honest: the meta-learner's own predictions are made out of
fold, by a grouped K-fold over the validation images (near-duplicates of one photo stay
in one fold), and only then is it fitted on the whole validation set.

The fitted ensemble is a scikit-learn ``StackingClassifier`` assembled without refitting
its members, so skl2onnx converts it and the safe ``.aslskl`` format stores it.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import optuna

from asl_recog.data._dataset import SignMnistDataset
from asl_recog.data._labels import NUM_CLASSES, labels_to_indices
from asl_recog.data._split import similarity_groups
from asl_recog.evaluation._metrics import score
from asl_recog.models._base import SklearnModel
from asl_recog.routes._settings import DEFAULT_MAX_MODEL_SIZE_MB
from asl_recog.routes.automl._ensemble_trials import add_ensemble_trial, member_candidates, member_probabilities
from asl_recog.routes.automl._portfolio import STACK_ENSEMBLE

logger = logging.getLogger("asl_recog")

#: Members of the stack: the best trials, up to this many (Azure stacks a handful too).
STACK_MEMBERS = 5
#: Folds of the out-of-fold score of the meta-learner.
FOLDS = 5


def meta_learner(seed: int = 0) -> Any:
    """The unfitted meta-learner: logistic regression on the members' concatenated probabilities."""
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=1.0, max_iter=1000, random_state=seed)


def fit_meta_learner(
    probas: list[np.ndarray], targets: np.ndarray, groups: np.ndarray, seed: int = 0
) -> tuple[Any, np.ndarray]:
    """Fit the meta-learner on all validation rows; return it with its out-of-fold probabilities.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> targets = np.arange(48) % 24
        >>> good = np.eye(24)[targets] * 0.9 + 0.1 / 24
        >>> meta, oof = fit_meta_learner([good, rng.dirichlet(np.ones(24), 48)], targets, np.arange(48) // 2)
        >>> oof.shape, float((oof.argmax(1) == targets).mean()) > 0.5
        ((48, 24), True)
    """
    # A loop rather than cross_val_predict: a class missing from a training fold gets no
    # predict_proba column there, and the columns must be placed by class.
    from sklearn.model_selection import GroupKFold

    features = np.hstack(probas).astype(np.float32)
    folds = min(FOLDS, len(np.unique(groups)))
    oof = np.zeros((len(targets), NUM_CLASSES))
    if folds >= 2:
        for fit_rows, held_rows in GroupKFold(folds).split(features, targets, groups):
            model = meta_learner(seed).fit(features[fit_rows], targets[fit_rows])
            oof[np.ix_(held_rows, model.classes_)] = model.predict_proba(features[held_rows])
    else:  # one group only: nothing to hold out, so the score is the members' mean (no meta-learning credit)
        oof = np.mean(probas, axis=0)
    return meta_learner(seed).fit(features, targets), oof


def stack_ensemble(estimators: list[Any], meta: Any) -> Any:
    """A fitted ``StackingClassifier`` over already-fitted members and a fitted meta-learner (no refit).

    Example:
        >>> from asl_recog.routes.automl._portfolio import build_pipeline
        >>> x, y = train.flat, labels_to_indices(train.labels)
        >>> members = [build_pipeline(a, {}).fit(x, y) for a in ("LogisticRegression", "KNN")]
        >>> probas = [m.predict_proba(validation.flat) for m in members]
        >>> meta, _ = fit_meta_learner(probas, labels_to_indices(validation.labels), np.arange(100) // 4)
        >>> stack_ensemble(members, meta).predict_proba(validation.flat).shape
        (100, 24)
    """
    from sklearn.ensemble import StackingClassifier
    from sklearn.preprocessing import LabelEncoder
    from sklearn.utils import Bunch

    named = [(f"model{i}", est) for i, est in enumerate(estimators)]
    stack = StackingClassifier(named, final_estimator=meta, stack_method="predict_proba", passthrough=False)
    # The fitted state StackingClassifier.fit would set, without refitting the members.
    stack.estimators_ = list(estimators)
    stack.named_estimators_ = Bunch(**dict(named))
    stack.stack_method_ = ["predict_proba"] * len(estimators)
    stack.final_estimator_ = meta
    stack._label_encoder = LabelEncoder().fit(np.arange(NUM_CLASSES))
    stack.classes_ = stack._label_encoder.classes_
    return stack


def add_stack_ensemble(
    study: optuna.Study,
    run_dir: Path,
    metric: str,
    validation: SignMnistDataset,
    max_model_size_mb: float = DEFAULT_MAX_MODEL_SIZE_MB,
    onnx: bool = True,
    seed: int = 0,
    extra_info: dict[str, Any] | None = None,
    max_latency_ms: float | None = None,
) -> None:
    """Add a StackEnsemble of the best trials to the study, when the exported stack fits the
    model-size and latency budgets (members over ``max_latency_ms`` already failed their trials)."""
    trials = member_candidates(study, STACK_MEMBERS)
    if len(trials) < 2:
        logger.info("stack ensemble: fewer than two completed trials; none added")
        return
    targets = labels_to_indices(validation.labels)
    probas = member_probabilities(trials)
    meta, oof = fit_meta_learner(probas, targets, similarity_groups(validation), seed)
    value = score(metric, targets, oof)
    stack = stack_ensemble([SklearnModel.load(t.user_attrs["model_file"]).estimator for t in trials], meta)
    params = {"algorithm": STACK_ENSEMBLE, "members": [t.number for t in trials], "meta_learner": "LogisticRegression"}
    info = {
        "algorithm": STACK_ENSEMBLE,
        "validation_score": value,
        "validation_score_kind": f"out-of-fold ({FOLDS}-fold grouped) meta-learner predictions",
        "primary_metric": metric,
        "members": [t.user_attrs["params"]["algorithm"] for t in trials],
        "training_seconds": sum(t.user_attrs.get("info", {}).get("training_seconds", 0.0) for t in trials),
        **(extra_info or {}),
    }
    if add_ensemble_trial(
        study,
        stack,
        params,
        info,
        value,
        run_dir=run_dir,
        file_stem="stack",
        what="stack ensemble",
        max_model_size_mb=max_model_size_mb,
        onnx=onnx,
        max_latency_ms=max_latency_ms,
    ):
        logger.info("stack ensemble of trials %s: %s=%.4f (out of fold)", params["members"], metric, value)


__all__ = ["FOLDS", "STACK_MEMBERS", "add_stack_ensemble", "fit_meta_learner", "meta_learner", "stack_ensemble"]
