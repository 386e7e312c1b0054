"""Pytest plugin: record every Azure job object the offline tests build, serialized, to compare refactors.

Wraps the SDK job builders (v1 AutoMLConfig, ScriptRunConfig, HyperDriveConfig; v2 automl and
sweep jobs; both refit jobs) where they are looked up, and writes each object's serialized form,
keyed by test and call order, to ``$ASL_RECOG_JOBS_OUT`` (JSON). Temporary paths are masked so
two runs compare equal when the jobs are. Use::

    ASL_RECOG_JOBS_OUT=before.json python -m pytest -p tools.capture_azure_jobs tests/azure_v1 tests/azure_v2 ...

Example:
    >>> _mask("/tmp/asl-recog-code-ab12cd/x at 0x7f00")
    '<TMP>/x at 0x?'
"""

from __future__ import annotations

import functools
import json
import os
import re
import sys
from typing import Any

import pytest

RECORDS: dict[str, list[Any]] = {}
BUILDERS = ("automl_config", "script_run_config", "hyperdrive_config", "automl_job", "sweep_job")
BUILDERS += ("v1_refit_config", "v2_refit_job")
_current = {"test": "<import>"}


def _mask(text: str) -> str:
    text = re.sub(r"/tmp/[^\s'\"]*?(asl-recog-code-|pytest-of-[^/]+/pytest-\d+/)[^/\s'\"]*", "<TMP>", text)
    return re.sub(r"0x[0-9a-fA-F]+", "0x?", text)


def _plain(obj: Any, depth: int = 0) -> Any:
    if depth > 12:
        return _mask(repr(obj))
    if isinstance(obj, (str, int, float, bool)) or obj is None:
        return _mask(obj) if isinstance(obj, str) else obj
    if isinstance(obj, dict):
        return {str(k): _plain(v, depth + 1) for k, v in sorted(obj.items(), key=lambda kv: str(kv[0]))}
    if isinstance(obj, (list, tuple, set)):
        items = [_plain(v, depth + 1) for v in obj]
        return sorted(items, key=repr) if isinstance(obj, set) else items
    to_dict = getattr(obj, "_to_dict", None)
    if callable(to_dict):
        try:
            return {"__type__": type(obj).__name__, **_plain(to_dict(), depth + 1)}
        except Exception as exc:  # some objects cannot serialize half-built; fall back to their fields
            fallback = f"{type(exc).__name__}"
            return {"__type__": type(obj).__name__, "_to_dict_error": fallback, **_fields(obj, depth)}
    if hasattr(obj, "__dict__"):
        return {"__type__": type(obj).__name__, **_fields(obj, depth)}
    return _mask(repr(obj))


def _fields(obj: Any, depth: int) -> dict[str, Any]:
    skip = ("_workspace", "workspace", "_logger", "logger")
    return {k: _plain(v, depth + 1) for k, v in sorted(vars(obj).items()) if k not in skip}


def _wrap(name: str, func: Any) -> Any:
    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        out = func(*args, **kwargs)
        RECORDS.setdefault(_current["test"], []).append({"builder": name, "job": _plain(out)})
        return out

    wrapper.__wrapped_job_builder__ = True  # type: ignore[attr-defined]
    return wrapper


def _patch_all() -> None:
    import asl_recog.backends.azure._refit
    import asl_recog.backends.azure.v1._backend
    import asl_recog.backends.azure.v2._backend  # noqa: F401

    originals: dict[int, Any] = {}
    for module in list(sys.modules.values()):
        if not getattr(module, "__name__", "").startswith("asl_recog.backends.azure"):
            continue
        for name in BUILDERS:
            func = getattr(module, name, None)
            if callable(func) and not getattr(func, "__wrapped_job_builder__", False):
                key = id(func)
                originals.setdefault(key, _wrap(f"{func.__module__}.{name}", func))
                setattr(module, name, originals[key])


_patch_all()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Any:
    _current["test"] = item.nodeid
    yield
    _current["test"] = "<between>"


def pytest_sessionfinish(session: pytest.Session) -> None:
    out = os.environ.get("ASL_RECOG_JOBS_OUT")
    if out:
        with open(out, "w") as fh:
            json.dump(RECORDS, fh, indent=1, sort_keys=True, default=repr)
