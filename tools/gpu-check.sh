#!/usr/bin/env bash
# GPU check, run on a CUDA machine that has no .NET SDK (the project's `device` tool).
# Prepare here:   bash tools/gpu-check.sh --prepare     (publishes jointdiff and packs the .NET runtime into .gpu/)
# Run there:      bash tools/gpu-check.sh               (with .gpu carried; logs and JSON go to $OUT or ./gpu-out)
# It runs: jointdiff info; selftest (every op on CUDA against the SIMD CPU backend) twice, to check determinism; the
# PyTorch parity fixture through `jointdiff score --device cuda`; jointdiff bench at ngf 64, 64x64x3, batch 1 and 16,
# and at batch 16 with the direct ILGPU convs (JOINTDIFF_ILGPU_TILED=0); and the same network in PyTorch on the same
# GPU for the ratio.
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
{
  echo "== nvidia-smi"; nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv
  echo "== jointdiff info"; jd info
  echo "== selftest cuda (network sizes), twice: the two runs must print the same differences (deterministic kernels)"
  jd selftest --device cuda --size network | tee "$out/selftest1.txt"
  jd selftest --device cuda --size network > "$out/selftest2.txt"
  if cmp -s "$out/selftest1.txt" "$out/selftest2.txt"; then echo "selftest: identical runs"; else echo "selftest: RUNS DIFFER"; diff "$out/selftest1.txt" "$out/selftest2.txt"; fi
  echo "== PyTorch parity through jointdiff score --device cuda"
  python3 tools/gpu_parity.py --jointdiff "/tmp/dotnet/dotnet .gpu/app/jointdiff.dll" --work /tmp/parity
  for b in 1 16; do
    echo "== jointdiff bench cuda ngf64 64x64x3 batch $b (600 x joint_step_ms at batch 1 = the 600-step time per image)"
    jd bench --device cuda --ngf 64 --size 64 --channels 3 --batch $b --iterations 20 --json | tee -a "$out/bench.jsonl"
  done
  echo "== the same at batch 16 with the direct (untiled) ILGPU conv kernels, for the tiled/direct ratio"
  JOINTDIFF_ILGPU_TILED=0 jd bench --device cuda --ngf 64 --size 64 --channels 3 --batch 16 --iterations 20 --json | tee -a "$out/bench.jsonl"
  echo "== PyTorch on the same GPU"
  python3 benchmarks/pytorch_ncsnv2_bench.py --device cuda --iterations 20 --config 64:64:3:1 --config 64:64:3:16 | tee -a "$out/bench.jsonl"
} 2>&1 | tee "$log"
