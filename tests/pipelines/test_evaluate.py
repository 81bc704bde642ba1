"""``lcc evaluate`` (issue 31, item 5): algorithms × data sets × seeds into one table,
resumable cell by cell, as CSV, Markdown and LaTeX."""

from __future__ import annotations

import csv
import json
import statistics

import pytest
import yaml

import lcc
from lcc.cli import main
from lcc.config import ConfigError
from lcc.metrics import paired_difference, sample_std
from lcc.pipelines import evaluate as pipeline

TINY = {"pretrain_epochs": 1, "clustering_epochs": 1, "hidden": [32], "n_init": 1}


def _config(tmp_path, **changes):
    config = {
        "pipeline": "evaluate",
        "name": "tiny",
        "output_dir": str(tmp_path / "runs"),
        "datasets": ["digits"],
        "algorithms": {
            "kmeans": {"estimator": "kmeans", "options": {"n_init": 1}},
            "DEC": {"estimator": "DEC", "options": TINY},
        },
        "seeds": [0, 1],
        "reference": "kmeans",
    }
    return config | changes


def _cells(run_dir):
    return [json.loads(line) for line in (run_dir / "cells.jsonl").read_text().splitlines()]


def test_the_table_is_the_cells_summarised(tmp_path):
    run_dir = lcc.evaluate(_config(tmp_path))
    cells = _cells(run_dir)
    assert len(cells) == 4 and {c["algorithm"] for c in cells} == {"kmeans", "DEC"}
    with open(run_dir / "table.csv") as f:
        rows = {r["algorithm"]: r for r in csv.DictReader(f)}
    dec = [100 * c["acc"] for c in cells if c["algorithm"] == "DEC"]
    base = [100 * c["acc"] for c in cells if c["algorithm"] == "kmeans"]
    assert float(rows["DEC"]["acc_mean"]) == pytest.approx(statistics.mean(dec))
    assert float(rows["DEC"]["acc_std"]) == pytest.approx(sample_std(dec))
    d = paired_difference(dec, base)
    assert float(rows["DEC"]["d_acc"]) == pytest.approx(d.mean)
    assert float(rows["DEC"]["d_acc_low"]) == pytest.approx(d.low)
    assert rows["kmeans"]["d_acc"] == ""  # the reference itself
    markdown = (run_dir / "table.md").read_text()
    assert markdown.startswith("| data | algorithm | ACC |") and "| digits | DEC |" in markdown
    tex = (run_dir / "table.tex").read_text()
    assert r"\begin{tabular}" in tex and r"$\pm$" in tex and r"\end{tabular}" in tex


def test_a_resumed_grid_runs_only_the_missing_cells(tmp_path, monkeypatch):
    run_dir = lcc.evaluate(_config(tmp_path))
    cells = _cells(run_dir)
    kept = "".join(json.dumps(c) + "\n" for c in cells[:-1])
    (run_dir / "cells.jsonl").write_text(kept + '{"data": "dig')  # the last cut short
    fits = []
    real = pipeline._cell
    monkeypatch.setattr(pipeline, "_cell", lambda *a: fits.append(a[1:4]) or real(*a))
    config = yaml.safe_load((run_dir / "config.yaml").read_text())
    pipeline.run(config, run_dir)
    last = cells[-1]
    assert fits == [(last["data"], last["algorithm"], last["seed"])]
    again = _cells(run_dir)  # the torn line is gone, the cell run again after the others
    assert again[:3] == cells[:3] and len(again) == 4
    assert {k: again[3][k] for k in ("data", "algorithm", "seed", "acc")} == {
        k: last[k] for k in ("data", "algorithm", "seed", "acc")
    }  # the same seed gives the same fit


