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
    """Defaults ← YAML file ← command-line overrides.

    The overrides are applied to the file's mapping first and the result is
    checked against ``defaults`` once, so a free-form entry (one whose default
    is ``None``, such as an estimator's keyword arguments) takes new keys from
    the command line too.
    """
    loaded: dict[str, Any] = {}
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"config file {str(path)!r} does not exist")
        loaded = yaml.safe_load(path.read_text()) or {}
        if not isinstance(loaded, dict):
            raise ValueError(f"{path} must hold a YAML mapping")
    return merge(defaults, _update(loaded, parse_overrides(overrides)))


def _update(base: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """``base`` deep-updated by ``new`` (mappings merged key by key)."""
    out = copy.deepcopy(base)
    for key, value in new.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _update(out[key], value)
        else:
            out[key] = value
    return out
