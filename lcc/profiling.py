"""Peak memory of a block of code, for the benchmarks and the pipelines' reports."""

from __future__ import annotations

import threading
import time
from typing import Any

import psutil

__all__ = ["PeakRSS", "rss"]


class PeakRSS:
    """Highest RSS of this process seen by a thread sampling every ``interval`` seconds."""

    def __init__(self, interval: float = 0.002):
        self.interval = interval
        self.process = psutil.Process()
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.process.memory_info().rss)
            time.sleep(self.interval)

    def __enter__(self) -> PeakRSS:
        self.peak = self.process.memory_info().rss
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.process.memory_info().rss)


def rss() -> int:
    return psutil.Process().memory_info().rss
