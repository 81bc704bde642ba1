"""``lcc doctor``: versions, GPUs, which backends can run, and an engine smoke test on each.

Exits 1 when something installed is broken (a failed import or smoke test); a
missing optional package (no RAPIDS) is not an error, only reported with the
install line that adds it. :func:`report` returns the same as a dataclass.
"""

from __future__ import annotations

import functools
import importlib
import importlib.metadata
import importlib.util
import platform
import sys
import threading
import time
import warnings
from dataclasses import dataclass
from typing import Literal

__all__ = ["Backend", "DoctorReport", "GPUDevice", "Package", "Smoke", "main", "report"]

DISTRIBUTION = "lcc-torch"  # the import package is lcc; "lcc" on PyPI is another project
GPU_EXTRA = f'pip install "{DISTRIBUTION}[gpu]"'
NO_DEVICE = "no CUDA device visible: install the NVIDIA driver / run on a GPU machine"
REQUIREMENTS = {  # import name -> the pip requirement that installs it alone
    "torch": "torch", "cupy": "cupy-cuda13x", "cuml": "cuml-cu13==26.10.*",
    "cugraph": "cugraph-cu13==26.10.*", "cudf": "cudf-cu13==26.10.*",
    "cuvs": "cuvs-cu13==26.10.*", "dask_cudf": "dask-cudf-cu13==26.10.*",
    "dask_cuda": "dask-cuda[cu13]==26.10.*", "rmm": "rmm-cu13==26.10.*", "faiss": "faiss-cpu",
    "igraph": "igraph", "sklearn": "scikit-learn", "scipy": "scipy", "numpy": "numpy",
    "dask": "dask[array]", "distributed": "distributed",
}  # fmt: skip
PACKAGES = tuple(REQUIREMENTS)  # what is checked, in the order shown
NEEDS = {  # backend -> import names it needs (and the backend it builds on)
    "cpu": ("numpy", "scipy", "sklearn", "faiss", "igraph"),
    "gpu": ("cupy",),  # RAPIDS is optional: each primitive without it runs its cupy tier
    "dask": ("dask", "distributed"),
    "dask-cuda": ("dask_cuda", "dask_cudf", "cuml", "cugraph", "cuvs", "cudf"),
}
SMOKE_SIZES = {"cpu": (5_000, 16), "gpu": (20_000, 32)}  # (samples, features)
TIME_LIMIT = 30.0  # seconds; a run takes about 1 s, longer only when something hangs


@dataclass
class Package:
    """A library: ``version`` None when not installed, ``error`` when it fails to import."""

    name: str
    module: str
    requirement: str
    version: str | None = None
    error: str | None = None
    detail: str = ""

    @property
    def usable(self) -> bool:
        """Installed and importable."""
        return self.version is not None and self.error is None

    def text(self) -> str:
        """The version column of the report."""
        if self.version is None:
            return "not installed"
        if self.error:
            return f"{self.version}  FAILS TO IMPORT: {self.error}"
        return f"{self.version}  {self.detail}".rstrip()


@dataclass
class GPUDevice:
    """A CUDA device and its memory in bytes."""

    name: str
    free: int
    total: int

    def text(self) -> str:
        """Name and memory, in GiB."""
        return f"{self.name}, {self.free / 2**30:.1f} GiB free of {self.total / 2**30:.1f} GiB"


@dataclass
class Backend:
    """Whether a backend can run here; ``fix`` says what to do when it cannot."""

    name: str
    ok: bool
    fix: str = ""


@dataclass
class Smoke:
    """An engine smoke test on one backend; ``seconds`` is None when it was skipped."""

    backend: str
    status: Literal["PASS", "FAIL", "skipped"]
    seconds: float | None = None
    detail: str = ""

    def text(self) -> str:
        """Status, time and what ran (or why not)."""
        if self.seconds is None:
            return f"{self.status}: {self.detail}"
        return f"{self.status}  {self.seconds:.2f} s  {self.detail}"


@dataclass
class DoctorReport:
    """Everything ``lcc doctor`` prints; :meth:`format` renders it."""

    python: str
    packages: list[Package]
    devices: list[GPUDevice]
    backends: list[Backend]
    primitives: list[tuple[str, str]]
    smoke: list[Smoke]

    @property
    def problems(self) -> list[str]:
        """What is installed but broken: failed imports and failed smoke tests."""
        imports = [f"{p.name} fails to import: {p.error}" for p in self.packages if p.error]
        failed = [f"{s.backend} smoke test: {s.detail}" for s in self.smoke if s.status == "FAIL"]
        return imports + failed

    @property
    def exit_code(self) -> int:
        """0 when everything installed works, else 1."""
        return 1 if self.problems else 0

    def format(self) -> str:
        """Sections Versions / Devices / Backends / Smoke tests as aligned columns, a verdict."""
        versions = [("Python", self.python), ("lcc", _own_version())]
        devices = [(f"GPU {i}", d.text()) for i, d in enumerate(self.devices)] or [("GPU", "none")]
        sections = {
            "Versions": versions + [(p.name, p.text()) for p in self.packages],
            "Devices": devices,
            "Backends": [(b.name, "yes" if b.ok else f"no: {b.fix}") for b in self.backends],
            "GPU primitives": self.primitives or [("(all)", "cupy is not installed")],
            "Smoke tests": [(s.backend, s.text()) for s in self.smoke],
        }
        width = max(len(key) for rows in sections.values() for key, _ in rows)
        lines: list[str] = []
        for title, rows in sections.items():
            lines += [title, *(f"  {key:<{width}}  {value}" for key, value in rows), ""]
        problems = [f"  - {problem}" for problem in self.problems]
        return "\n".join(lines + (["Problems:", *problems] if problems else ["All OK."]))


