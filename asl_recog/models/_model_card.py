"""The model card: a Hugging Face-style ``MODEL_CARD.md`` written from a :class:`RunRecord`.

YAML front matter (``license``, ``library_name``, ``tags``, ``datasets``, ``metrics``,
``model-index`` with the test results, and the whole record under ``asl_recog``), then the
sections Hugging Face's card template asks for: intended use, limitations, training and
evaluation. Every figure comes from the record; what the record does not know is said to be
unknown. The front matter is written with ``yaml.safe_dump`` and read with ``yaml.safe_load``:
data, never code.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

from asl_recog._errors import ModelFileError
from asl_recog.models._record import DATASET_ID, RunRecord
from asl_recog.models._zoo_data import zoo_data_folder

#: The card's file name, beside the exported model.
CARD_NAME = "MODEL_CARD.md"
#: The front matter key holding the whole record.
CARD_RECORD_KEY = "asl_recog"
_FENCE = "---"


def front_matter(record: RunRecord) -> dict[str, Any]:
    """The card's YAML front matter as a dict: Hugging Face's keys and the record.

    Example:
        >>> meta = front_matter(RunRecord(name="cnn", test_accuracy=0.99, test_rows=7172))
        >>> meta["license"], meta["model-index"][0]["results"][0]["metrics"][0]["value"]
        ('cc0-1.0', 0.99)
    """
    metrics: list[dict[str, Any]] = []
    for kind, value, label, args in (
        ("accuracy", record.test_accuracy, "Test accuracy", None),
        ("f1", record.test_macro_f1, "Test macro F1", {"average": "macro"}),
        ("accuracy", record.mca, "Mean corruption accuracy (refusals counted wrong)", None),
    ):
        if value is not None:
            metrics.append({"type": kind, "value": value, "name": label, **({"args": args} if args else {})})
    results = []
    if metrics:
        results.append(
            {
                "task": {"type": "image-classification", "name": "ASL fingerspelling (24 static letters)"},
                "dataset": {"type": DATASET_ID, "name": "Sign Language MNIST (held-out test file)", "split": "test"},
                "metrics": metrics,
            }
        )
    return {
        "license": record.license.lower(),
        "library_name": "onnx",
        "pipeline_tag": "image-classification",
        "tags": [
            t
            for t in ("asl_recog", "onnx", "sign-language", "asl", "fingerspelling", record.model_kind, _int8(record))
            if t
        ],
        "datasets": [DATASET_ID],
        "metrics": ["accuracy", "f1"],
        "model-index": [{"name": record.name or "asl_recog model", "results": results}],
        CARD_RECORD_KEY: record.to_dict(),
    }


def model_card(record: RunRecord, model_file: str | None = None) -> str:
    """The whole card: front matter, then intended use, limitations, training, evaluation and files.

    Example:
        >>> card = model_card(RunRecord(name="cnn"), "best.onnx")
        >>> card.startswith("---\\nlicense: cc0-1.0"), "not measured" in card
        (True, True)
    """
    meta = yaml.safe_dump(front_matter(record), sort_keys=False, allow_unicode=True)
    name = record.name or "asl_recog model"
    sections = [
        f"{_FENCE}\n{meta}{_FENCE}\n",
        f"# {name}: ASL fingerspelling classifier\n\n"
        f"{record.algorithm or 'A model'} ({record.model_kind or 'format unknown'}"
        f"{', int8 weights and activations' if _int8(record) else ''}) that reads one 28x28 grayscale "
        "hand image and returns the probabilities of the 24 static letters of American Sign Language "
        "fingerspelling (A-Y without J and Z, which need motion). Written by asl_recog "
        f"{record.asl_recog_version} from the model's run record.\n",
        _intended_use(),
        _limitations(record),
        _training(record),
        _evaluation(record),
        _files(record, model_file),
    ]
    return "\n".join(sections)


def _int8(record: RunRecord) -> str | None:
    """``"int8"`` for an int8 file's record (its tag and a word in its description), else None."""
    return "int8" if record.weights == "int8" else None


