"""What reaches the console: one log format, a verbosity switch, and quiet third-party start-up.

Every line asl_recog or a dependency writes to stderr goes through :mod:`logging`
with :data:`LOG_FORMAT`, so a user sees one voice and can turn it up or down:

* ``verbosity=0`` (default): asl_recog's INFO lines, and warnings from anyone;
* ``verbosity>=1`` (``-v``): asl_recog's DEBUG lines, dependencies' INFO lines
  (TensorFlow's native start-up lines, tf2onnx's optimiser, httpx requests) and
  their ``FutureWarning``/``DeprecationWarning``;
* ``verbosity<0`` (``-q``): warnings and errors only.

TensorFlow prints its native start-up lines (``cudart_stub.cc ... Could not find
cuda drivers``) from C++ before absl's logging is initialised, where
``TF_CPP_MIN_LOG_LEVEL`` cannot reach them. :func:`import_tensorflow` therefore
imports it with file descriptor 2 pointed at a temporary file and replays what was
written through the ``tensorflow.native`` logger at DEBUG. No library offers this;
it is the narrowest seam that keeps the console clean without hiding real errors
(they are replayed, and shown with ``-v``).
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import tempfile
import warnings
from collections.abc import Iterator
from types import ModuleType
from typing import Any, BinaryIO

from asl_recog._imports import LazyModule

#: The one format of every stderr line (the CI main-job test checks it).
LOG_FORMAT = "asl-recog %(levelname)s [%(name)s] %(message)s"
#: Environment variable carrying the verbosity into spawned worker processes.
VERBOSITY_ENV = "ASL_RECOG_VERBOSITY"
#: Loggers of dependencies that speak at INFO about things a user cannot act on.
_CHATTY = (
    "tensorflow",
    "tensorflow.native",
    "tf2onnx",
    "absl",
    "httpx",
    "httpcore",
    "optuna",
    "keras",
    "onnxruntime",
    "skl2onnx",
    "azure",
    "urllib3",
    "matplotlib",
    "PIL",
    "h5py",
    "numexpr",
)

logger = logging.getLogger("asl_recog")


class _CurrentStderrHandler(logging.StreamHandler):
    """A handler that writes to ``sys.stderr`` as it is at each message, not as it was when configured.

    Notebooks, pytest's capture and ``contextlib.redirect_stderr`` swap ``sys.stderr``; a
    plain ``StreamHandler(sys.stderr)`` keeps the old stream and fails once it is closed
    ("I/O operation on closed file"). The standard library's own ``logging.lastResort``
    works this way, but its class is private, hence these few lines.
    """

    def __init__(self) -> None:
        logging.Handler.__init__(self)

    @property
    def stream(self) -> Any:
        return sys.stderr


def configure_logging(verbosity: int | None = None) -> int:
    """Route asl_recog's and dependencies' messages through one stderr handler.

    Args:
        verbosity: 0 normal, 1 or more verbose, negative quiet; None reads
            ``$ASL_RECOG_VERBOSITY`` (how worker processes inherit it), else 0.

    Returns:
        The verbosity applied.

    Example:
        >>> import asl_recog as asl
        >>> asl.configure_logging(1)  # what `asl-recog -v` does; in a script or notebook, call it once
        1
        >>> asl.configure_logging(0)  # back to normal
        0
    """
    if verbosity is None:
        try:
            verbosity = int(os.environ.get(VERBOSITY_ENV, "0"))
        except ValueError:
            verbosity = 0
    os.environ[VERBOSITY_ENV] = str(verbosity)
    # Native TensorFlow logging after start-up; set before TensorFlow loads anywhere.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "0" if verbosity > 1 else "3")
    root = logging.getLogger()
    handler = next((h for h in root.handlers if getattr(h, "_asl_recog", False)), None)
    if handler is None:
        handler = _CurrentStderrHandler()
        handler._asl_recog = True  # type: ignore[attr-defined]
        handler.setFormatter(logging.Formatter(LOG_FORMAT))
        root.addHandler(handler)
    root.setLevel(logging.WARNING)
    own = logging.DEBUG if verbosity > 0 else logging.INFO if verbosity == 0 else logging.WARNING
    logger.setLevel(own)
    for name in _CHATTY:
        chatty = logging.getLogger(name)
        chatty.setLevel(logging.INFO if verbosity > 0 else logging.WARNING if verbosity == 0 else logging.ERROR)
        chatty.propagate = True
        # tf2onnx and TensorFlow attach handlers of their own, which would print each line twice.
        for own_handler in list(chatty.handlers):
            chatty.removeHandler(own_handler)
    # The replayed native start-up lines are DEBUG records: -v shows them.
    logging.getLogger("tensorflow.native").setLevel(logging.DEBUG if verbosity > 0 else logging.WARNING)
    logging.captureWarnings(True)
    if verbosity <= 0:
        # Dependencies' deprecation notices name APIs the user does not call.
        warnings.filterwarnings("ignore", category=FutureWarning)
        warnings.filterwarnings("ignore", category=DeprecationWarning)
    return verbosity


@contextlib.contextmanager
def stderr_fd_to(sink: BinaryIO) -> Iterator[None]:
    """Point file descriptor 2 at ``sink`` inside the block, then restore it.

    Native libraries and child processes write to the descriptor, not to
    ``sys.stderr``, so only this redirects what they print.
    """
    sys.stderr.flush()
    saved = os.dup(2)
    os.dup2(sink.fileno(), 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


@contextlib.contextmanager
def _native_stderr_to_log(name: str) -> Iterator[None]:
    """Capture what native code writes to fd 2 inside the block, then log it at DEBUG."""
    try:
        os.fstat(2)
    except OSError:  # no real fd 2 (e.g. some notebook kernels): nothing to capture
        yield
        return
    with tempfile.TemporaryFile(mode="w+b") as sink:
        try:
            with stderr_fd_to(sink):
                yield
        finally:
            sink.seek(0)
            native = logging.getLogger(name)
            for line in sink.read().decode(errors="replace").splitlines():
                if line.strip():
                    native.debug(line)


# Core dependencies, imported through the package's one lazy-import helper (a missing one is named).
_TENSORFLOW = LazyModule("tensorflow", package="tensorflow", extra=None, purpose="The Keras CNN (HyperDriveTrainer)")
_KERAS = LazyModule("keras", package="keras", extra=None, purpose="The Keras CNN (HyperDriveTrainer)")


def import_tensorflow() -> ModuleType:
    """Import TensorFlow (and Keras) once, with its native start-up lines sent to the log.

    Example:
        >>> tf = import_tensorflow()
        >>> keras = import_keras()
        >>> tf.__name__, keras.__name__
        ('tensorflow', 'keras')
    """
    if "tensorflow" in sys.modules:
        return sys.modules["tensorflow"]
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    with _native_stderr_to_log("tensorflow.native"):
        _KERAS.load()  # loads its backend under the same capture
        tf = _TENSORFLOW.load()
        tf.constant(0)  # the runtime's device discovery prints its lines on first use
    for name in ("tensorflow", "absl"):
        for own_handler in list(logging.getLogger(name).handlers):
            logging.getLogger(name).removeHandler(own_handler)
    return tf


def import_keras() -> ModuleType:
    """Keras, imported through :func:`import_tensorflow` so start-up stays quiet."""
    import_tensorflow()
    import keras

    return keras


__all__ = ["LOG_FORMAT", "VERBOSITY_ENV", "configure_logging", "import_tensorflow", "import_keras", "stderr_fd_to"]
