#!/usr/bin/env bash
# GPU check of lcc on one NVIDIA GPU, in under 10 minutes: lcc doctor, the GPU tests
# (pytest -m "gpu or rapids") and parts A (correction step on 1,000,000 × 64 latents),
# B (the LCC demo, model and engine on the GPU) and C (DEC / IDEC / DCN in bf16-mixed)
# of benchmarks/gpu_check.py.
#
# Run from anywhere in the repo on a machine with python3 + torch + cupy; no network,
# no install of lcc needed (it is put on PYTHONPATH). Wheels in $WHEELS (default .whl/:
# igraph, pydantic, matplotlib, ...) are installed into $SITE (default /tmp/site) first
# (see benchmarks/README.md). Results: benchmarks/results/gpu_check.txt (or $RESULTS),
# copied to $OUT/ when $OUT is set. Exit status 0 only when everything that ran passed;
# what cannot run here (no GPU, a package not installed) says SKIPPED and why.
# Environment: PYTHON (default python3), RESULTS, OUT, WHEELS, SITE, GPU_CHECK_N (latents
# in part A, default 1000000), GPU_CHECK_REPEATS (timed runs per stage, default 3).
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1

PY=${PYTHON:-python3}
RESULTS=${RESULTS:-benchmarks/results/gpu_check.txt}
WHEELS=${WHEELS:-.whl}
SITE=${SITE:-/tmp/site}
N=${GPU_CHECK_N:-1000000}
REPEATS=${GPU_CHECK_REPEATS:-3}
# per-step limits (+ 5 s kill grace each), 580 s at most in all: under 10 minutes. On an
# H200 (2026-12-04) the GPU tests took 163 s and a cold doctor more than 30 s; part A ~100 s
INSTALL_S=25 PROBE_S=15 DOCTOR_S=45 TESTS_S=180
declare -A PART_S=([A]=140 [B]=80 [C]=60)
export PYTHONUNBUFFERED=1
problems=()

mkdir -p "$(dirname "$RESULTS")"
: >"$RESULTS"
say() { printf '%s\n' "$*" | tee -a "$RESULTS"; }
section() { say ""; say "== $*"; }
timed_out() { [ "$1" -eq 124 ] || [ "$1" -eq 137 ]; }

say "lcc GPU check — $(date -u '+%Y-%m-%d %H:%M:%S UTC') on $(hostname)"
say "commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)   python: $PY"

# -- wheels carried in $WHEELS (no network there) ------------------------------------------
shopt -s nullglob
wheels=("$WHEELS"/*.whl)
shopt -u nullglob
if [ "${#wheels[@]}" -gt 0 ]; then
    section "wheels: ${#wheels[@]} from $WHEELS/ into $SITE"
    if timeout -k 5 "$INSTALL_S" "$PY" -m pip install -q --no-index --no-deps --no-compile \
        --no-cache-dir --upgrade --target "$SITE" "${wheels[@]}" 2>&1 | tee -a "$RESULTS"; then
        say "installed: $(basename -a "${wheels[@]}" | tr '\n' ' ')"
    else
        say "WARNING: installing the wheels failed; going on without them"
    fi
    export PYTHONPATH="$SITE${PYTHONPATH:+:$PYTHONPATH}"
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
    if not ok:
        print("no usable CUDA device (cupy.is_available() is False)")
    else:
        try:
            import torch

            ok = torch.cuda.is_available()
        except Exception:
            ok = False
        print("" if ok else "no usable CUDA device for torch (torch.cuda.is_available() is False)")
EOF
) || gpu_reason="no usable CUDA device ($PY could not check cupy)"
say "GPU: ${gpu_reason:-usable (cupy.is_available() and torch.cuda.is_available())}"

# -- lcc doctor ---------------------------------------------------------------------------
section "lcc doctor ($PY -m lcc.cli doctor)"
timeout -k 5 "$DOCTOR_S" "$PY" -m lcc.cli doctor 2>&1 | tee -a "$RESULTS"
rc=$?
if timed_out "$rc"; then say "(doctor timed out after $DOCTOR_S s)"; fi
# informational: it counts an absent CPU engine (faiss) as a problem, this check does not
[ "$rc" -eq 0 ] || say "(doctor exited $rc; tolerated: the steps below decide)"

# -- GPU tests: they skip themselves, visibly, where there is no GPU -----------------------
section "GPU tests (pytest -m \"gpu or rapids\" tests; a module needing an absent package: skipped)"
if ! "$PY" -c "import pytest" >/dev/null 2>&1; then
    say "SKIPPED: pytest not installed for $PY (put its wheel in $WHEELS/)"
else
    log=$(mktemp)
    # gpu_check_plugin: a collection error from a package that is not installed is a skip
    PYTHONPATH="$PWD/benchmarks:$PYTHONPATH" timeout -k 5 "$TESTS_S" "$PY" -m pytest \
        -p gpu_check_plugin -m "gpu or rapids" -ra -p no:cacheprovider -o addopts="" \
        --continue-on-collection-errors tests >"$log" 2>&1
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

# -- parts A (correction step), B (demo), C (bf16 DEC / IDEC / DCN), each with its budget ---
for part in A B C; do
    limit=${PART_S[$part]}
    args=(--part "$part" --out "$RESULTS")
    [ "$part" = A ] && args+=(--n "$N" --repeats "$REPEATS")
    section "part $part ($PY benchmarks/gpu_check.py ${args[*]})"
    err=$(mktemp)
    timeout -k 5 "$limit" "$PY" benchmarks/gpu_check.py "${args[@]}" 2>"$err"
    rc=$?
    if timed_out "$rc"; then
        say "TIMED OUT after $limit s (lines above are what finished)"
        problems+=("part $part timed out")
    elif [ "$rc" -ne 0 ]; then
        tail -n 20 "$err" | tee -a "$RESULTS"
        say "(gpu_check.py --part $part exited $rc)"
        problems+=("part $part exit $rc")
    fi
    if [ -n "${OUT:-}" ] && [ -s "$err" ]; then cp "$err" "$OUT/gpu_check_part_$part.err"; fi
    rm -f "$err"
done

# -- done ---------------------------------------------------------------------------------
section "summary"
if [ -n "$gpu_reason" ]; then
    say "GPU parts that need it SKIPPED: $gpu_reason"
fi
if [ "${#problems[@]}" -gt 0 ]; then
    say "problems: ${problems[*]}"
else
    say "no problems"
fi
say "results: $RESULTS"
if [ -n "${OUT:-}" ]; then cp "$RESULTS" "$OUT/gpu_check.txt" && say "copied to $OUT/gpu_check.txt"; fi
[ "${#problems[@]}" -eq 0 ]
