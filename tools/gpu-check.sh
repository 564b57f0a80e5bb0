#!/usr/bin/env bash
# GPU check, run on a CUDA machine that has no .NET SDK (the project's `device` tool).
# Prepare here:   bash tools/gpu-check.sh --prepare     (publishes jointdiff and packs the .NET runtime into .gpu/)
# Run there:      bash tools/gpu-check.sh               (with .gpu carried; logs and JSON go to $OUT or ./gpu-out)
# It runs: jointdiff info; selftest (every op on CUDA against the SIMD CPU backend) twice, to check determinism; the
# PyTorch parity fixture through `jointdiff score --device cuda`; jointdiff bench at ngf 64, 64x64x3, batch 1 and 16,
# and at batch 16 with the direct ILGPU convs (JOINTDIFF_ILGPU_TILED=0); and the same network in PyTorch on the same
# GPU for the ratio (with the first python that has torch and numpy); and ends with which steps failed.
set -uo pipefail
cd "$(dirname "$0")/.."
if [ "${1:-}" = "--prepare" ]; then
  set -e
  rm -rf .gpu && mkdir -p .gpu
  # One runtime identifier: without it the publish carries SkiaSharp's natives for every platform (480 MB), past the
  # device tool's 64 MiB for carried paths; with it the app is 27 MB and .gpu 52 MB.
  dotnet publish src/JointDiffusion.Cli -c Release -r linux-x64 --self-contained false -o .gpu/app --nologo -v quiet
  root=$(dirname "$(readlink -f "$(command -v dotnet)")")
  tar cJf .gpu/dotnet-runtime.tar.xz -C "$root" dotnet host shared/Microsoft.NETCore.App
  du -sh .gpu
  exit 0
fi
out=${OUT:-gpu-out}
mkdir -p "$out" /tmp/dotnet
tar xJf .gpu/dotnet-runtime.tar.xz -C /tmp/dotnet
export DOTNET_ROOT=/tmp/dotnet DOTNET_CLI_TELEMETRY_OPTOUT=1
jd() { /tmp/dotnet/dotnet .gpu/app/jointdiff.dll "$@"; }
log="$out/gpu-check.log"
# The first interpreter that has PyTorch and NumPy (a machine may have several python3s).
py=""
for candidate in python3 /usr/bin/python3 python; do
  if command -v "$candidate" >/dev/null && "$candidate" -c 'import torch, numpy' 2>/dev/null; then py=$candidate; break; fi
done
status=()
step() { # step NAME COMMAND...: runs it, records NAME ok/FAILED (rc) for the summary
  local name=$1; shift
  if "$@"; then status+=("$name: ok"); else status+=("$name: FAILED (rc $?)"); fi
}
selftest_twice() {
  jd selftest --device cuda --size network | tee "$out/selftest1.txt"; local a=${PIPESTATUS[0]}
  jd selftest --device cuda --size network > "$out/selftest2.txt"; local b=$?
  [ "$a" -eq 0 ] && [ "$b" -eq 0 ] || { echo "selftest: exit codes $a and $b"; return 1; }
  if cmp -s "$out/selftest1.txt" "$out/selftest2.txt"; then echo "selftest: identical runs"; else echo "selftest: RUNS DIFFER"; diff "$out/selftest1.txt" "$out/selftest2.txt"; return 1; fi
}
bench() { jd bench --device cuda --ngf 64 --size 64 --channels 3 --batch "$1" --iterations 20 --json | tee -a "$out/bench.jsonl"; return "${PIPESTATUS[0]}"; }
bench_direct() { JOINTDIFF_ILGPU_TILED=0 bench 16; }
pytorch_bench() {
  "$py" benchmarks/pytorch_ncsnv2_bench.py --device cuda --iterations 20 --config 64:64:3:1 --config 64:64:3:16 | tee -a "$out/bench.jsonl"
  return "${PIPESTATUS[0]}"
}
no_python() { echo "no python with torch and numpy found (tried python3, /usr/bin/python3, python)"; return 1; }
{
  echo "== nvidia-smi"; step nvidia-smi nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv
  echo "== jointdiff info"; step info jd info
  echo "== selftest cuda (network sizes), twice: the two runs must print the same differences (deterministic kernels)"
  step selftest selftest_twice
  echo "== PyTorch parity through jointdiff score --device cuda"
  if [ -n "$py" ]; then step parity "$py" tools/gpu_parity.py --jointdiff "/tmp/dotnet/dotnet .gpu/app/jointdiff.dll" --work /tmp/parity; else step parity no_python; fi
  for b in 1 16; do
    echo "== jointdiff bench cuda ngf64 64x64x3 batch $b (600 x joint_step_ms at batch 1 = the 600-step time per image)"
    step "bench batch $b" bench "$b"
  done
  echo "== the same at batch 16 with the direct (untiled) ILGPU conv kernels, for the tiled/direct ratio"
  step "bench batch 16, direct convs" bench_direct
  echo "== PyTorch on the same GPU"
  if [ -n "$py" ]; then
    step pytorch pytorch_bench
  else
    step pytorch no_python
  fi
  echo "== summary"; printf '%s\n' "${status[@]}"
} 2>&1 | tee "$log"
