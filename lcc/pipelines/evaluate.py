"""``lcc evaluate``: algorithms × data sets × seeds into one table (ClustPy's
``evaluate_multiple_datasets``, the way lcc runs pipelines).

Every cell (an algorithm fitted on a data set with one seed) appends one line to
``cells.jsonl`` in the run directory as it finishes: ACC, NMI, ARI of the fit's
``labels_`` and its time. ``lcc run --resume RUN_DIR`` (or ``lcc evaluate --resume``)
skips the cells already there. At the end, per data set and algorithm, each metric's
mean ± sample standard deviation over the seeds (in %), and against the ``reference``
algorithm the difference paired by seed with its Student-t 95 % interval, go to
``table.csv``, ``table.md`` and ``table.tex``.

An algorithm is one of lcc's estimators (``DEC``, ``IDEC``, ``DCN``) with its options and,
optionally, BRB's options (``brb:``, :class:`lcc.deep.BRBCallback`, seeded with the cell's
seed), or ``kmeans`` (:func:`lcc.kmeans` on the inputs, ``n_init=10``), the baseline every
deep clustering method is measured against; ``n_clusters`` is each data set's class count.
``reference`` is one algorithm for all, or a mapping from algorithm to its own reference
(``{DEC+BRB: DEC, IDEC+BRB: IDEC}``: BRB's paired gain per method, as the BRB paper reports
it). ``pipelines/configs/evaluate_brb_digits.yaml`` is ``benchmarks/bench_brb.py``'s table.
"""

from __future__ import annotations

import json
import statistics
import time
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import Field, model_validator

from lcc.config import Section
from lcc.io import append_jsonl, write_atomic, write_csv, write_json
from lcc.metrics import ari, clustering_accuracy, nmi, paired_difference, sample_std
from lcc.pipelines._lock import RunLock
from lcc.pipelines._schema import DataName, RunConfig

__all__ = ["Config", "evaluate", "run"]

CELLS = "cells.jsonl"
METRICS = {"acc": clustering_accuracy, "nmi": nmi, "ari": ari}


class Algorithm(Section):
    """One column of the grid: an estimator, its keyword options and BRB's, if any."""

    estimator: Literal["DEC", "IDEC", "DCN", "kmeans"]
    options: dict[str, Any] = {}
    brb: dict[str, Any] | None = None  # BRBCallback's options; its seed is the cell's

    @model_validator(mode="after")
    def _brb_on_a_deep_estimator(self) -> Algorithm:
        if self.brb is not None and self.estimator == "kmeans":
            raise ValueError("brb: resets a deep clusterer's centres; kmeans has none")
        return self


class Config(RunConfig):
    """The ``evaluate`` pipeline: every ``datasets × algorithms × seeds`` cell."""

    pipeline: Literal["evaluate"] = "evaluate"
    name: str = "evaluate"
    datasets: Annotated[list[DataName], Field(min_length=1)] = ["digits"]
    standardize: bool | Literal["before_resize"] = False  # z-transform over all pixels
    resize: Annotated[int, Field(ge=2)] | None = None  # images resized to resize × resize
    algorithms: Annotated[dict[str, Algorithm], Field(min_length=1)]
    seeds: Annotated[list[int], Field(min_length=2)] = [0, 1, 2, 3, 4]
    # an algorithms key (paired differences against it), or one per algorithm
    reference: str | dict[str, str] | None = None
    device: str = "cpu"

    @model_validator(mode="after")
    def _known_reference(self) -> Config:
        known = sorted(self.algorithms)
        if isinstance(self.reference, dict):
            for algorithm, reference in self.reference.items():
                if algorithm not in self.algorithms or reference not in self.algorithms:
                    raise ValueError(
                        f"reference {{{algorithm!r}: {reference!r}}} names an algorithm that "
                        f"is not one of {known}"
                    )
        elif self.reference is not None and self.reference not in self.algorithms:
            raise ValueError(f"reference={self.reference!r} is not one of the algorithms {known}")
        if len(set(self.seeds)) != len(self.seeds):
            raise ValueError(f"seeds {self.seeds} repeat a seed; each cell is run once")
        return self


def evaluate(config: dict[str, Any] | str | Path, run_dir: Path | None = None) -> Path:
    """Run (or, given ``run_dir``, finish) an evaluation grid; returns its run directory.
    ``config`` is a dict or a YAML file, checked against :class:`Config`."""
    from lcc.config import load_config, validate
    from lcc.pipelines import new_run_dir

    schema = load_config(config, [], Config) if isinstance(config, str | Path) else None
    resolved = (schema or validate(config, Config)).model_dump()
    return run(resolved, run_dir or new_run_dir(resolved))


def run(config: dict[str, Any], run_dir: Path | None = None) -> Path:
    """Every cell not yet in ``run_dir``'s ``cells.jsonl``, then the tables."""
    from tqdm.auto import tqdm

    from lcc.data import load_flat
    from lcc.pipelines import new_run_dir

    run_dir = Path(run_dir or new_run_dir(config))
    lock = RunLock(run_dir)
    try:
        done = _finished(run_dir / CELLS)
        grid = [(d, a, s) for d in config["datasets"] for a in config["algorithms"]
                for s in config["seeds"]]  # fmt: skip
        todo = [cell for cell in grid if cell not in done]
        data: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        for name, algorithm, seed in tqdm(todo, desc="cells", unit="fit"):
            if name not in data:
                options = {"standardize": config["standardize"], "resize": config["resize"]}
                x, y, _ = load_flat(name, **options)
                data[name] = (x, y)
            row = _cell(config, name, algorithm, seed, *data[name])
            append_jsonl(run_dir / CELLS, row)
            done[(name, algorithm, seed)] = row
        table = summarise(config, done)
        write_tables(run_dir, table)
        print(markdown(table))
        write_json(run_dir / "complete.json", {"cells": len(grid)})
    finally:
        lock.release()
    return run_dir


