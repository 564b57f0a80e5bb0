#!/usr/bin/env bash
# NCSNv2 forward, forward + input VJP and forward + parameter gradients: jointdiff (SIMD CPU backend) against
# PyTorch on the same machine, same configs, in one run. Prints a markdown table of medians and ratios.
# Usage: bash benchmarks/network-vs-pytorch.sh [iterations]   (needs Debian's python3-torch for the PyTorch side)
set -euo pipefail
cd "$(dirname "$0")/.."
iters=${1:-10}
dotnet build src/JointDiffusion.Cli -c Release -v quiet --nologo >/dev/null
jd="dotnet src/JointDiffusion.Cli/bin/Release/net10.0/jointdiff.dll"
configs=("32 32 1 1" "32 32 1 8" "64 64 3 1" "64 64 3 8")
echo "| config | jointdiff fwd / fwd+VJP / fwd+grads (ms) | PyTorch fwd / fwd+VJP / fwd+grads (ms) | speed-up fwd / VJP / grads |"
echo "|---|---|---|---|"
for c in "${configs[@]}"; do
  read -r ngf size ch batch <<<"$c"
  ours=$($jd bench --device cpu --ngf "$ngf" --size "$size" --channels "$ch" --batch "$batch" --iterations "$iters" --json)
  torch=$(/usr/bin/python3 benchmarks/pytorch_ncsnv2_bench.py --device cpu --threads "$(nproc)" --iterations "$iters" --config "$ngf:$size:$ch:$batch")
  /usr/bin/python3 - "$ours" "$torch" <<'PY'
import json, sys
o, t = json.loads(sys.argv[1]), json.loads(sys.argv[2])
keys = ["fwd_ms", "fwd_vjp_ms", "fwd_param_grad_ms"]
cfg = f"ngf {o['ngf']}, {o['size']}x{o['size']}x{o['channels']}, batch {o['batch']}"
print(f"| {cfg} | " + " / ".join(f"{o[k]:.1f}" for k in keys) + " | " + " / ".join(f"{t[k]:.1f}" for k in keys)
      + f" (torch {t['torch']}) | " + " / ".join(f"{t[k] / o[k]:.2f}x" for k in keys) + " |")
PY
done