def _intended_use() -> str:
    return (
        "## Intended use\n\n"
        "Recognising a single static fingerspelled letter in a 28x28 grayscale image of one hand, centred and "
        "filling most of a square crop on a plain background, as in Sign Language MNIST; for demonstrations, "
        "teaching and as a baseline. Not for signs that move (J, Z, words), not for translating sign language, and "
        "not for any decision about a person.\n"
    )


def _limitations(record: RunRecord) -> str:
    lines = ["## Limitations\n"]
    if record.mca is not None:
        ci = f" (95% CI {record.mca_ci[0]:.4f}-{record.mca_ci[1]:.4f})" if record.mca_ci else ""
        weakest = ", ".join(f"{k} {v:.2f}" for k, v in (record.weakest_corruptions or {}).items())
        lines.append(
            f"- Off the dataset: mean accuracy under the corruption suite (19 corruptions in 7 families, 3 "
            f"severities; refusals counted wrong) is {record.mca:.4f}{ci}"
            + (f"; it reads worst: {weakest}." if weakest else ".")
        )
    else:
        lines.append(
            "- Robustness: not measured for this model (no corruption-suite figures in its record); how it reads "
            "rotated, mirrored, noisy, blurred or small hands is not known."
        )
    if record.photos_top1:
        figures = ", ".join(f"{k} {v:.2f}" for k, v in record.photos_top1.items())
        lines.append(f"- Real photos of other people (top-1, refusals counted wrong): {figures}.")
    else:
        lines.append(
            "- Real photos: not measured for this model. The test file's images are all alike (a bright hand "
            "filling a square crop); accuracy on photos of other people's hands is not known and is likely much "
            "lower."
        )
    lines.append(
        "- The training data holds many augmentations of few photos of few signers: hands, skin tones and "
        "backgrounds outside it are not represented."
    )
    # A fact of the data, not of one model: every network trained on it was measured at 0.00-0.01 on
    # these letters of the Massey photos (docs/benchmarks.md, "Why some letters are never read").
    lines.append(
        "- Its photos show F, K and T side-on to the camera: a signer who faces the camera with them (F's "
        "circle, K's two raised fingers, T's thumb between the fingers) is read wrongly, as is O seen without "
        "its opening. A few labelled photos of the signer's own (`asl-recog fine-tune`) teach those views."
    )
    return "\n".join(lines) + "\n"


def _known(value: Any, spec: str = "", unit: str = "") -> str:
    """``value`` formatted with ``spec`` (and ``unit``), or "not known" when the record lacks it."""
    return "not known" if value is None else f"{value:{spec}}{unit}"


def _training(record: RunRecord) -> str:
    refit = (
        "not known"
        if record.refit is None
        else (
            f"yes, on {_known(record.refit_rows, ',')} rows"
            + (f" for {record.refit_epochs} epoch(s)" if record.refit_epochs is not None else "")
            if record.refit
            else f"no ({record.refit_note or 'reason not recorded'})"
        )
    )
    score = _known(record.validation_score, ".4f")
    packages = (
        f"{record.packages_count} packages, SHA-256 {record.packages_sha256} of their sorted name==version pins"
        if record.packages_sha256
        else "not known"
    )
    return (
        "## Training\n\n"
        f"- Data: {_known(record.data_source)}.\n"
        f"- Training rows: {_known(record.train_rows, ',')} (SHA-256 {_known(record.train_sha256)}).\n"
        f"- Validation rows: {_known(record.validation_rows, ',')} (SHA-256 {_known(record.validation_sha256)}).\n"
        f"- Split: {_known(record.split)}.\n"
        f"- Selection: trial {_known(record.trial)}, ranked by {_known(record.primary_metric)}; its validation "
        f"score {score}.\n"
        f"- Refit on training and validation rows: {refit}.\n"
        f"- Hyperparameters: {_known(record.params)}.\n"
        f"- Trainer settings: {_known(record.settings)}.\n"
        f"- Package versions: {packages}.\n"
        "- Licence: the data is CC0 1.0 (public domain dedication); asl_recog's code is MIT.\n"
    )


