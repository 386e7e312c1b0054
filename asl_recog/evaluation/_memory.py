"""Peak memory of a whole process tree, sampled with psutil.

``/usr/bin/time -v`` and ``getrusage`` report the largest *single* process, but a
search runs in a parent plus worker processes (and the main job adds a scoring
service), whose memory adds up on the machine. :class:`TreeMemory` sums the
resident set of a process and all its descendants every ``interval`` seconds
in a background thread and keeps the largest sum.

Example:
    >>> import time
    >>> with TreeMemory(interval=0.05) as memory:  # this process and its children
    ...     block = bytearray(200 * 2**20)           # the job: here, 200 MiB held for a moment
    ...     time.sleep(0.3)
    >>> memory.peak_bytes > 200 * 2**20            # bytes; the interpreter itself adds more
    True
"""

from __future__ import annotations

import os
import threading
from types import TracebackType

import psutil


def tree_rss(pid: int) -> int:
    """Summed resident set size in bytes of ``pid`` and all its descendants (0 if it is gone)."""
    try:
        root = psutil.Process(pid)
        processes = [root, *root.children(recursive=True)]
    except psutil.Error:
        return 0
    total = 0
    for process in processes:
        try:
            total += process.memory_info().rss
        except psutil.Error:  # a worker that ended between listing and reading
            continue
    return total


class TreeMemory:
    """Samples a process tree's summed RSS in a thread; ``peak_bytes`` is the largest sum seen.

    Args:
        pid: the root process (default: this one).
        interval: seconds between samples (0.2 s catches a trial's peak on this data).
    """

    def __init__(self, pid: int | None = None, interval: float = 0.2) -> None:
        self.pid = os.getpid() if pid is None else pid
        self.interval = interval
        self.peak_bytes = 0
        self.samples = 0
        self._step_peak = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _run(self) -> None:
        while True:
            rss = tree_rss(self.pid)
            self.peak_bytes = max(self.peak_bytes, rss)
            self._step_peak = max(self._step_peak, rss)
            self.samples += 1
            if self._stop.wait(self.interval):
                return

    def step_peak(self) -> int:
        """The peak in bytes since the previous call (or the start): one step's peak."""
        peak, self._step_peak = self._step_peak, 0
        return peak

    def start(self) -> TreeMemory:
        self._thread = threading.Thread(target=self._run, name="asl-tree-memory", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> int:
        """Stop sampling; return the peak in bytes."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        return self.peak_bytes

    def __enter__(self) -> TreeMemory:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()


__all__ = ["TreeMemory", "tree_rss"]
