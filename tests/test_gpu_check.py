"""``benchmarks/gpu_check.sh`` in a simulated device environment, and its pytest plugin.

The GPU machine the check runs on has torch, cupy and pytest but not RAPIDS, Dask, zarr,
pydantic or faiss. Here a ``sitecustomize`` (:data:`SITECUSTOMIZE`, put on ``PYTHONPATH``)
hides those packages from every Python the script starts, so that a step importing one
of them fails here as it would there: the script must still exit 0 with every ``SKIPPED``
line naming only what is absent. With ``LCC_GPU_CHECK_EMULATE=1`` it also replaces cupy,
outside pytest, by the tests' numpy-backed emulation: ``cupy.is_available()`` is then
true and part A runs lcc's cupy tier end to end (torch still sees no CUDA device).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import emulation

ROOT = Path(__file__).resolve().parents[1]
# absent on the GPU machine: RAPIDS (cupy stays: it imports without a GPU), Dask, ...
HIDDEN = (
    *(root for root in emulation.ROOTS if root not in ("cupy", "cupyx")),
    "dask",
    "distributed",
    "zarr",
    "pydantic",
    "faiss",
)
ABSENT_DEVICE = ("no usable CUDA device", "nvidia-smi not found")

SITECUSTOMIZE = '''\
"""A simulated GPU machine (tests/test_gpu_check.py) for every Python started with this
directory on PYTHONPATH.

* The top-level packages named in $GPU_CHECK_HIDE (comma-separated; a name also hides
  ``<name>_*``, e.g. pydantic_core) cannot be imported: every finder of sys.meta_path is
  wrapped so that it does not find them and importlib.metadata does not list them, as
  where they are not installed (import raises ModuleNotFoundError, find_spec is None).
* With LCC_GPU_CHECK_EMULATE=1, except in pytest (whose gpu tests need CUDA), the
  emulation's numpy-backed cupy / cupyx ($GPU_CHECK_TESTS/emulation) replace cupy:
  cupy.is_available() is True, torch still sees no CUDA device.
