"""One process per run directory: an OS file lock on ``<run_dir>/run.lock``.

Two processes writing one run directory (``lcc run --resume D`` twice, or a resume while
the first run lives) would each append their epochs to ``metrics.jsonl`` and prune each
other's checkpoints. :class:`RunLock` takes an exclusive ``flock`` on the lock file when a
pipeline opens the directory and holds it for the life of the process: the kernel releases
it on any exit, a crash and ``kill -9`` included, so a lock is never stale. The holder's pid
is written into the file, so the refusal can name it.
"""

from __future__ import annotations

import os
import socket
import weakref
from pathlib import Path

from lcc.checkpoint import CheckpointError

__all__ = ["RunDirectoryInUse", "RunLock"]

LOCK_FILE = "run.lock"


class RunDirectoryInUse(CheckpointError):
    """Another live process holds the run directory."""


class RunLock:
    """An exclusive lock on ``run_dir``, taken at construction, released by :meth:`release`,
    when the object is collected, or when the process ends however it ends."""

    def __init__(self, run_dir: str | Path):
        import fcntl

        self.path = Path(run_dir) / LOCK_FILE
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read(fd) or "another process"
            os.close(fd)
            raise RunDirectoryInUse(
                f"run directory {str(run_dir)!r} is in use by {holder}; wait for that run "
                f"to end (or stop it), then resume"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"process {os.getpid()} on {socket.gethostname()}\n".encode())
        os.fsync(fd)
        self._release = weakref.finalize(self, os.close, fd)

    def release(self) -> None:
        """Give the directory up (closing the descriptor drops the lock)."""
        self._release()


def _read(fd: int) -> str:
    os.lseek(fd, 0, os.SEEK_SET)
    return os.read(fd, 200).decode(errors="replace").strip()
