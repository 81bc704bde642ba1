"""``lcc doctor``: the command end to end, then broken and missing packages in-process.

Only the first test imports every library (in a subprocess, as a user would run
it); the others shrink :data:`lcc.doctor.PACKAGES` to the CPU stack so they stay fast.
"""

from __future__ import annotations

import contextlib
import re
import subprocess
import sys
import time
import types
from pathlib import Path

import pytest

from lcc import doctor
from lcc._backend import gpu_available
from lcc.cli import main as cli_main

ROOT = Path(__file__).resolve().parents[1]
SECTIONS = ("Versions", "Devices", "Backends", "Smoke tests")
CPU_ONLY = ("numpy", "scipy", "sklearn", "faiss", "igraph")


@pytest.fixture
def cpu_only(monkeypatch):
    """Check only the CPU libraries: RAPIDS, torch and dask count as not installed."""
    monkeypatch.setattr(doctor, "PACKAGES", CPU_ONLY)


@pytest.fixture
def broken_module(tmp_path, monkeypatch):
    """An importable-looking package whose import raises, as a broken CUDA library does."""
    package = tmp_path / "lcc_doctor_broken"
    package.mkdir()
    (package / "__init__.py").write_text(
        "raise OSError('libcudart.so.13: cannot open shared object file\\nmore detail')\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    return "lcc_doctor_broken"


def test_command_on_this_machine():
    out = subprocess.run(
        [sys.executable, "-m", "lcc.cli", "doctor"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    lines = out.stdout.splitlines()
    for section in SECTIONS:
        assert section in lines, out.stdout
    assert re.search(r"^  cpu +PASS  [\d.]+ s  5,000 × 16: .*ARI", out.stdout, re.M), out.stdout
    for name in ("Python", "torch", "cupy", "numpy", "faiss", "igraph", "scikit-learn", "dask"):
        assert re.search(rf"^  {re.escape(name)} +\S", out.stdout, re.M), name
    gpu = "PASS" if gpu_available() else "skipped: "
    assert re.search(rf"^  gpu +{gpu}", out.stdout, re.M), out.stdout
    if not gpu_available():
        assert re.search(r"^  GPU +none$", out.stdout, re.M), out.stdout
    assert lines[-1] == "All OK."


def test_report_structure(cpu_only):
    report = doctor.report()
    assert isinstance(report, doctor.DoctorReport)
    assert tuple(p.module for p in report.packages) == CPU_ONLY
    assert all(p.usable and p.version for p in report.packages)
    assert [b.name for b in report.backends] == ["cpu", "gpu", "dask", "dask-cuda"]
    assert report.backends[0].ok and report.backends[0].fix == ""
    assert [s.backend for s in report.smoke] == ["cpu", "gpu"]
    assert report.smoke[0].status == "PASS" and report.smoke[0].seconds < doctor.TIME_LIMIT
    assert report.problems == [] and report.exit_code == 0


def test_missing_optional_packages_print_install_lines(cpu_only, capsys):
    assert doctor.main() == 0  # no RAPIDS, no dask: reported, not an error
    text = capsys.readouterr().out
    assert re.search(r'^  gpu +no: pip install "lcc-torch\[gpu\]"$', text, re.M), text
    assert re.search(r'^  gpu +skipped: pip install "lcc-torch\[gpu\]"$', text, re.M), text
    assert re.search(r"^  dask +no: pip install \"dask\[array\]\" distributed$", text, re.M)
    assert text.rstrip().endswith("All OK.")


def test_install_line_for_each_missing_case():
    every = {m: doctor.Package(m, m, r, version="1.0") for m, r in doctor.REQUIREMENTS.items()}

    def fixes(packages, gpu=True):
        return {b.name: b.fix for b in doctor.check_backends(packages, gpu)}

    assert fixes(every) == {"cpu": "", "gpu": "", "dask": "", "dask-cuda": ""}
    one = every | {"cuml": doctor.Package("cuml", "cuml", "cuml-cu13==26.10.*")}
    assert fixes(one)["gpu"] == ""  # without cuML its primitives run on the cupy tier
    assert fixes(one)["dask-cuda"] == 'pip install "cuml-cu13==26.10.*"'
    rows = dict(doctor.gpu_primitives(one))
    cuml = 'pip install "cuml-cu13==26.10.*"'
    assert rows["kmeans"] == f"cupy Lloyd + k-means++  ({cuml}: cuML KMeans)"
    assert rows["knn (exact)"] == "cuVS brute force"
    rapids = {m: doctor.check_package(m, found=False) for m in doctor.NEEDS["gpu"]}
    assert fixes(every | rapids)["gpu"] == 'pip install "lcc-torch[gpu]"'
    assert fixes(every, gpu=False)["gpu"] == doctor.NO_DEVICE
    assert "install the NVIDIA driver / run on a GPU machine" in doctor.NO_DEVICE
    no_faiss = every | {"faiss": doctor.Package("faiss", "faiss", "faiss-cpu")}
    assert fixes(no_faiss)["cpu"] == "pip install faiss-cpu"
    assert fixes(no_faiss)["dask"] == "needs cpu: pip install faiss-cpu"
    assert doctor.check_package("lcc_doctor_no_such_module").version is None


def test_module_that_raises_on_import(broken_module, monkeypatch, capsys):
    package = doctor.check_package(broken_module)
    assert package.version == "?" and not package.usable
    assert package.error == "OSError: libcudart.so.13: cannot open shared object file"
    monkeypatch.setattr(doctor, "PACKAGES", (*CPU_ONLY, broken_module))
    assert cli_main(["doctor"]) == 1
    text = capsys.readouterr().out
    assert re.search(rf"^  {broken_module} +\? +FAILS TO IMPORT: OSError: libcudart", text, re.M)
    assert f"Problems:\n  - {broken_module} fails to import: OSError" in text


def test_broken_smoke_test_fails_the_command(cpu_only, monkeypatch, capsys):
    def broken(backend, n, d):
        raise AssertionError("Leiden ARI 0.123 on separated blobs, expected > 0.9")

    monkeypatch.setattr(doctor, "_pipeline", broken)
    assert cli_main(["doctor"]) == 1
    text = capsys.readouterr().out
    assert re.search(r"^  cpu +FAIL  [\d.]+ s  AssertionError: Leiden ARI 0.123", text, re.M)
    assert "Problems:\n  - cpu smoke test: AssertionError: Leiden ARI 0.123" in text


def test_hung_smoke_test_times_out(monkeypatch):
    monkeypatch.setattr(doctor, "_pipeline", lambda backend, n, d: time.sleep(2))
    smoke = doctor.smoke_test("cpu", limit=0.2)
    assert smoke.status == "FAIL" and smoke.detail == "still running after 0.2 s"
    assert smoke.seconds < 1.5


def test_gpu_branch_with_a_stand_in_cupy(cpu_only, monkeypatch):
    """Without a GPU here, a stand-in cupy walks the device listing and the GPU smoke run."""
    runtime = types.SimpleNamespace(
        getDeviceCount=lambda: 1,
        getDeviceProperties=lambda i: {"name": b"NVIDIA H200"},
        memGetInfo=lambda: (100 * 2**30, 140 * 2**30),
    )
    cuda = types.ModuleType("cupy.cuda")
    cuda.runtime, cuda.Device = runtime, lambda i: contextlib.nullcontext()
    cupy = types.ModuleType("cupy")
    cupy.cuda, cupy.is_available = cuda, lambda: True
    monkeypatch.setitem(sys.modules, "cupy", cupy)
    monkeypatch.setitem(sys.modules, "cupy.cuda", cuda)
    monkeypatch.setattr(doctor, "PACKAGES", (*CPU_ONLY, *doctor.NEEDS["gpu"]))
    monkeypatch.setattr(doctor, "check_package", lambda m, found=True: doctor.Package(m, m, m, "1"))
    monkeypatch.setattr(doctor, "_pipeline", lambda backend, n, d: f"{backend} {n:,} × {d}")
    report = doctor.report()
    assert report.devices == [doctor.GPUDevice("NVIDIA H200", 100 * 2**30, 140 * 2**30)]
    assert report.backends[1] == doctor.Backend("gpu", True)
    assert [(s.status, s.detail) for s in report.smoke] == [
        ("PASS", "cpu 5,000 × 16"),
        ("PASS", "gpu 20,000 × 32"),
    ]
    text = report.format()
    assert re.search(r"^  GPU 0 +NVIDIA H200, 100.0 GiB free of 140.0 GiB$", text, re.M), text
    assert re.search(r"^  cupy +1  \(cupy.is_available\(\): True\)$", text, re.M), text


def test_gpu_smoke_test_runs_the_gpu_engine_on_the_emulation(emulated_gpu, monkeypatch):
    """The real GPU smoke pipeline (cuVS k-NN, cuGraph Leiden, cupy glue) on the emulated GPU
    (smaller: the emulation's brute-force search is numpy on 2 cores)."""
    monkeypatch.setitem(doctor.SMOKE_SIZES, "gpu", (3_000, 16))
    smoke = doctor.smoke_test("gpu")
    assert smoke.status == "PASS", smoke.detail
    assert smoke.detail.startswith("3,000 × 16") and "ARI 1.000" in smoke.detail
