"""Where a search runs: the Backend interface, the backends by name, and :func:`resolve_backend`.

The backend classes load on first access (``asl_recog.backends.AzureBackend``), as the
package root's names do, so importing this package loads no Azure module; cloud SDKs are
imported only inside their backend modules, on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from asl_recog._azure import find_workspace_config
from asl_recog.backends._base import Backend
from asl_recog.backends._registry import BACKENDS, backend_class, check_backend_name, resolve_backend
from asl_recog.backends._remote import AutoMLSpec, RemoteSpec, SweepSpec, remote_spec

if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs only
    from asl_recog.backends.azure.v1._backend import AzureMLBackend
    from asl_recog.backends.azure.v2._backend import AzureBackend
    from asl_recog.backends.local._backend import LocalBackend

# public class name -> registered name, for the lazy attributes below
_CLASSES = {target.partition(":")[2]: name for name, target in BACKENDS.items()}


def __getattr__(name: str) -> Any:
    if name not in _CLASSES:
        raise AttributeError(f"module 'asl_recog.backends' has no attribute {name!r}")
    value = backend_class(_CLASSES[name])
    globals()[name] = value  # cache: later lookups skip __getattr__
    return value


__all__ = [
    "AutoMLSpec",
    "AzureBackend",
    "AzureMLBackend",
    "Backend",
    "LocalBackend",
    "RemoteSpec",
    "SweepSpec",
    "backend_class",
    "check_backend_name",
    "find_workspace_config",
    "remote_spec",
    "resolve_backend",
]