* Then the sitecustomize this one shadows, if any, runs.
"""

import os
import sys

HIDDEN = tuple(filter(None, os.environ.get("GPU_CHECK_HIDE", "").split(",")))
HERE = os.path.dirname(os.path.abspath(__file__))


def _hidden(name):
    root = (name or "").split(".")[0].lower().replace("-", "_")
    return any(root == h or root.startswith(h + "_") for h in HIDDEN)


class _Hide:
    """A finder of sys.meta_path that does not find the hidden packages."""

    def __init__(self, finder):
        self._finder = finder

    def __getattr__(self, name):
        return getattr(self._finder, name)

    def find_spec(self, name, path=None, target=None):
        find = getattr(self._finder, "find_spec", None)
        return None if find is None or _hidden(name) else find(name, path, target)

    def find_distributions(self, *args, **kwargs):
        find = getattr(self._finder, "find_distributions", None)
        for dist in () if find is None else find(*args, **kwargs):
            if not _hidden(getattr(dist, "_normalized_name", None) or dist.metadata["Name"]):
                yield dist


def _hide():
    for name in [m for m in sys.modules if _hidden(m)]:
        del sys.modules[name]
    sys.meta_path[:] = [_Hide(f) for f in sys.meta_path]


def _emulate():
    argv = getattr(sys, "orig_argv", sys.argv)
    if os.environ.get("LCC_GPU_CHECK_EMULATE") != "1" or "pytest" in " ".join(argv[1:3]):
        return
    from importlib.machinery import ModuleSpec

    try:
        import cupy  # the real one imports without a GPU: its names keep the fake strict

        names = set(dir(cupy))
    except ImportError:
        names = None
    for name in [m for m in sys.modules if m.split(".")[0] in ("cupy", "cupyx")]:
        del sys.modules[name]
    tests = os.environ["GPU_CHECK_TESTS"]
    sys.path.insert(0, tests)
    try:
        import emulation
        from emulation import fake_cupy, fake_dask_rapids
    finally:
        sys.path.remove(tests)
    fake_cupy.REAL_NAMES = names
    dask_fakes, fake_dask_rapids.module_tree = fake_dask_rapids.module_tree, dict
    try:  # the Dask-RAPIDS fakes need distributed (hidden); only cupy / cupyx are wanted
        tree = emulation.modules()
    finally:
        fake_dask_rapids.module_tree = dask_fakes
    for name, module in tree.items():
        if name.split(".")[0] in getattr(emulation, "CUPY_ONLY", ("cupy", "cupyx")):
            if getattr(module, "__spec__", None) is None:
                module.__spec__ = ModuleSpec(name, None)
            sys.modules[name] = module


def _chain():
    import importlib.util

    for entry in sys.path:
        path = os.path.join(entry or os.getcwd(), "sitecustomize.py")
        if os.path.dirname(os.path.abspath(path)) != HERE and os.path.isfile(path):
            spec = importlib.util.spec_from_file_location("_sitecustomize_chained", path)
            spec.loader.exec_module(importlib.util.module_from_spec(spec))
            return


_hide()
_emulate()
_chain()
'''


def _simulated_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """The environment of a simulated device: the sitecustomize first on PYTHONPATH."""
    site = tmp_path / "simulated_site"
    site.mkdir(exist_ok=True)
    (site / "sitecustomize.py").write_text(SITECUSTOMIZE)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "LCC_", "GPU_"))}
    env.pop("OUT", None)
    path = env.get("PYTHONPATH")
    env |= {
        "PYTHONPATH": f"{site}{os.pathsep + path if path else ''}",
        "GPU_CHECK_HIDE": ",".join(HIDDEN),
        "GPU_CHECK_TESTS": str(ROOT / "tests"),
        **extra,
    }
    return env


def _run_gpu_check(tmp_path: Path, **extra: str) -> tuple[int, str, str]:
    """``bash benchmarks/gpu_check.sh`` there: exit status, its output, its results file."""
    results, wheels = tmp_path / "gpu_check.txt", tmp_path / "no_wheels"
    wheels.mkdir()
    env = _simulated_env(
        tmp_path,
        PYTHON=sys.executable,
        RESULTS=str(results),
        WHEELS=str(wheels),
        SITE=str(tmp_path / "site"),
        **extra,
    )
    run = subprocess.run(
        ["bash", "benchmarks/gpu_check.sh"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    return run.returncode, run.stdout + run.stderr, results.read_text()


def _names_only_what_is_absent(line: str) -> bool:
    """A SKIPPED line that blames the missing GPU, or a hidden package being absent."""
    if any(reason in line for reason in ABSENT_DEVICE):
        return True
    low = line.lower()
    named = any(re.search(rf"\b{name}\b", low) for name in (*HIDDEN, "rapids"))
    return named and any(s in low for s in ("not installed", "no module named", "could not"))


def _check_clean(rc: int, output: str, results: str) -> list[str]:
    skipped = [line for line in output.splitlines() if "SKIPPED" in line]
    assert rc == 0, output[-6000:]
    assert "FAILED" not in output and "Traceback" not in output, output[-6000:]
    assert [line for line in skipped if not _names_only_what_is_absent(line)] == []
    assert "no problems" in results and "== part C" in results
    return skipped


def test_gpu_check_passes_on_a_device_without_rapids_dask_zarr_pydantic(tmp_path):
    rc, output, results = _run_gpu_check(tmp_path)
    skipped = _check_clean(rc, output, results)
    for part in "ABC":  # no GPU here (cupy.is_available() is False): every part skips
        assert f"== Part {part}" in results
    assert sum(line.startswith("SKIPPED: no usable CUDA device") for line in skipped) == 3
    assert "GPU tests" in results and "deselected" in results  # pytest ran and collected


def test_gpu_check_runs_part_a_on_the_emulated_cupy_tier(tmp_path):
    rc, output, results = _run_gpu_check(
        tmp_path, LCC_GPU_CHECK_EMULATE="1", GPU_CHECK_N="5000", GPU_CHECK_REPEATS="1"
    )
    _check_clean(rc, output, results)
    part_a = results.split("== Part A", 1)[1].split("== Part B", 1)[0]
    assert "SKIPPED" not in part_a, part_a
    for stage in ("lcc.knn_graph (exact)", "lcc.leiden", "lcc.match_clusters",
                  "lcc.correction_targets (exact)"):  # fmt: skip
        assert re.search(rf"{re.escape(stage)} +warm-up +\d+\.\d+ s +median of 1", part_a)
    assert "implementations (lcc's GPU backend, this process):" in part_a
    assert re.search(r"clusters \(lcc\.leiden\): 100 +ARI vs blobs: 1\.0000", part_a), part_a
    assert "RMM: not installed" in part_a  # hidden here, as there
    torch_reason = "SKIPPED: no usable CUDA device (torch.cuda.is_available() is False)"
    assert results.count(torch_reason) == 2  # parts B and C need torch on CUDA


def test_the_plugin_skips_a_module_only_for_a_package_that_is_not_installed(tmp_path):
    """Absent packages (also behind a conftest, one hidden as on the device, and one a test
    imports as it runs) are skips; a missing submodule of an installed package or a module
    of the project stays an error."""
    project = tmp_path / "project"
    for folder in ("sub", "local"):
        (project / folder).mkdir(parents=True)
    files = {
        "pytest.ini": "[pytest]\n",
        "test_absent.py": "import gpu_check_no_such_package\n",
        "test_hidden.py": "import zarr.storage\n",
        "test_inside.py": "import json.no_such_submodule\n",
        "local/helper_here.py": "X = 1\n",
        "local/test_local.py": "import helper_here\n",  # importlib mode: not on sys.path
        "test_ok.py": "def test_ok():\n    pass\n",
        "test_runtime.py": "def test_runtime():\n    import gpu_check_no_such_runtime_package\n",
        "test_broken.py": "def test_broken():\n    import json.no_such_submodule\n",
        "sub/conftest.py": "import gpu_check_no_such_conftest_package\n",
        "sub/test_sub.py": "def test_sub():\n    pass\n",
    }
    for name, text in files.items():
        (project / name).write_text(text)
    env = _simulated_env(tmp_path)
    env["PYTHONPATH"] = f"{ROOT / 'benchmarks'}{os.pathsep}{env['PYTHONPATH']}"
    args = "-p gpu_check_plugin -p no:cacheprovider -ra --import-mode=importlib"
    run = subprocess.run(
        [sys.executable, "-m", "pytest", *args.split(), "--continue-on-collection-errors"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    summary = run.stdout.split("short test summary info", 1)[-1]
    assert "SKIPPED [1] test_absent.py: gpu_check_no_such_package not installed" in summary
    assert "SKIPPED [1] test_hidden.py: zarr not installed" in summary
    assert "SKIPPED [1] sub: gpu_check_no_such_conftest_package not installed" in summary
    assert "ERROR test_inside.py" in summary and "ERROR local/test_local.py" in summary
    assert "gpu_check_no_such_runtime_package not installed (needed at run time)" in summary
    assert "FAILED test_broken.py::test_broken" in summary  # inside an installed package
    assert re.search(r"1 failed, 1 passed, 4 skipped, 2 errors", run.stdout), run.stdout
    assert run.returncode == 1


def test_part_a_peak_memory_counts_rmm_allocations(emulated_gpu, monkeypatch):
    """Issue 25, defect 4: with RMM as lcc's allocator, part A's peak memory includes what
    was allocated through RMM (the old check read cupy's own pool and torch only)."""
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    import cupy
    import gpu_check

    from lcc import gpu_memory

    monkeypatch.setattr(gpu_memory, "_rmm_installed", lambda: True)
    assert gpu_memory.use_one_allocator() == "rmm"
    memory = gpu_check.Memory()
    with memory.stage() as peaks:
        block = cupy.empty(8 << 20, dtype=cupy.uint8)
        del block
    assert peaks["RMM"] >= 8 << 20
    assert "RMM 0.01 GiB" in memory.describe(peaks)