def _evaluation(record: RunRecord) -> str:
    if record.test_accuracy is None:
        return (
            "## Evaluation\n\n"
            "Not evaluated on the held-out test file in this record: run `asl-recog evaluate MODEL` or "
            "`asl-recog compare` for its test accuracy.\n"
        )
    ci = (
        f" (95% CI {record.test_accuracy_ci[0]:.4f}-{record.test_accuracy_ci[1]:.4f})"
        if record.test_accuracy_ci
        else ""
    )
    lines = [
        "## Evaluation\n",
        f"On the held-out test file ({_known(record.test_source)}, {_known(record.test_rows, ',')} images), read only "
        "by the comparison:\n",
        f"- Accuracy {record.test_accuracy:.4f}{ci}.",
        f"- Macro F1 {_known(record.test_macro_f1, '.4f')}.",
        f"- Median single-image latency on ONNX Runtime: {_known(record.latency_p50_ms, '.3f', ' ms')}.",
    ]
    if record.mca is not None:
        lines.append(f"- Mean corruption accuracy {record.mca:.4f} (see Limitations).")
    return "\n".join(lines) + "\n"


def _files(record: RunRecord, model_file: str | None) -> str:
    model = model_file or "MODEL.onnx"
    data = zoo_data_folder(model).name
    return (
        "## Files\n\n"
        f"- `{model}`: the ONNX graph ({_known(record.size_mb, '', ' MB')} without metadata); its metadata_props "
        "hold the label map, the preprocessing and this record.\n"
        f"- `{data}/test_data_set_0/`: `input_0.pb` and `output_*.pb`, a few training or validation images and "
        f"the graph's outputs on them (ONNX Model Zoo layout). `asl-recog check {model}` runs them.\n"
    )


def write_card(record: RunRecord, model_path: str | os.PathLike[str]) -> Path:
    """Write the card of ``record`` as ``MODEL_CARD.md`` beside ``model_path``; return its path.

    Example:
        >>> write_card(RunRecord.from_onnx("runs/best.onnx"), "runs/best.onnx")
        PosixPath('runs/MODEL_CARD.md')
    """
    path = Path(model_path).with_name(CARD_NAME)
    path.write_text(model_card(record, Path(model_path).name), encoding="utf-8")
    return path


def read_front_matter(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The YAML front matter of a card, parsed with ``yaml.safe_load``.

    Raises:
        ModelFileError: no file, no front matter between two ``---`` lines, or not a mapping.
    """
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"{path}: no such model card")
    text = path.read_text(encoding="utf-8")
    head, sep, rest = text.partition("\n")
    end = rest.find(f"\n{_FENCE}\n")
    if head.strip() != _FENCE or not sep or end < 0:
        raise ModelFileError(f"{path}: no YAML front matter (a '---' line, YAML, a '---' line) at its start")
    try:
        meta = yaml.safe_load(rest[: end + 1])
    except yaml.YAMLError as exc:
        raise ModelFileError(f"{path}: the front matter is not valid YAML ({exc})") from exc
    if not isinstance(meta, dict):
        raise ModelFileError(f"{path}: the front matter is a {type(meta).__name__}, not a mapping")
    return meta


def read_card_record(path: str | os.PathLike[str]) -> RunRecord:
    """The run record in a card's front matter (the ``asl_recog`` key).

    Example:
        >>> card = write_card(RunRecord.from_onnx("runs/best.onnx"), "runs/best.onnx")
        >>> read_card_record(card) == RunRecord.from_onnx("runs/best.onnx")
        True
    """
    meta = read_front_matter(path)
    if CARD_RECORD_KEY not in meta:
        raise ModelFileError(f"{path}: the front matter has no {CARD_RECORD_KEY!r} record; rewrite the card")
    return RunRecord.from_dict(meta[CARD_RECORD_KEY], where=str(path))


__all__ = [
    "CARD_NAME",
    "CARD_RECORD_KEY",
    "front_matter",
    "model_card",
    "read_card_record",
    "read_front_matter",
    "write_card",
]
