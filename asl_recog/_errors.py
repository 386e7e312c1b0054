"""Exception types. Every message says what is wrong, where, and how to fix it."""

from __future__ import annotations


class AslRecogError(Exception):
    """Base class of all errors raised by asl_recog.

    Example:
        >>> try:
        ...     load_sign_mnist("train", "no/such/folder")
        ... except AslRecogError as exc:  # catches every asl_recog error
        ...     print(type(exc).__name__)
        DataNotFoundError
    """


class DataFormatError(AslRecogError, ValueError):
    """Input data is malformed.

    Attributes:
        source: the file or object the data came from.
        row: 1-based line number in a file (header is line 1), a row position
            in a DataFrame (``row_kind="row"``), or ``None``.
        column: column name, or ``None``.

    Example:
        >>> frame = load_sign_mnist("train")[:10].to_frame()
        >>> frame.iloc[4, 3] = 300
        >>> load_sign_mnist("train", frame)
        Traceback (most recent call last):
        DataFormatError: DataFrame, row 4, column 'pixel3': pixel value 300 is outside 0-255. Fix: ...
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
    """The dataset could not be found in any of the places searched.

    Example:
        >>> load_sign_mnist("train", "no/such/folder")
        Traceback (most recent call last):
        DataNotFoundError: no/such/folder: no such file or folder; get sign_mnist_train.csv ...
    """


class MissingDependencyError(AslRecogError, ImportError):
    """A package asl-recog always requires (not an extra) is missing or broken.

    Example:
        >>> try:
        ...     model = OnnxModel.load("runs/best.onnx")
        ... except MissingDependencyError as exc:  # e.g. onnxruntime has no wheel for this Python
        ...     print(exc.package)
        onnxruntime
    """

    def __init__(self, package: str, purpose: str, cause: BaseException | None = None) -> None:
        why = f" ({type(cause).__name__}: {cause})" if cause is not None else ""
        super().__init__(
            f"{purpose} needs {package!r}, a required dependency of asl-recog, which cannot be imported{why}. "
            f"Reinstall it with: pip install --force-reinstall {package!r}"
        )
        self.package = package


class MissingExtraError(AslRecogError, ImportError):
    """An optional dependency (an extra) is needed but not installed.

    Example:
        >>> try:
        ...     backend = AzureBackend(ml_client, compute="cpu-cluster")
        ... except MissingExtraError as exc:  # the message says: pip install 'asl-recog[azure]'
        ...     print(exc.package, exc.extra)
        azure-ai-ml azure
    """

    def __init__(self, package: str, extra: str, purpose: str) -> None:
        super().__init__(
            f"{purpose} needs the optional package {package!r}, which is not installed. "
            f"Install it with: pip install 'asl-recog[{extra}]'"
        )
        self.package, self.extra = package, extra


class ConfigurationError(AslRecogError, ValueError):
    """A trainer, search space, policy or backend was configured inconsistently.

    Example:
        >>> HyperDriveTrainer(max_total_runs=0)
        Traceback (most recent call last):
        ConfigurationError: max_total_runs must be an integer >= 1, got 0
    """


class TrialFailedError(AslRecogError, RuntimeError):
    """Every trial of a search failed.

    Example:
        >>> try:
        ...     result = HyperDriveTrainer(builder=my_builder, max_total_runs=2).fit(train)
        ... except TrialFailedError as exc:
        ...     print(exc)  # names the first failure: its trial, params, error and traceback tail
    """


class ModelFileError(AslRecogError, ValueError):
    """A saved model file is missing, tampered with, or not written by asl_recog.

    Example:
        >>> Model.load("notes.txt")
        Traceback (most recent call last):
        ModelFileError: notes.txt: no such model file
    """
