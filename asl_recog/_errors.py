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
        >>> try:
        ...     load_sign_mnist("train", frame)
        ... except DataFormatError as exc:
        ...     print(exc)
        DataFrame, row 4, column 'pixel3': pixel value 300 is outside 0-255. Fix: pixels are 8-bit grayscale; ...
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
        >>> try:
        ...     load_sign_mnist("train", "no/such/folder")
        ... except DataNotFoundError as exc:
        ...     print(exc)
        no/such/folder: no such file or folder; get sign_mnist_train.csv and sign_mnist_test.csv (CC0) from ...
    """


class MissingDependencyError(AslRecogError, ImportError):
    """A package asl-recog always requires (not an extra) is missing or broken.

    Example:
        >>> error = MissingDependencyError("onnxruntime", "Running ONNX models")  # as OnnxModel raises it
        >>> error.package, isinstance(error, ImportError)
        ('onnxruntime', True)
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
        >>> exc = MissingExtraError("azure-ai-ml", "azure", "the Azure ML SDK v2 backend")  # as AzureBackend raises it
        >>> exc.package, exc.extra
        ('azure-ai-ml', 'azure')
        >>> print(exc)
        the Azure ML SDK v2 backend needs the optional package 'azure-ai-ml', ... pip install 'asl-recog[azure]'
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
        >>> try:
        ...     HyperDriveTrainer(max_total_runs=0)
        ... except ConfigurationError as exc:
        ...     print(exc)
        max_total_runs must be an integer >= 1, got 0
    """


class TrialFailedError(AslRecogError, RuntimeError):
    """Every trial of a search failed.

    Example:
        >>> def my_builder(params):
        ...     raise ValueError("no network today")
        >>> try:
        ...     HyperDriveTrainer(builder=my_builder, max_total_runs=1, progress=False).fit(train, validation)
        ... except TrialFailedError as exc:
        ...     print(exc)  # names the first failure: its trial, params, error and traceback tail
        all 1 trial(s) failed; the first failure (trial 0, params {...}): ValueError: no network today
        ...
    """


class ModelFileError(AslRecogError, ValueError):
    """A saved model file is missing, tampered with, or not written by asl_recog.

    Example:
        >>> try:
        ...     Model.load("notes.txt")
        ... except ModelFileError as exc:
        ...     print(exc)
        notes.txt: no such model file
    """
