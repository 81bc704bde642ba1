"""A finished run's per-epoch metrics and figures as TensorBoard events.

Every pipeline calls :func:`write_events` when its run completes (config key
``tensorboard``, default true): the rows of ``metrics.jsonl`` become scalars
tagged ``<run>/<seed>/<metric>`` at step ``epoch``, and each ``*.png`` figure
of the run directory an image, all under ``<run_dir>/tensorboard``. Written once
from the final metrics file, so a resumed run has no duplicate or cut-short
epochs. Open them with ``tensorboard --logdir runs``. Nothing happens where the
optional ``tensorboard`` package is not installed.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

__all__ = ["write_events"]

_RUN_KEYS = ("run", "seed")


def write_events(run_dir: str | Path) -> Path | None:
    """Write ``run_dir``'s metrics and PNG figures as events; the event folder, or None
    when tensorboard is not installed."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        return None
    run_dir = Path(run_dir)
    out = run_dir / "tensorboard"
    writer = SummaryWriter(str(out))
    try:
        for index, row in enumerate(_rows(run_dir / "metrics.jsonl")):
            run = "/".join(str(row[k]) for k in _RUN_KEYS if k in row) or "run"
            step = int(row.get("epoch", index))
            for key, value in row.items():
                if key not in (*_RUN_KEYS, "epoch") and _is_scalar(value):
                    writer.add_scalar(f"{run}/{key}", float(value), step)
        for figure in sorted(run_dir.glob("*.png")):
            writer.add_image(figure.stem, _rgb(figure), 0, dataformats="HWC")
    finally:
        writer.close()
    return out


def _rows(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _is_scalar(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _rgb(path: Path) -> Any:
    import numpy as np
    from PIL import Image

    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))
