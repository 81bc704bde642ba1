"""Every shipped pipeline config loads against its pipeline's defaults (no stale keys)."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest
import yaml

from lcc.cli import PIPELINES
from lcc.config import load_config

CONFIGS = sorted((Path(__file__).parents[2] / "pipelines" / "configs").glob("*.yaml"))


@pytest.mark.parametrize("path", CONFIGS, ids=[p.stem for p in CONFIGS])
def test_config_loads(path):
    pipeline = yaml.safe_load(path.read_text()).get("pipeline", "lcc_finetune")
    module = importlib.import_module(PIPELINES[pipeline])
    config = load_config(path, [], {"pipeline": pipeline} | module.DEFAULTS)
    assert config["name"] == path.stem


def test_there_are_configs():
    assert len(CONFIGS) >= 14
