"""Atomic output files: a reader never sees a half-written result."""

from __future__ import annotations

import csv
import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["append_jsonl", "write_atomic", "write_csv", "write_json", "write_safetensors"]


def write_atomic(path: str | Path, write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp)`` on a temporary file beside ``path``, fsync it, rename it into place.

    A crash at any moment leaves either the old file or the complete new one.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(Path(tmp))
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp creates 0600; give the usual mode
        _fsync(tmp)
        os.replace(tmp, path)
        _fsync(path.parent)  # the rename itself is durable
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _fsync(path: str | Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # e.g. directories on Windows
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_json(path: str | Path, payload: Any) -> Path:
    return write_atomic(path, lambda p: p.write_text(json.dumps(payload, indent=2) + "\n"))


def append_jsonl(path: str | Path, record: dict[str, Any]) -> None:
    """One JSON line per record, flushed at once (a crash loses at most the last line)."""
    with open(path, "a") as fh:
        fh.write(json.dumps(record) + "\n")
        fh.flush()


def write_csv(path: str | Path, records: list[dict[str, Any]]) -> Path:
    columns = list(dict.fromkeys(key for record in records for key in record))

    def write(tmp: Path) -> None:
        with open(tmp, "w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=columns)
            writer.writeheader()
            writer.writerows(records)

    return write_atomic(path, write)


def write_safetensors(path: str | Path, state_dict: dict[str, Any]) -> Path:
    """A model's ``state_dict`` as safetensors (no pickle), written atomically."""
    from safetensors.torch import save_file

    tensors = {k: v.detach().contiguous().cpu() for k, v in state_dict.items()}
    return write_atomic(path, lambda p: save_file(tensors, str(p)))
