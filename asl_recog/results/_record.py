"""The run record of a trainer's result: the model's own facts, plus the search's selection and refit."""

from __future__ import annotations

import dataclasses
from typing import Any

from asl_recog.data._dataset import SignMnistDataset
from asl_recog.models._record import RunRecord, finite
from asl_recog.results._result import TrainingResult


def result_record(
    result: TrainingResult,
    *,
    name: str | None = None,
    train: SignMnistDataset | None = None,
    validation: SignMnistDataset | None = None,
    split: str | None = None,
    settings: dict[str, Any] | None = None,
) -> RunRecord:
    """The :class:`RunRecord` of ``result.best_model``: data, settings, selection and refit.

    Args:
        result: what the trainer's ``fit`` returned.
        name: the model's name (e.g. the route).
        train, validation: the data given to ``fit`` (rows and SHA-256 are recorded).
        split: how ``validation`` was split off, in words.
        settings: the trainer's settings.

    Example:
        >>> trainer = AutoMLTrainer(allowed_models=["KNN"], max_iterations=1, augment=False, progress=False)
        >>> result = trainer.fit(train, validation)
        >>> record = result_record(result, name="automl", train=train, validation=validation)
        >>> record.train_rows, record.validation_rows, record.primary_metric, record.refit
        (300, 100, 'accuracy', True)
    """
    record = RunRecord.from_model(
        result.best_model, name=name, train=train, validation=validation, split=split, settings=settings
    )
    info = result.best_model.info
    skipped = result.extras.get("refit_skipped")
    return dataclasses.replace(
        record,
        primary_metric=result.primary_metric,
        # The clean validation score of the selected trial (a robust search ranks by another score).
        validation_score=finite(info.get("validation_score", result.best_score)),
        trial=result.best_trial if result.best_trial is not None else record.trial,
        refit=bool(result.refit),
        refit_note=(
            f"refit declined: {skipped}"
            if skipped
            else (None if result.refit else "not refit: refit=False, or the backend does not refit")
        ),
    )


__all__ = ["result_record"]
