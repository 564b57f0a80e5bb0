#!/usr/bin/env bash
# Where the CPU time of `jointdiff bench` goes, by function (JIT-compiled .NET code included), with Linux perf.
# Usage: bash benchmarks/perf-profile.sh [top-N] [jointdiff bench options...]
#   e.g. bash benchmarks/perf-profile.sh 25 --ngf 32 --size 32 --channels 1 --batch 8 --iterations 20
# Needs `perf` (Debian: apt-get install linux-perf). The percentages are of all samples on all threads, over every
# pass the bench times (forward, VJP, gradients, DSM step, joint step) and its warm-ups; see benchmarks/RESULTS.md §8.
set -euo pipefail
cd "$(dirname "$0")/.."
top=${1:-25}
shift $(( $# > 0 ? 1 : 0 ))
command -v perf >/dev/null || { echo "perf is not installed (Debian: apt-get install linux-perf)" >&2; exit 2; }
dotnet build src/JointDiffusion.Cli -c Release -v quiet --nologo >/dev/null
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
# PerfMapEnabled writes /tmp/perf-PID.map, which perf reads to name JIT-compiled methods; with W^X on, the code runs
# from a second mapping that the map does not describe, so it is turned off for this run.
DOTNET_PerfMapEnabled=1 DOTNET_EnableWriteXorExecute=0 \
  perf record -q -o "$out/perf.data" -- dotnet src/JointDiffusion.Cli/bin/Release/net10.0/jointdiff.dll bench "$@" >&2
perf report -i "$out/perf.data" --no-children --sort symbol --stdio 2>/dev/null \
  | grep -E '^ +[0-9.]+%' | head -n "$top" | sed -E 's/\[JointDiffusion\.Gpu\] JointDiffusion\.Gpu\.//' | cut -c1-160
