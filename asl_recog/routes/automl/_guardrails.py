"""Data guardrails of the AutoML route, reported as Azure AutoML reports them: passed, done or alerted.

Azure checks the data before its search and tells the user what it found (*passed*),
what it fixed (*done*) and what it could not fix and the user should look at
(*alerted*). These are the checks that matter for sign images:

- **class balance**: the rarest class against the commonest;
- **validation split**: a random split of near-duplicate data puts copies of one
  photo on both sides and overstates the validation score;
- **missing or constant features**: NaN pixels (the loaders refuse them) and pixels
  that never change (they carry no information);
- **memory and model size**: the training arrays each worker holds against the
  memory available, and the model-size budget every candidate is checked against.

The results go into ``TrainingResult.extras["guardrails"]``, the best model's
``info`` (so the comparison report and the ONNX metadata carry them) and the log.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from asl_recog.data._dataset import SignMnistDataset
from asl_recog.data._split import embed

#: The rarest class below this fraction of the commonest is an imbalance (Azure alerts at 20 %).
BALANCE_ALERT = 0.2
#: Validation images with a near-duplicate of their letter on the training side, above which the split leaks.
LEAK_ALERT = 0.05
#: The RMS embedding distance under which two images are near-duplicates (the grouped split's).
NEAR_DUPLICATE = 0.1
#: The search's training arrays may take this fraction of the available memory before it alerts.
MEMORY_ALERT = 0.5


@dataclass(frozen=True)
class Guardrail:
    """One check: its name, its state (``passed``, ``done`` or ``alerted``) and what was found.

    Example:
        >>> Guardrail("class balance", "passed", "rarest/commonest class: 0.74").line()
        'class balance: passed (rarest/commonest class: 0.74)'
    """

    name: str
    status: str
    description: str

    def line(self) -> str:
        """One line for the progress output and the report."""
        return f"{self.name}: {self.status} ({self.description})"


def class_balance(train: SignMnistDataset) -> Guardrail:
    """Alerted when the rarest class has under 20 % of the commonest's images."""
    _, counts = np.unique(train.labels, return_counts=True)
    ratio = float(counts.min() / counts.max())
    text = f"rarest/commonest class: {counts.min()}/{counts.max()} images = {ratio:.2f}"
    if ratio < BALANCE_ALERT:
        return Guardrail("class balance", "alerted", f"{text}; add images of the rare letters or weight the classes")
    return Guardrail("class balance", "passed", text)


def validation_split(train: SignMnistDataset, validation: SignMnistDataset) -> Guardrail:
    """Alerted when many validation images have a near-duplicate of the same letter in training."""
    from sklearn.neighbors import NearestNeighbors

    size = 7
    fit_vectors = embed(train.images, size) / np.sqrt(size * size)
    held_vectors = embed(validation.images, size) / np.sqrt(size * size)
    leaked = 0
    for label in np.unique(validation.labels):
        mine = train.labels == label
        if not mine.any():
            continue
        index = NearestNeighbors(n_neighbors=1).fit(fit_vectors[mine])
        distance, _ = index.kneighbors(held_vectors[validation.labels == label])
        leaked += int((distance[:, 0] <= NEAR_DUPLICATE).sum())
    share = leaked / len(validation)
    text = f"{leaked} of {len(validation)} validation images ({share:.1%}) have a near-duplicate in training"
    if share > LEAK_ALERT:
        return Guardrail(
            "validation split",
            "alerted",
            f"{text}: the split looks random on near-duplicate data and overstates the validation score; "
            "pass no validation set (fit makes the grouped split) or use train_validation_split",
        )
    return Guardrail("validation split", "passed", text)


def features(train: SignMnistDataset) -> Guardrail:
    """Done when some pixels never change (they carry nothing and no pipeline is hurt by them)."""
    flat = train.images.reshape(len(train), -1)
    if not np.isfinite(flat).all():  # the loaders refuse NaN, so this is a guard for hand-built datasets
        return Guardrail("missing or constant features", "alerted", "the training images hold NaN or infinite pixels")
    constant = int((flat.min(axis=0) == flat.max(axis=0)).sum())
    if constant:
        return Guardrail(
            "missing or constant features",
            "done",
            f"no missing pixels; {constant} of {flat.shape[1]} pixels are constant: they carry no information, "
            "and the pipelines' scaling, PCA and HOG steps give them no weight",
        )
    return Guardrail(
        "missing or constant features", "passed", f"no missing pixels; none of {flat.shape[1]} is constant"
    )


def memory_and_size(rows: int, workers: int, max_model_size_mb: float, available_bytes: int | None = None) -> Guardrail:
    """Alerted when the workers' training arrays would take over half of the available memory.

    Each worker holds the flat float32 rows and, with HOG, their 1,296 features
    (about 2.7 times the pixels); the model-size budget is enforced on every candidate.
    """
    import psutil

    available = int(psutil.virtual_memory().available if available_bytes is None else available_bytes)
    need = rows * (784 + 1296) * 4 * workers
    text = (
        f"training arrays about {need / 2**30:.2f} GiB for {workers} worker(s), {available / 2**30:.1f} GiB "
        f"available; every candidate is held to max_model_size_mb={max_model_size_mb:g} (file and ONNX graph)"
    )
    if need > MEMORY_ALERT * available:
        return Guardrail(
            "memory and model size", "alerted", f"{text}; lower max_concurrent_iterations or turn augment off"
        )
    return Guardrail("memory and model size", "done", text)


def guardrails(
    train: SignMnistDataset, validation: SignMnistDataset, *, rows: int, workers: int, max_model_size_mb: float
) -> list[dict[str, Any]]:
    """Every guardrail of one search, as JSON-ready dicts (name, status, description).

    Example:
        >>> # train and validation here are rows 0-299 and 300-399 of the training file: not a grouped split
        >>> checks = guardrails(train, validation, rows=len(train), workers=1, max_model_size_mb=100)
        >>> [(c["name"], c["status"]) for c in checks]  # doctest: +NORMALIZE_WHITESPACE
        [('class balance', 'passed'), ('validation split', 'alerted'),
         ('missing or constant features', 'passed'), ('memory and model size', 'done')]
    """
    checks = [
        class_balance(train),
        validation_split(train, validation),
        features(train),
        memory_and_size(rows, workers, max_model_size_mb),
    ]
    return [asdict(c) for c in checks]


__all__ = ["Guardrail", "guardrails"]
