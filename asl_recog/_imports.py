"""The package's one helper for heavy or optional imports: the Azure SDKs, MLflow, tf2onnx, TensorFlow.

``import asl_recog`` and every module of it import at the top of the file, except
these packages: they are large, optional (extras) or slow to load, so a module
names them once, at its top, as a :class:`LazyModule`, and the package loads on
first use. A missing one raises :class:`~asl_recog.MissingExtraError` naming the
extra to install. This is Optuna's ``optuna._imports._LazyImport``, plus the
message. The SDK checks of the Azure backends (``import_v1``/``import_v2``) and
:func:`asl_recog._console.import_tensorflow` (which also keeps TensorFlow's start-up
noise off the console) load through it too.
"""

from __future__ import annotations

import importlib
import types
from typing import Any

from asl_recog._errors import MissingDependencyError, MissingExtraError


class LazyModule(types.ModuleType):
    """A module imported when one of its attributes is first read.

    Attributes are looked up on the real module every time (nothing is copied),
    so a test that patches the real module's attribute is seen here too.

    Args:
        name: the module's dotted name, e.g. ``"azure.ai.ml"``.
        package: the distribution that provides it, for the error message.
        extra: the asl-recog extra that installs it (``"azure"``, ``"azureml"``), or None
            for a core dependency.
        purpose: what needs it, for the error message.

    Example:
        >>> ml = LazyModule("azure.ai.ml", package="azure-ai-ml", extra="azure", purpose="AzureBackend")
        >>> ml.__name__  # nothing imported yet
        'azure.ai.ml'
    """

    def __init__(self, name: str, *, package: str, extra: str | None, purpose: str) -> None:
        super().__init__(name)
        self._package, self._extra, self._purpose = package, extra, purpose

    def load(self) -> types.ModuleType:
        """Import the module now; MissingExtraError (or MissingDependencyError) when it is not installed.

        Not cached here: ``importlib`` finds an imported module in ``sys.modules`` at once,
        and looking it up each time honours a test that removes the package.
        """
        try:
            return importlib.import_module(self.__name__)
        except ImportError as exc:
            if self._extra is None:
                raise MissingDependencyError(self._package, self._purpose, exc) from exc
            raise MissingExtraError(self._package, self._extra, self._purpose) from exc

    def __getattr__(self, attribute: str) -> Any:
        if attribute.startswith("__") or attribute in ("_package", "_extra", "_purpose"):
            raise AttributeError(attribute)
        module = self.load()
        try:
            return getattr(module, attribute)
        except AttributeError:
            # A submodule the package does not import itself (``from azure.ai.ml import automl`` would).
            return importlib.import_module(f"{self.__name__}.{attribute}")


__all__ = ["LazyModule"]
