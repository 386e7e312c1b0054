"""A seeded CNN fit repeats bit for bit, in another process too (issue 13, repeatability).

The conformance suite checks that a seeded search selects the same settings twice in one
process; this checks the ground it stands on: the training loop itself gives identical
weights when run again from scratch, as a user re-running a script would.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np

import asl_recog as asl

_FIT = """
import hashlib, sys
import numpy as np
from asl_recog.data._labels import labels_to_indices
from asl_recog.routes.hyperdrive import _augmented
from asl_recog.routes.hyperdrive._builders import DEFAULTS, build_default
from asl_recog.routes.hyperdrive._training import train_network

data = np.load(sys.argv[1])
epochs = int(sys.argv[2]) if len(sys.argv) > 2 else 1
if len(sys.argv) > 3:
    _augmented.BATCH_WORKERS = int(sys.argv[3])
x, y = (data["x"].astype(np.float32) / 255.0)[..., None], labels_to_indices(data["y"])
network, _, _ = train_network(build_default, {"epochs": epochs}, (x, y), None, seed=7, defaults=DEFAULTS["default"])
weights = b"".join(np.ascontiguousarray(w).tobytes() for w in network.get_weights())
print(hashlib.sha256(weights).hexdigest())
"""


def _fit_digest(data: Path, *options: int) -> str:
    command = [sys.executable, "-c", _FIT, str(data), *map(str, options)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.strip().splitlines()[-1]


def test_seeded_fit_repeats_bit_for_bit_in_a_new_process(
    small_split: tuple[asl.SignMnistDataset, asl.SignMnistDataset], tmp_path: Path
) -> None:
    train, _ = small_split  # 2,400 real images; the default network with its augmentation layers
    data = tmp_path / "data.npz"
    np.savez(data, x=train.images, y=train.labels)
    first, second = _fit_digest(data), _fit_digest(data)
    assert len(first) == 64
    assert first == second, "two seeded fits of the default CNN gave different weights"


def test_batches_made_on_two_threads_give_the_weights_of_one_thread(
    small_split: tuple[asl.SignMnistDataset, asl.SignMnistDataset], tmp_path: Path
) -> None:
    """BATCH_WORKERS: Keras makes the batches ahead on threads; each depends only on (seed, epoch, batch),
    so the order in which the threads finish changes nothing, across an epoch's end too."""
    train, _ = small_split
    data = tmp_path / "data.npz"
    np.savez(data, x=train.images, y=train.labels)
    assert _fit_digest(data, 2, 1) == _fit_digest(data, 2, 2), "batches made on two threads changed the weights"
