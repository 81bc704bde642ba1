"""What a real API accepts, read from the installed library (contract and emulation tests)."""

from __future__ import annotations

import importlib
import inspect
import re
from typing import Any


def import_path(path: str) -> Any:
    """Resolve ``a.b.c`` by importing the longest importable prefix, then getattr."""
    parts = path.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for name in parts[cut:]:
            obj = getattr(obj, name)
        return obj
    raise ImportError(path)


def parameters(obj: Any) -> tuple[set[str], bool] | None:
    """Names a callable accepts and whether it takes ``**kwargs``; None if unknowable."""
    target = obj.__init__ if inspect.isclass(obj) and _has_python_init(obj) else obj
    try:
        params = inspect.signature(target).parameters.values()
        names = {p.name for p in params}
        return names, any(p.kind is p.VAR_KEYWORD for p in params)
    except (TypeError, ValueError):
        pass
    # Cython classes: the signature is the first line of the docstring
    match = re.match(r"\s*\w+\((.*?)\)\s*$", (obj.__doc__ or "").split("\n")[0])
    if not match:
        return None
    names = set()
    for item in match.group(1).split(","):
        item = item.split("=")[0].split(":")[0].strip().lstrip("*")
        if item:
            names.add(item.split()[-1])
    return names, "**" in match.group(1)


def _has_python_init(cls: type) -> bool:
    try:
        inspect.signature(cls.__init__)
        return cls.__init__ is not object.__init__
    except (TypeError, ValueError):
        return False
