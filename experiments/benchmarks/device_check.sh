#!/usr/bin/env bash
# One GPU check of the paper-scale path, under 5 minutes on one H100/H200: seconds per
# planning step at M=256 trajectories and halfcheetah's paper sizes for the current planner,
# u from the stepping pass, iCEM and iCEM at half the population, and CEM / iCEM / half-population
# iCEM with the penalty on 4 of the 20 particles, and the stepping-pass planner with bfloat16
# weight matrices (generation.plan_dtype) (FLOP and time ratios, x the matmul floor), and
# XLA's memory_analysis() of one generation block at 1 and 5 seeds.
#
#   bash experiments/benchmarks/device_check.sh [OUT_DIR] [--small] [--protocol-b]
#
# --protocol-b: then protocol B at the paper's size on halfcheetah (frozen_model.py: the paper
# config's source phase, 16 start states x 20 steps, 3 CEM keys, 4 variants x 3 budgets), into
# protocol_b.json and protocol_b_runs.jsonl. Not part of the 5 minutes: by model FLOPs at 33
# TFLOP/s about 8 minutes of source phase and 2.3 of variants, plus compiles. Finished runs are
# kept in protocol_b_runs.jsonl and the model in protocol_b_model/, so a rerun with the same
# OUT_DIR resumes.
#
# OUT_DIR defaults to $OUT (the device tool's folder) or /tmp/device_check. --small: CPU sizes
# (M=2, a shrunk planner), to check the script runs. Writes variants.json, memory.json,
# device.txt and log.txt there.
set -euo pipefail
cd "$(dirname "$0")/../.."
out="${OUT:-/tmp/device_check}"
small=""
protocol_b=""
for a in "$@"; do
  case "$a" in
    --small) small=1 ;;
    --protocol-b) protocol_b=1 ;;
    *) out="$a" ;;
  esac
done
mkdir -p "$out"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
config=experiments/configs/halfcheetah.py
start=$(date +%s)
{
  nvidia-smi 2>/dev/null || echo "no nvidia-smi"
  python -c "import jax; print(jax.__version__, jax.devices())"
} > "$out/device.txt" 2>&1
if [ -n "$small" ]; then
  var_flags=(--variants "$config" --variant-small --batch 2 --repeats 1)
  mem_flags=(--config "$config" --small)
else
  var_flags=(--variants "$config" --batch 256 --repeats 1)
  mem_flags=(--config "$config")
fi
python experiments/benchmarks/planner.py "${var_flags[@]}" --json "$out/variants.json" \
  2>&1 | tee "$out/log.txt" | grep -v -i warn || true
python experiments/benchmarks/generation_memory.py "${mem_flags[@]}" --json "$out/memory.json" \
  2>&1 | tee -a "$out/log.txt" | grep -v -i warn || true
echo "device_check: $(( $(date +%s) - start )) s; results in $out" | tee -a "$out/log.txt"
if [ -n "$protocol_b" ]; then
  pb_flags=(--config="$config" --starts=16 --steps=20)
  [ -n "$small" ] && pb_flags+=(--small)
  python experiments/benchmarks/frozen_model.py "${pb_flags[@]}" \
    --model_dir="$out/protocol_b_model" --runs="$out/protocol_b_runs.jsonl" \
    --variants=cem_stepping_u,icem,cem_q,icem_q --json="$out/protocol_b.json" \
    2>&1 | tee -a "$out/log.txt" | grep -v -i warn || true
  echo "device_check protocol B: $(( $(date +%s) - start )) s in all" | tee -a "$out/log.txt"
  test -s "$out/protocol_b.json"
fi
test -s "$out/variants.json" && test -s "$out/memory.json"