def _one_line(err: BaseException) -> str:
    """``Type: first line of the message``, at most 200 characters."""
    lines = str(err).strip().splitlines()
    return f"{type(err).__name__}: {lines[0]}"[:200] if lines else type(err).__name__


@functools.cache
def _distributions() -> dict[str, list[str]]:
    return importlib.metadata.packages_distributions()


def check_package(module: str, *, found: bool = True) -> Package:
    """Find, version and import one library.

    Parameters
    ----------
    module : str
        Import name, e.g. ``"sklearn"``.
    found : bool, default True
        False: skip the search and report it as not installed.

    Returns
    -------
    Package
        ``version`` from ``importlib.metadata`` (None when ``module`` is not
        found), ``error`` the one-line reason when importing it raises.
    """
    name = {"sklearn": "scikit-learn"}.get(module, module)
    package = Package(name, module, REQUIREMENTS.get(module, module))
    if not found or importlib.util.find_spec(module) is None:
        return package
    dists = _distributions().get(module, [])
    package.version = importlib.metadata.version(dists[0]) if dists else "?"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            loaded = importlib.import_module(module)
    except Exception as err:  # ImportError, OSError from a shared library, CUDA errors, ...
        package.error = _one_line(err)
        return package
    if package.version == "?":
        package.version = str(getattr(loaded, "__version__", "?"))
    return package


def _cuda_details(packages: dict[str, Package]) -> bool:
    """Note torch's CUDA build and cupy's device check; True when ``cupy.is_available()``."""
    if "torch" in packages and packages["torch"].usable:
        import torch

        seen = torch.cuda.is_available()
        packages["torch"].detail = f"(CUDA build {torch.version.cuda}, sees CUDA: {seen})"
    if "cupy" not in packages or not packages["cupy"].usable:
        return False
    import cupy

    try:
        usable = bool(cupy.is_available())
    except Exception:  # a broken driver can raise instead of answering False
        usable = False
    packages["cupy"].detail = f"(cupy.is_available(): {usable})"
    return usable


def _devices(packages: dict[str, Package], cupy_usable: bool) -> list[GPUDevice]:
    """The CUDA devices with their free / total memory: through cupy, else torch, else none."""
    if cupy_usable:
        from cupy.cuda import Device as CupyDevice
        from cupy.cuda import runtime

        out = []
        for i in range(runtime.getDeviceCount()):
            name = runtime.getDeviceProperties(i)["name"]
            name = name.decode() if isinstance(name, bytes) else str(name)
            with CupyDevice(i):
                free, total = runtime.memGetInfo()
            out.append(GPUDevice(name, free, total))
        return out
    if "torch" in packages and packages["torch"].usable:
        from torch import cuda

        count = cuda.device_count() if cuda.is_available() else 0
        return [GPUDevice(cuda.get_device_name(i), *cuda.mem_get_info(i)) for i in range(count)]
    return []