def _finished(path: Path) -> dict[tuple[str, str, int], dict[str, Any]]:
    """The cells of ``cells.jsonl``. A line cut short by a crash is dropped from the file
    (rewritten atomically, so the next cell does not land on it) and its cell run again."""
    done: dict[tuple[str, str, int], dict[str, Any]] = {}
    if not path.is_file():
        return done
    text = path.read_text()
    for line in text.splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue
        done[(row["data"], row["algorithm"], row["seed"])] = row
    kept = "".join(json.dumps(row) + "\n" for row in done.values())
    if kept != text:
        write_atomic(path, lambda p: p.write_text(kept))
    return done


def _cell(config: dict, name: str, algorithm: str, seed: int, x, y) -> dict[str, Any]:
    """One fit: its metrics (fractions) and seconds."""
    spec = config["algorithms"][algorithm]
    n_clusters = len(np.unique(y))
    start = time.perf_counter()
    if spec["estimator"] == "kmeans":
        from lcc import kmeans

        options = {"n_init": 10} | spec["options"]
        labels = np.asarray(kmeans(x, n_clusters, seed=seed, **options).labels)
    else:
        from lcc import deep

        estimator = getattr(deep, spec["estimator"])
        options = {"device": config["device"]} | spec["options"]
        if spec["brb"] is not None:
            options["callbacks"] = [deep.BRBCallback(**({"seed": seed} | spec["brb"]))]
        labels = estimator(n_clusters, random_state=seed, **options).fit(x).labels_
    seconds = time.perf_counter() - start
    scores = {key: float(metric(y, labels)) for key, metric in METRICS.items()}
    return {"data": name, "algorithm": algorithm, "seed": seed} | scores | {"seconds": seconds}


def summarise(config: dict[str, Any], done: dict) -> list[dict[str, Any]]:
    """Per data set and algorithm: mean and sample std (in %) of each metric over the seeds,
    and the paired difference to the reference with its 95 % interval (in points)."""
    rows = []
    for name in config["datasets"]:
        for algorithm in config["algorithms"]:
            cells = [done[(name, algorithm, s)] for s in config["seeds"]]
            row: dict[str, Any] = {"data": name, "algorithm": algorithm, "seeds": len(cells)}
            for key in METRICS:
                values = [100 * c[key] for c in cells]
                row |= {f"{key}_mean": statistics.mean(values), f"{key}_std": sample_std(values)}
            reference = _reference(config["reference"], algorithm)
            if reference is not None and reference != algorithm:
                base = [100 * done[(name, reference, s)]["acc"] for s in config["seeds"]]
                d = paired_difference([100 * c["acc"] for c in cells], base)
                row |= {"d_acc": d.mean, "d_acc_low": d.low, "d_acc_high": d.high}
                if isinstance(config["reference"], dict):  # say which, in the table
                    row["vs"] = reference
            row["seconds"] = statistics.mean(c["seconds"] for c in cells)
            rows.append(row)
    return rows


def _reference(reference: str | dict[str, str] | None, algorithm: str) -> str | None:
    """The algorithm ``algorithm`` is compared with (None: none)."""
    return reference.get(algorithm) if isinstance(reference, dict) else reference


def _cells_of(row: dict[str, Any]) -> list[str]:
    """The table's text cells of one summary row."""
    out = [row["data"], row["algorithm"]]
    out += [f"{row[f'{k}_mean']:.1f} ± {row[f'{k}_std']:.1f}" for k in METRICS]
    delta = "—"
    if "d_acc" in row:
        delta = f"{row['d_acc']:+.1f} [{row['d_acc_low']:+.1f}, {row['d_acc_high']:+.1f}]"
        delta += f" vs {row['vs']}" if "vs" in row else ""
    return [*out, delta, f"{row['seconds']:.1f}"]


HEADER = ["data", "algorithm", "ACC", "NMI", "ARI", "ΔACC vs reference [95% CI]", "s / fit"]


def markdown(table: list[dict[str, Any]]) -> str:
    lines = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    return "\n".join(lines + ["| " + " | ".join(_cells_of(r)) + " |" for r in table])


def latex(table: list[dict[str, Any]]) -> str:
    def escape(text: str) -> str:
        return text.replace("_", r"\_").replace("%", r"\%").replace("±", r"$\pm$")

    head = " & ".join(escape(h.replace("Δ", r"$\Delta$")) for h in HEADER)
    body = [" & ".join(escape(c) for c in _cells_of(r)) + r" \\" for r in table]
    return "\n".join(
        [r"\begin{tabular}{ll" + "r" * (len(HEADER) - 2) + "}", r"\toprule", head + r" \\",
         r"\midrule", *body, r"\bottomrule", r"\end{tabular}"]
    )  # fmt: skip


def write_tables(run_dir: Path, table: list[dict[str, Any]]) -> None:
    """``table.csv`` (the numbers), ``table.md`` and ``table.tex``, each written atomically."""
    write_csv(run_dir / "table.csv", table)
    write_atomic(run_dir / "table.md", lambda p: p.write_text(markdown(table) + "\n"))
    write_atomic(run_dir / "table.tex", lambda p: p.write_text(latex(table) + "\n"))
