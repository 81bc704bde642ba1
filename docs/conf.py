"""Sphinx configuration of lcc's documentation site (``./docs.sh`` builds it).

Sphinx with MyST and MyST-NB, as scikit-learn, Lightning and rapids-singlecell build
theirs: the API reference comes from the numpydoc docstrings (autodoc + napoleon, the
papers' equation numbers kept), the user guide from the README's sections (one source,
``{include}`` between ``<!-- guide:NAME -->`` markers), the notebooks are executed at
build time on the embedded data (they stay stripped in git), and the theme is
scikit-learn's (pydata-sphinx-theme). The build runs with warnings as errors.

Every name in the ``__all__`` of :data:`PUBLIC_MODULES` must be in the API reference and
have a docstring (:func:`check_public_names`), and every cross-reference to an ``lcc`` name
must name one that exists (:func:`check_reference`); both warn, which fails the build, as
does a link to a page or label that is not there.
"""

from __future__ import annotations

import importlib
import inspect
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

project = "lcc"
author = "the lcc developers"
copyright = "2026, the lcc developers"

extensions = [
    "myst_nb",
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
]
exclude_patterns = ["_build", "notebooks/README.md", "**/.ipynb_checkpoints"]
html_theme = "pydata_sphinx_theme"
html_title = "lcc"
html_theme_options = {"navigation_with_keys": False, "show_toc_level": 2}

# the README's sections are included under each guide page's own title
suppress_warnings = ["myst.header"]
myst_enable_extensions = ["colon_fence", "dollarmath"]

# numpydoc docstrings; signatures show the type hints
napoleon_google_docstring = False
napoleon_numpy_docstring = True
napoleon_use_ivar = True  # a NamedTuple's fields are described once, by autodoc
autodoc_typehints = "signature"
autodoc_member_order = "bysource"
autodoc_default_options = {"members": True, "show-inheritance": True}

# the notebooks run at build time, every cell, and a failing cell fails the build;
# LCC_DOCS_EXECUTE=off skips them (the tests of the build's checks)
nb_execution_mode = os.environ.get("LCC_DOCS_EXECUTE", "force")
nb_execution_timeout = 900
nb_execution_raise_on_error = True
nb_merge_streams = True

PUBLIC_MODULES = [
    "lcc",
    "lcc.metrics",
    "lcc.data",
    "lcc.distributed",
    "lcc.staging",
    "lcc.partition_guard",
    "lcc.training",
    "lcc.lightning",
    "lcc.deep",
    "lcc.losses",
    "lcc.models",
    "lcc.checkpoint",
    "lcc.config",
    "lcc.plots",
    "lcc.doctor",
    "lcc.gpu_memory",
]
"""The modules whose ``__all__`` is lcc's public API, one reference page each."""


def _skip_inherited_from_libraries(app, what, name, obj, skip, options):
    """Members a class inherits from scikit-learn, torch or Lightning (``set_fit_request``,
    ``forward`` hooks…) are those libraries' to document."""
    module = getattr(obj, "__module__", None) or ""
    return True if module.split(".")[0] in ("sklearn", "torch", "lightning") else skip


def _documented(app, what, name, obj, options, lines) -> None:
    """Remember every object autodoc describes (by identity: a name re-exported by two
    public modules is described once, on the page of the module that defines it)."""
    app.env.lcc_documented = getattr(app.env, "lcc_documented", set()) | {id(obj)}


def _object_names(module: str) -> list[tuple[str, object]]:
    """``(qualified name, object)`` of every non-module name in ``module.__all__``."""
    mod = importlib.import_module(module)
    out = []
    for name in getattr(mod, "__all__", []):
        obj = getattr(mod, name)
        if not inspect.ismodule(obj):
            out.append((f"{module}.{name}", obj))
    return out


def check_public_names(app, env) -> None:
    """Warn about a public name (in ``__all__``) without a docstring or missing from the
    API reference, and about a public module without a reference page."""
    from sphinx.util import logging

    log = logging.getLogger("lcc.docs")
    documented = getattr(env, "lcc_documented", set())
    for module in app.config.lcc_public_modules:
        if f"api/{module}" not in env.found_docs:
            log.warning(f"public module {module} has no page api/{module}.md")
        for qualified, obj in _object_names(module):
            callable_or_class = inspect.isclass(obj) or inspect.isroutine(obj)
            if callable_or_class and not (getattr(obj, "__doc__", None) or "").strip():
                log.warning(f"undocumented public name {qualified}: it has no docstring")
            if callable_or_class and id(obj) not in documented:
                log.warning(f"public name {qualified} is not in the API reference")


def _resolves(target: str) -> bool:
    """Whether ``target`` (``lcc.a.b``) names a module or an attribute reachable from one."""
    parts = target.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        try:
            for name in parts[cut:]:
                obj = getattr(obj, name)
        except AttributeError:
            return False
        return True
    return False


def check_reference(app, env, node, contnode):
    """A Python cross-reference to an ``lcc`` name that does not exist is a broken link
    (references to lcc's own private modules resolve to nothing on the site, but exist)."""
    from sphinx.util import logging

    target = node.get("reftarget", "")
    if node.get("refdomain") == "py" and target.startswith("lcc.") and not _resolves(target):
        logging.getLogger("lcc.docs").warning(
            f"broken cross-reference {target}: no such lcc name", location=node
        )
    return None


def setup(app):
    app.add_config_value("lcc_public_modules", PUBLIC_MODULES, "env", types=[list])
    app.connect("autodoc-skip-member", _skip_inherited_from_libraries)
    app.connect("autodoc-process-docstring", _documented)
    app.connect("env-check-consistency", check_public_names)
    app.connect("missing-reference", check_reference)
    return {"parallel_read_safe": False}
