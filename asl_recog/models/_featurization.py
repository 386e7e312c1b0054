"""Featurization settings, in Azure AutoML's vocabulary: ``"auto"``, ``"off"`` or a :class:`FeaturizationConfig`.

Azure featurizes tabular data before its models see it; for images the featurizer
that pays is HOG (see docs/benchmarks.md: raw pixels are the wrong input for
classical models here). The search treats the featurizer as one more
hyperparameter of each pipeline, so featurization is chosen together with the
model.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from asl_recog._errors import ConfigurationError
from asl_recog.models._hog import HogFeaturizer

#: Featurizer names: ``"hog"`` (:class:`HogFeaturizer`) and ``"pixels"`` (none: the raw 0..1 pixels).
FEATURIZERS: tuple[str, ...] = ("hog", "pixels")
#: What ``featurization="auto"`` searches, the first one tried first.
AUTO: tuple[str, ...] = ("hog", "pixels")


@dataclass(frozen=True)
class FeaturizationConfig:
    """Which featurizers the search may put in front of a model, and their settings (Azure's name).

    Args:
        featurizers: names from :data:`FEATURIZERS`; the search chooses among them for each
            pipeline, and tries the first one with every algorithm's default.
        transformer_params: settings per featurizer, as Azure's ``add_transformer_params``:
            e.g. ``{"hog": {"orientations": 12}}`` (the :class:`HogFeaturizer` arguments).

    Example:
        >>> config = FeaturizationConfig(["hog"], {"hog": {"orientations": 12}})
        >>> config.featurizers, make_featurizer("hog", config)
        (('hog',), HogFeaturizer(orientations=12))
        >>> try:
        ...     FeaturizationConfig(["sift"])
        ... except ConfigurationError as exc:
        ...     print(exc)
        FeaturizationConfig: unknown featurizer 'sift'; choose from ('hog', 'pixels')
    """

    featurizers: Sequence[str] = ("hog",)
    transformer_params: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if isinstance(self.featurizers, str) or not self.featurizers:
            raise ConfigurationError(
                f"FeaturizationConfig: featurizers must be a non-empty list of names, got {self.featurizers!r}"
            )
        object.__setattr__(self, "featurizers", tuple(self.featurizers))
        for name in (*self.featurizers, *self.transformer_params):
            if name not in FEATURIZERS:
                raise ConfigurationError(f"FeaturizationConfig: unknown featurizer {name!r}; choose from {FEATURIZERS}")
        object.__setattr__(self, "transformer_params", {k: dict(v) for k, v in self.transformer_params.items()})
        for name, params in self.transformer_params.items():
            if name == "hog":
                HogFeaturizer(**params)._check()  # an unknown or bad argument fails here, not in a worker
            elif params:
                raise ConfigurationError(f"FeaturizationConfig: featurizer {name!r} takes no parameters, got {params}")


def featurizers_of(featurization: Any) -> tuple[str, ...]:
    """The featurizers a ``featurization`` setting lets the search choose from.

    Example:
        >>> featurizers_of("auto"), featurizers_of("off")
        (('hog', 'pixels'), ('pixels',))
    """
    if isinstance(featurization, FeaturizationConfig):
        return tuple(featurization.featurizers)
    if featurization == "auto":
        return AUTO
    if featurization == "off":
        return ("pixels",)
    raise ConfigurationError(
        f"featurization must be 'auto', 'off' or a FeaturizationConfig (Azure's values), got {featurization!r}"
    )


def make_featurizer(name: str, featurization: Any = "auto") -> HogFeaturizer | None:
    """The unfitted featurizer step ``name`` stands for (None for ``"pixels"``), with the configured settings."""
    if name == "pixels":
        return None
    if name != "hog":
        raise ConfigurationError(f"unknown featurizer {name!r}; choose from {FEATURIZERS}")
    params = featurization.transformer_params.get("hog", {}) if isinstance(featurization, FeaturizationConfig) else {}
    return HogFeaturizer(**params)


__all__ = ["AUTO", "FEATURIZERS", "FeaturizationConfig", "featurizers_of", "make_featurizer"]
