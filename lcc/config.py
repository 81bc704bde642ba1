"""Pipeline configuration: YAML files, dotted ``key=value`` overrides, checked keys."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

__all__ = ["load_config", "merge"]


def merge(defaults: dict[str, Any], given: dict[str, Any], where: str = "") -> dict[str, Any]:
    """``defaults`` updated by ``given``, recursively; unknown keys are errors."""
    out = copy.deepcopy(defaults)
    for key, value in given.items():
        path = f"{where}{key}"
        if key not in defaults:
            raise ValueError(f"unknown config key {path!r}; known: {sorted(defaults)}")
        if isinstance(defaults[key], dict):
            if not isinstance(value, dict):
                raise ValueError(f"config key {path!r} must be a mapping, got {value!r}")
            out[key] = merge(defaults[key], value, f"{path}.")
        else:
            out[key] = value
    return out


def parse_overrides(overrides: list[str]) -> dict[str, Any]:
    """``["a.b=3", "c=[x, y]"]`` → ``{"a": {"b": 3}, "c": ["x", "y"]}`` (values are YAML)."""
    nested: dict[str, Any] = {}
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise ValueError(f"override {item!r} is not of the form key=value")
        node = nested
        *parents, leaf = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = yaml.safe_load(raw) if raw else None
    return nested


def load_config(
    path: str | Path | None, overrides: list[str], defaults: dict[str, Any]
) -> dict[str, Any]:
    """Defaults ← YAML file ← command-line overrides."""
    config = copy.deepcopy(defaults)
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"config file {str(path)!r} does not exist")
        loaded = yaml.safe_load(path.read_text()) or {}
        if not isinstance(loaded, dict):
            raise ValueError(f"{path} must hold a YAML mapping")
        config = merge(config, loaded)
    return merge(config, parse_overrides(overrides))
