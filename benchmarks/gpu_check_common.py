"""What the parts of ``benchmarks/gpu_check.py`` share: the report, the GPU probe, which
implementation of lcc's GPU backend runs, and telling an absent package from a failure."""

from __future__ import annotations

import importlib.util
from pathlib import Path

GiB = 2**30


class Report:
    """Prints each line and appends it to ``--out`` at once (a killed run keeps its lines)."""

    def __init__(self, out: Path | None) -> None:
        self.out, self.failed = out, []
        if out is not None:
            out.parent.mkdir(parents=True, exist_ok=True)

    def __call__(self, line: str = "") -> None:
        print(line, flush=True)
        if self.out is not None:
            with self.out.open("a") as fh:
                fh.write(line + "\n")

    def fail(self, part: str, line: str) -> None:
        self.failed.append(part)
        self(f"FAILED: {line}")


def no_gpu_reason(*, torch_cuda: bool) -> str | None:
    """Why the GPU cannot be used here, or None: cupy sees a device (and torch, if asked)."""
    try:
        import cupy
    except Exception as err:  # ImportError, or a broken CUDA install
        return f"no usable CUDA device (cupy does not import: {type(err).__name__}: {err})"
    try:
        if not cupy.is_available():
            return "no usable CUDA device (cupy.is_available() is False)"
    except Exception as err:
        return f"no usable CUDA device (cupy.is_available() raised {type(err).__name__})"
    if torch_cuda:
        try:
            import torch
        except Exception as err:
            return f"torch does not import ({type(err).__name__}: {err})"
        if not torch.cuda.is_available():
            return "no usable CUDA device (torch.cuda.is_available() is False)"
    return None


def installed(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):  # a parent that does not import; no __spec__
        return False


def absent_package(err: ImportError) -> str | None:
    """The top-level package that ``err`` says is not installed, or None (a real failure)."""
    root = (err.name or "").split(".")[0]
    return root if root and isinstance(err, ModuleNotFoundError) and not installed(root) else None


def implementations() -> dict[str, str]:
    """Which code runs each primitive of lcc's GPU backend in this process."""
    from lcc.backends.cupy_tier import implementations as table

    return table()


def implementation_of(table: dict[str, str], primitive: str) -> str:
    """The description of the first row of ``table`` whose name starts with ``primitive``."""
    for name, description in table.items():
        if name.startswith(primitive):
            return description
    return "?"


def report_implementations(report: Report, table: dict[str, str]) -> None:
    report("  implementations (lcc's GPU backend, this process):")
    for name, description in table.items():
        report(f"    {name:<36} {description}")
