"""Pipeline configuration: YAML files, dotted ``key=value`` overrides, typed schemas.

Each pipeline declares its config as a pydantic model (types, ranges, choices,
no unknown keys); :func:`load_config` merges defaults ← YAML ← overrides and
validates the result before anything runs. Every problem becomes one line
naming the dotted key, the value and what is allowed
(``finetune.epochs: expected an integer >= 0, got 'two'``), collected in a
:class:`ConfigError`. Keys checked by a rule of :mod:`lcc._validation` (the LCC step's,
:data:`lcc.correction.STEP_PARAMETERS`) keep the rule's message, under the dotted key
(``lcc.k must be at least 1, got 0``), the one a call with ``k=0`` gets.

pydantic v2 because it is what the ecosystem uses for this (Lightning's CLI
alternatives, FastAPI, Hugging Face's configs), its errors carry the location
and the offending input, and constrained types keep a schema one line per key.
"""

from __future__ import annotations

import copy
import types
import typing
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from lcc._validation import InvalidParameterError

__all__ = ["ConfigError", "Section", "load_config", "parse_overrides"]


class Section(BaseModel):
    """A config mapping: unknown keys are errors, defaults are validated too."""

    model_config = ConfigDict(extra="forbid", validate_default=True)


class ConfigError(ValueError):
    """A config that does not validate; ``lines`` holds one message per problem."""

    def __init__(self, lines: list[str]):
        super().__init__("\n".join(lines))
        self.lines = lines


def parse_overrides(overrides: list[str]) -> dict[str, Any]:
    """``["a.b=3", "c=[x, y]"]`` → ``{"a": {"b": 3}, "c": ["x", "y"]}`` (values are YAML)."""
    nested: dict[str, Any] = {}
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep or not key or any(not part for part in key.split(".")):
            raise ConfigError([f"override {item!r} is not of the form key=value"])
        node = nested
        *parents, leaf = key.split(".")
        for i, part in enumerate(parents):
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                where = ".".join(map(_part, parents[: i + 1]))
                raise ConfigError([f"override {item!r}: {where} is already set to a value"])
        try:
            node[leaf] = yaml.safe_load(raw) if raw else None
        except yaml.YAMLError:
            where = ".".join(map(_part, key.split(".")))
            raise ConfigError([f"{where}: {raw!r} is not a YAML value"]) from None
    return nested


def read_yaml(path: str | Path) -> dict[str, Any]:
    """The mapping in a YAML file. One clear line when the path is missing, a folder or an
    empty file, when the YAML does not parse (with its line and column), when a key is given
    twice in one mapping (YAML would keep the last silently), or when it is not a mapping."""
    path = Path(path)
    if path.is_dir():
        raise ConfigError(
            [f"config file {str(path)!r} is a folder; give one YAML file in it "
             f"(`lcc list --configs {path}` lists them)"]
        )  # fmt: skip
    if not path.is_file():
        raise ConfigError([f"config file {str(path)!r} does not exist"])
    text = path.read_text()
    if not text.strip():
        raise ConfigError([f"config file {str(path)!r} is empty; {_NEEDS}"])
    try:
        loaded = yaml.load(text, Loader=_UniqueKeyLoader)  # a SafeLoader
    except yaml.MarkedYAMLError as err:
        raise ConfigError([f"{path}:{_where(err)} not valid YAML: {_problem(err)}"]) from None
    except yaml.YAMLError as err:
        raise ConfigError([f"{path}: not valid YAML ({str(err).splitlines()[0]})"]) from None
    except _DuplicateKey as err:
        raise ConfigError([f"{path}:{err}"]) from None
    if loaded is None:
        raise ConfigError([f"config file {str(path)!r} holds only comments; {_NEEDS}"])
    if not isinstance(loaded, dict):
        raise ConfigError([f"{path} must hold a YAML mapping, got {type(loaded).__name__}"])
    return loaded


_NEEDS = "a config is a YAML mapping (`lcc list` shows the shipped configs)"


class _DuplicateKey(Exception):
    """``"<line>:<column>: key 'k' given twice in this mapping (first at line N)"``."""


class _UniqueKeyLoader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing a key given twice in one mapping (a second
    ``finetune:`` section would otherwise replace the first without a word)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue  # `<<: *anchor`: its keys may be overridden, as YAML allows
            key = self.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            if isinstance(key, typing.Hashable) and key in seen:
                raise _DuplicateKey(
                    f"{line}:{key_node.start_mark.column + 1}: key {key!r} given twice in "
                    f"one mapping (first at line {seen[key]}); keep one"
                )
            if isinstance(key, typing.Hashable):
                seen[key] = line
        return super().construct_mapping(node, deep=deep)


def _where(err: yaml.MarkedYAMLError) -> str:
    mark = err.problem_mark or err.context_mark
    return "" if mark is None else f"{mark.line + 1}:{mark.column + 1}:"


def _problem(err: yaml.MarkedYAMLError) -> str:
    parts = [err.context, err.problem]
    return "; ".join(p for p in parts if p) or "a syntax error"


