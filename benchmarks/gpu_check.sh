#!/usr/bin/env bash
# GPU check of lcc on one NVIDIA GPU, in under 8 minutes: lcc doctor, the GPU tests
# (pytest -m "gpu or rapids") and the timings of benchmarks/gpu_check.py.
#
# Run from anywhere in the repo on a machine with python3 + torch + cupy; no network,
# no install of lcc needed (it is put on PYTHONPATH). Wheels in .whl/ (faiss-cpu,
# igraph, ...) are installed into /tmp/site first (see benchmarks/README.md).
# Results: benchmarks/results/gpu_check.txt (or $RESULTS), copied to $OUT/ when $OUT
# is set. Without a GPU every GPU part says SKIPPED and the exit status is 0.
# Environment: PYTHON (default python3), RESULTS, OUT.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1

PY=${PYTHON:-python3}
RESULTS=${RESULTS:-benchmarks/results/gpu_check.txt}
# per-step limits (+ 5 s kill grace each), 470 s at most in all: under 8 minutes
INSTALL_S=30 PROBE_S=20 DOCTOR_S=40 TESTS_S=180 TIMINGS_A_S=100 TIMINGS_B_S=70
export PYTHONUNBUFFERED=1
problems=()

mkdir -p "$(dirname "$RESULTS")"
: >"$RESULTS"
say() { printf '%s\n' "$*" | tee -a "$RESULTS"; }
section() { say ""; say "== $*"; }
timed_out() { [ "$1" -eq 124 ] || [ "$1" -eq 137 ]; }

say "lcc GPU check — $(date -u '+%Y-%m-%d %H:%M:%S UTC') on $(hostname)"
say "commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)   python: $PY"

# -- wheels carried in .whl/ (no network there) --------------------------------------------
shopt -s nullglob
wheels=(.whl/*.whl)
shopt -u nullglob
if [ "${#wheels[@]}" -gt 0 ]; then
    section "wheels: ${#wheels[@]} from .whl/ into /tmp/site"
    if timeout -k 5 "$INSTALL_S" "$PY" -m pip install -q --no-index --no-deps --no-compile \
        --no-cache-dir --upgrade --target /tmp/site "${wheels[@]}" 2>&1 | tee -a "$RESULTS"; then
        say "installed: $(basename -a "${wheels[@]}" | tr '\n' ' ')"
    else
        say "WARNING: installing the wheels failed; going on without them"
    fi
    export PYTHONPATH="/tmp/site${PYTHONPATH:+:$PYTHONPATH}"
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" # lcc from this checkout, its deps as found

# -- the GPU ------------------------------------------------------------------------------
section "nvidia-smi"
if command -v nvidia-smi >/dev/null 2>&1; then
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>&1 |
        tee -a "$RESULTS" || say "(nvidia-smi failed)"
else
    say "SKIPPED: nvidia-smi not found"
fi
gpu_reason=$(timeout -k 5 "$PROBE_S" "$PY" - <<'EOF' 2>/dev/null
try:
    import cupy
except Exception as err:
    print(f"no usable CUDA device (cupy does not import: {type(err).__name__})")
else:
    try:
        ok = bool(cupy.is_available())
    except Exception:
        ok = False
    print("" if ok else "no usable CUDA device (cupy.is_available() is False)")
EOF
) || gpu_reason="no usable CUDA device ($PY could not check cupy)"
say "GPU: ${gpu_reason:-usable (cupy.is_available() is True)}"

# -- lcc doctor ---------------------------------------------------------------------------
section "lcc doctor ($PY -m lcc.cli doctor)"
timeout -k 5 "$DOCTOR_S" "$PY" -m lcc.cli doctor 2>&1 | tee -a "$RESULTS"
rc=$?
if timed_out "$rc"; then say "(doctor timed out after $DOCTOR_S s)"; fi
[ "$rc" -eq 0 ] || say "(doctor exited $rc; tolerated)"

# -- GPU tests ----------------------------------------------------------------------------
section "GPU tests (pytest -m \"gpu or rapids\" tests)"
if [ -n "$gpu_reason" ]; then
    say "SKIPPED: $gpu_reason"
elif ! "$PY" -c "import pytest" >/dev/null 2>&1; then
    say "SKIPPED: pytest is not installed for $PY (carry its wheel in .whl/)"
    problems+=("pytest missing")
else
    log=$(mktemp)
    timeout -k 5 "$TESTS_S" "$PY" -m pytest -m "gpu or rapids" -ra -p no:cacheprovider \
        -o addopts="" --continue-on-collection-errors tests >"$log" 2>&1
    rc=$?
    if grep -q "short test summary info" "$log"; then # the -ra summary: skips with reasons
        sed -n '/short test summary info/,$p' "$log" | tee -a "$RESULTS"
    else
        tail -n 40 "$log" | tee -a "$RESULTS"
    fi
    if timed_out "$rc"; then
        say "TIMED OUT after $TESTS_S s"
        problems+=("tests timed out")
    elif [ "$rc" -ne 0 ] && [ "$rc" -ne 5 ]; then # 5: no test selected
        problems+=("pytest exit $rc")
    fi
    if [ -n "${OUT:-}" ]; then cp "$log" "$OUT/gpu_check_pytest.log"; fi
    rm -f "$log"
fi

# -- timings: part A (correction step) and part B (demo), each with its own budget -----------
for part in A B; do
    if [ "$part" = A ]; then limit=$TIMINGS_A_S; else limit=$TIMINGS_B_S; fi
    section "timings, part $part ($PY benchmarks/gpu_check.py --part $part --out $RESULTS)"
    err=$(mktemp)
    timeout -k 5 "$limit" "$PY" benchmarks/gpu_check.py --part "$part" --out "$RESULTS" 2>"$err"
    rc=$?
    if timed_out "$rc"; then
        say "TIMED OUT after $limit s (lines above are what finished)"
        problems+=("timings part $part timed out")
    elif [ "$rc" -ne 0 ]; then
        tail -n 20 "$err" | tee -a "$RESULTS"
        say "(gpu_check.py --part $part exited $rc)"
        problems+=("timings part $part exit $rc")
    fi
    rm -f "$err"
done

# -- done ---------------------------------------------------------------------------------
section "summary"
if [ -n "$gpu_reason" ]; then
    say "no GPU here: every GPU part SKIPPED ($gpu_reason)"
fi
if [ "${#problems[@]}" -gt 0 ]; then
    say "problems: ${problems[*]}"
else
    say "no problems"
fi
say "results: $RESULTS"
if [ -n "${OUT:-}" ]; then cp "$RESULTS" "$OUT/gpu_check.txt" && say "copied to $OUT/gpu_check.txt"; fi
[ "${#problems[@]}" -eq 0 ] || [ -n "$gpu_reason" ]
