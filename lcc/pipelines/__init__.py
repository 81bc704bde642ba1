"""Batch pipelines run by the ``lcc`` command (configs in the repository's ``pipelines/``)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

__all__ = ["new_run_dir"]


def new_run_dir(config: dict[str, Any]) -> Path:
    """``<output_dir>/<name>-<time>[-n]``, created fresh, holding the resolved ``config.yaml``."""
    import yaml

    from lcc.io import write_atomic

    stamp = time.strftime("%Y%m%d-%H%M%S")
    Path(config["output_dir"]).mkdir(parents=True, exist_ok=True)
    for suffix in range(1, 10_000):
        tail = "" if suffix == 1 else f"-{suffix}"
        run_dir = Path(config["output_dir"]) / f"{config['name']}-{stamp}{tail}"
        try:
            run_dir.mkdir()  # atomic: two runs started in one second get two directories
            break
        except FileExistsError:
            continue
    write_atomic(run_dir / "config.yaml", lambda p: p.write_text(yaml.safe_dump(config)))
    return run_dir