def load_config(path: str | Path | None, overrides: list[str], schema: type[BaseModel]) -> Any:
    """The validated ``schema`` instance of YAML file ← command-line overrides.

    Raises :class:`ConfigError` with one line per problem.
    """
    loaded = {} if path is None else read_yaml(path)
    return validate(_update(loaded, parse_overrides(overrides)), schema)


def validate(values: dict[str, Any], schema: type[BaseModel]) -> Any:
    """``schema.model_validate(values)`` with every error as one readable line."""
    try:
        return schema.model_validate(values)
    except ValidationError as err:
        raise ConfigError([describe(e, schema) for e in err.errors()]) from None


def _part(part: Any) -> str:
    """One step of a dotted key: ``[i]`` for a list index, a plain name as it is, any other
    key quoted (one that holds a line break or is empty must not break the line)."""
    if isinstance(part, int):
        return f"[{part}]"
    text = str(part)
    return text if text.isprintable() and text.strip() == text and text else repr(text)


def describe(error: dict[str, Any], schema: type[BaseModel]) -> str:
    """``dotted.key: expected …, got …`` for one pydantic error."""
    loc = error["loc"]
    key = ".".join(_part(p) for p in loc).replace(".[", "[")
    kind, ctx = error["type"], error.get("ctx", {})
    got = f", got {error['input']!r}"
    if kind == "extra_forbidden":
        parent = _annotation(schema, loc[:-1])
        known = sorted(parent.model_fields) if _is_model(parent) else []
        return f"{key}: unknown key; known keys here: {known}"
    if kind == "missing":
        return f"{key}: required"
    if kind == "value_error":
        cause = ctx.get("error")
        if isinstance(cause, InvalidParameterError) and loc and cause.parameter == loc[-1]:
            return str(cause.renamed(key))  # a rule's one line, named by the dotted key
        message = str(ctx.get("error", error["msg"]))
        if not loc or message.startswith(f"{key}."):  # a check across keys names them
            return message
        return f"{key}: {message}" + ("" if repr(error["input"]) in message else got)
    return f"{key}: expected {_expected(kind, ctx, _annotation(schema, loc))}{got}"


def _expected(kind: str, ctx: dict[str, Any], annotation: Any) -> str:
    bounds = _bounds(annotation)
    base = kind.split("_")[0]
    if kind in ("greater_than_equal", "greater_than", "less_than_equal", "less_than"):
        noun = "an integer" if _base_type(annotation) is int else "a number"
        return f"{noun}{bounds}"
    if base == "int":
        return f"an integer{bounds}"
    if base == "float":
        return f"a number{bounds}"
    if kind == "finite_number":
        return f"a finite number{bounds}"
    if base == "bool":
        return "true or false"
    if base in ("string", "str"):
        return "a string"
    if base == "list":
        return "a list"
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        return "a mapping"
    if kind == "literal_error":
        return f"one of {ctx.get('expected')}"
    return kind.replace("_", " ")


def _is_model(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def _unwrap(annotation: Any) -> Any:
    """``Optional[X]`` → X (the non-None member of a union)."""
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return args[0] if len(args) == 1 else annotation
    return annotation


def _annotation(schema: type[BaseModel], loc: tuple) -> Any:
    """The annotation (``Annotated`` kept) at ``loc`` inside ``schema``; None if unknown."""
    current: Any = schema
    for part in loc:
        current = _unwrap(current)
        if typing.get_origin(current) is typing.Annotated:
            current = typing.get_args(current)[0]
        if isinstance(part, str) and _is_model(current) and part in current.model_fields:
            field = current.model_fields[part]
            current = field.annotation
            if field.metadata:
                current = typing.Annotated[(current, *field.metadata)]
        elif isinstance(part, int) and typing.get_origin(current) in (list, tuple):
            current = typing.get_args(current)[0]
        else:
            return None
    return current


def _base_type(annotation: Any) -> Any:
    annotation = _unwrap(annotation)
    if typing.get_origin(annotation) is typing.Annotated:
        return _unwrap(typing.get_args(annotation)[0])
    return annotation


def _bounds(annotation: Any) -> str:
    annotation = _unwrap(annotation)
    if typing.get_origin(annotation) is not typing.Annotated:
        return ""
    parts = []
    metas = []
    for meta in typing.get_args(annotation)[1:]:
        metas.extend(getattr(meta, "metadata", None) or [meta])  # a Field(...) holds its own
    for meta in metas:
        for attr, symbol in (("ge", ">="), ("gt", ">"), ("le", "<="), ("lt", "<")):
            value = getattr(meta, attr, None)
            if value is not None:
                parts.append(f"{symbol} {value}")
    return (" " + " and ".join(parts)) if parts else ""


def _update(base: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """``base`` deep-updated by ``new`` (mappings merged key by key)."""
    out = copy.deepcopy(base)
    for key, value in new.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _update(out[key], value)
        else:
            out[key] = value
    return out