def _own_version() -> str:
    try:
        return importlib.metadata.version(DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        return f"not installed ({DISTRIBUTION}); running from a source tree"


def _fix(packages: dict[str, Package], modules: tuple[str, ...], extra: str = "") -> str:
    """What keeps ``modules`` from all being usable, with the install line ("" if nothing)."""
    wanted = [packages.get(m) or check_package(m, found=False) for m in modules]
    out = [f"{p.name} fails to import ({p.error})" for p in wanted if p.error]
    missing = [p.requirement for p in wanted if p.version is None]
    if missing and extra and len(missing) == len(wanted):
        out.append(extra)
    elif missing:
        quoted = [f'"{r}"' if set(r) & set("[]*=<>") else r for r in missing]
        out.append("pip install " + " ".join(quoted))
    return "; ".join(out)


def check_backends(packages: dict[str, Package], cupy_usable: bool) -> list[Backend]:
    """Which of the cpu, gpu, dask and dask-cuda backends can run.

    Parameters
    ----------
    packages : dict of str to Package
        :func:`check_package` results by import name; a name left out counts as missing.
    cupy_usable : bool
        ``cupy.is_available()``.

    Returns
    -------
    list of Backend
        With the fix (an install line, or what else is wrong) for each that cannot run.
    """
    cpu = _fix(packages, NEEDS["cpu"])
    gpu = _fix(packages, NEEDS["gpu"], GPU_EXTRA) or ("" if cupy_usable else NO_DEVICE)
    dask = _fix(packages, NEEDS["dask"]) or (cpu and f"needs cpu: {cpu}")
    dask_cuda = _fix(packages, NEEDS["dask-cuda"]) or (gpu and f"needs gpu: {gpu}")
    fixes = {"cpu": cpu, "gpu": gpu, "dask": dask, "dask-cuda": dask_cuda}
    return [Backend(name, not fix, fix) for name, fix in fixes.items()]


def gpu_primitives(packages: dict[str, Package]) -> list[tuple[str, str]]:
    """Per primitive of the GPU backend, what runs with the packages found: the RAPIDS
    implementation, or the cupy tier with the install line that adds RAPIDS' (empty
    without cupy)."""
    from lcc.backends.cupy_tier import PRIMITIVES

    if "cupy" not in packages or not packages["cupy"].usable:
        return []
    rows = []
    for name, (libraries, rapids, fallback) in PRIMITIVES.items():
        fix = _fix(packages, libraries)
        if not fix:
            rows.append((name, rapids))
        elif name == "leiden, louvain" and not packages["igraph"].usable:
            rows.append((name, f"unavailable: {fix}, or pip install igraph for the host"))
        else:
            rows.append((name, f"{fallback}  ({fix}: {rapids})"))
    return rows


def _pipeline(backend: str, n: int, d: int) -> str:
    """knn_graph → leiden → match_clusters → correction_targets on 10 blobs; raises on a fault."""
    import numpy as np

    from lcc._backend import backend_of, move
    from lcc.graph import leiden
    from lcc.matching import match_clusters
    from lcc.metrics import ari
    from lcc.neighbors import knn_graph
    from lcc.targets import correction_targets

    rng = np.random.default_rng(0)
    y = np.arange(n) % 10
    z = (rng.normal(scale=10.0, size=(10, d))[y] + rng.normal(size=(n, d))).astype(np.float32)
    z, y = move(z, backend), move(y, backend)
    graph = knn_graph(z, 15)
    clusters = leiden(graph, seed=0)
    misclustered = match_clusters(y, clusters).misclustered
    targets, correctible = correction_targets(z, y, clusters)
    results = [(graph, (n, n)), (clusters, (n,)), (misclustered, (n,)), (targets, (n, d))]
    for value, shape in [*results, (correctible, (n,))]:
        if backend_of(value) != backend or tuple(value.shape) != shape:
            kind = f"{type(value).__module__}.{type(value).__name__} {tuple(value.shape)}"
            raise AssertionError(f"got a {kind}, expected a {backend} array {shape}")
    score = ari(y, clusters)
    if not score > 0.9:
        raise AssertionError(f"Leiden ARI {score:.3f} on separated blobs, expected > 0.9")
    return f"{n:,} × {d}: knn_graph → leiden → match_clusters → correction_targets, ARI {score:.3f}"


def smoke_test(backend: str, limit: float = TIME_LIMIT) -> Smoke:
    """Run the engine on 10 Gaussian blobs of ``SMOKE_SIZES[backend]`` and check the results.

    Parameters
    ----------
    backend : {"cpu", "gpu"}
    limit : float
        Seconds to wait for the run (a daemon thread) before calling it hung.

    Returns
    -------
    Smoke
        PASS with the time, or FAIL with the error's first line or the timeout.
    """
    outcome: dict[str, str] = {}

    def target() -> None:
        try:
            outcome["detail"] = _pipeline(backend, *SMOKE_SIZES[backend])
        except Exception as err:
            outcome["error"] = _one_line(err)

    start = time.perf_counter()
    thread = threading.Thread(target=target, name=f"lcc-doctor-{backend}", daemon=True)
    thread.start()
    thread.join(limit)
    seconds = time.perf_counter() - start
    if "detail" in outcome:
        return Smoke(backend, "PASS", seconds, outcome["detail"])
    return Smoke(backend, "FAIL", seconds, outcome.get("error", f"still running after {limit:g} s"))


def report() -> DoctorReport:
    """Check the installation: versions, devices, backends and smoke tests.

    Returns
    -------
    DoctorReport
        ``report().format()`` is what ``lcc doctor`` prints, ``exit_code`` its status.
    """
    packages = {module: check_package(module) for module in PACKAGES}
    cupy_usable = _cuda_details(packages)
    devices = _devices(packages, cupy_usable)
    backends = check_backends(packages, cupy_usable)
    gpu = next(b for b in backends if b.name == "gpu")
    smoke = [smoke_test("cpu")]
    smoke.append(smoke_test("gpu") if gpu.ok else Smoke("gpu", "skipped", detail=gpu.fix))
    python = f"{platform.python_version()}  ({sys.executable})"
    primitives = gpu_primitives(packages)
    return DoctorReport(python, list(packages.values()), devices, backends, primitives, smoke)


def main() -> int:
    """Print the report; the exit code of ``lcc doctor``."""
    result = report()
    print(result.format())
    return result.exit_code
