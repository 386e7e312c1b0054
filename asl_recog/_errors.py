"""Exception types. Every message says what is wrong, where, and how to fix it."""

from __future__ import annotations


class AslRecogError(Exception):
    """Base class of all errors raised by asl_recog."""


class DataFormatError(AslRecogError, ValueError):
    """Input data is malformed.

    Attributes:
        source: the file or object the data came from.
        row: 1-based line number in a file (header is line 1), a row position
            in a DataFrame (``row_kind="row"``), or ``None``.
        column: column name, or ``None``.
    """

    def __init__(
        self,
        problem: str,
        *,
        source: str = "<data>",
        row: int | None = None,
        column: str | None = None,
        fix: str = "",
        row_kind: str = "line",
    ) -> None:
        self.problem, self.source, self.row, self.column, self.fix = problem, source, row, column, fix
        where = source
        if row is not None:
            where += f", {row_kind} {row}"
        if column is not None:
            where += f", column {column!r}"
        message = f"{where}: {problem}"
        if fix:
            message += f". Fix: {fix}"
        super().__init__(message)


class DataNotFoundError(AslRecogError, FileNotFoundError):
    """The dataset could not be found in any of the places searched."""


class MissingExtraError(AslRecogError, ImportError):
    """An optional dependency (an extra) is needed but not installed."""

    def __init__(self, package: str, extra: str, purpose: str) -> None:
        super().__init__(
            f"{purpose} needs the optional package {package!r}, which is not installed. "
            f"Install it with: pip install 'asl-recog[{extra}]'"
        )
        self.package, self.extra = package, extra


class ConfigurationError(AslRecogError, ValueError):
    """A trainer, search space, policy or backend was configured inconsistently."""


class TrialFailedError(AslRecogError, RuntimeError):
    """Every trial of a search failed."""


class ModelFileError(AslRecogError, ValueError):
    """A saved model file is missing, tampered with, or not written by asl_recog."""
