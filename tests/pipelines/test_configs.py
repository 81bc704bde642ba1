"""Every shipped pipeline config validates against its pipeline's schema (no stale keys)."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest
import yaml

from lcc.cli import PIPELINES
from lcc.config import load_config
from lcc.data import EMBEDDED
from lcc.models import WeightsNotFoundError, locate_weights

CONFIGS = sorted((Path(__file__).parents[2] / "pipelines" / "configs").glob("*.yaml"))


@pytest.mark.parametrize("path", CONFIGS, ids=[p.stem for p in CONFIGS])
def test_config_loads(path, tmp_path, monkeypatch):
    loaded = yaml.safe_load(path.read_text())
    pipeline = loaded.get("pipeline", "lcc_finetune")
    module = importlib.import_module(PIPELINES[pipeline])
    # a torchvision data set's folder must exist: this machine has none, so point at an empty one
    names = loaded["datasets"] if pipeline == "evaluate" else [loaded["data"]["name"]]
    local = [] if set(names) <= set(EMBEDDED) else [f"data.root={tmp_path}"]
    # published weights are looked for in the torch hub cache: put a file where they would be
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    model = loaded.get("model", {}) if pipeline == "lcc_finetune" else {}
    if model.get("weights") is not None:
        with pytest.raises(WeightsNotFoundError) as missing:
            locate_weights(model["name"], model["weights"])
        place = Path(missing.value.places[0])
        place.parent.mkdir(parents=True)
        place.touch()
    config = load_config(path, local, module.Config)
    assert config.name == path.stem and config.pipeline == pipeline


def test_there_are_configs():
    assert len(CONFIGS) >= 14