def test_lcc_evaluate_command_and_bad_configs(tmp_path, capsys):
    path = tmp_path / "grid.yaml"
    path.write_text(yaml.safe_dump(_config(tmp_path, seeds=[3, 4])))
    assert main(["evaluate", str(path)]) == 0
    out = capsys.readouterr().out
    assert "| digits | DEC |" in out and "run_dir=" in out
    other = tmp_path / "other.yaml"
    other.write_text("pipeline: ssc\nname: other\n")
    assert main(["evaluate", str(other)]) == 2
    assert "lcc evaluate runs evaluate configs, got 'ssc'" in capsys.readouterr().err
    with pytest.raises((ConfigError, ValueError), match="reference='SSC' is not one of"):
        lcc.evaluate(_config(tmp_path, reference="SSC"))
    with pytest.raises((ConfigError, ValueError), match="seeds"):
        lcc.evaluate(_config(tmp_path, seeds=[1]))


def test_brb_cells_and_a_reference_per_algorithm(tmp_path):
    from lcc.data import load_flat
    from lcc.deep import DEC, BRBCallback
    from lcc.metrics import clustering_accuracy

    brb = {"alpha": 0.8, "interval": 1, "subsample": 500, "n_init": 1}
    options = TINY | {"clustering_epochs": 3}
    algorithms = {
        "kmeans": {"estimator": "kmeans", "options": {"n_init": 1}},
        "DEC": {"estimator": "DEC", "options": options},
        "DEC+BRB": {"estimator": "DEC", "options": options, "brb": brb},
    }
    reference = {"DEC+BRB": "DEC", "DEC": "kmeans"}
    run_dir = lcc.evaluate(_config(tmp_path, algorithms=algorithms, reference=reference))
    cells = {(c["algorithm"], c["seed"]): c for c in _cells(run_dir)}
    x, y, _ = load_flat("digits")
    direct = DEC(10, random_state=1, callbacks=[BRBCallback(seed=1, **brb)], **options).fit(x)
    assert cells[("DEC+BRB", 1)]["acc"] == pytest.approx(clustering_accuracy(y, direct.labels_))
    assert cells[("DEC+BRB", 1)]["acc"] != cells[("DEC", 1)]["acc"]  # the resets did something
    with open(run_dir / "table.csv") as f:
        rows = {r["algorithm"]: r for r in csv.DictReader(f)}
    for algorithm, against in reference.items():
        d = paired_difference(*[[100 * cells[(a, s)]["acc"] for s in (0, 1)]
                                for a in (algorithm, against)])  # fmt: skip
        assert float(rows[algorithm]["d_acc"]) == pytest.approx(d.mean)
        assert rows[algorithm]["vs"] == against
    assert rows["kmeans"]["d_acc"] == ""
    assert "vs DEC |" in (run_dir / "table.md").read_text()


def test_bad_brb_and_reference_mappings_are_named(tmp_path):
    algorithms = {"kmeans": {"estimator": "kmeans", "brb": {"alpha": 0.8}}}
    with pytest.raises((ConfigError, ValueError), match="brb: resets a deep clusterer's"):
        lcc.evaluate(_config(tmp_path, algorithms=algorithms, reference=None))
    with pytest.raises((ConfigError, ValueError), match=r"reference \{'DEC': 'SSC'\} names"):
        lcc.evaluate(_config(tmp_path, reference={"DEC": "SSC"}))


def test_the_brb_config_is_bench_brbs_protocol():
    config = lcc.config.load_config(
        "pipelines/configs/evaluate_brb_digits.yaml", [], pipeline.Config
    ).model_dump()
    assert (config["standardize"], config["resize"]) == (True, 28)
    for name, spec in config["algorithms"].items():
        assert spec["options"]["pretrain_epochs"] == 0 and spec["options"]["augment"] is True
        assert (spec["brb"] is not None) == name.endswith("+BRB")
        if spec["brb"]:  # bench_brb.py's TracedBRB options
            assert spec["brb"] == {"alpha": 0.8, "interval": 20, "subsample": 10_000, "n_init": 10}
            assert config["reference"][name] == name.removesuffix("+BRB")
