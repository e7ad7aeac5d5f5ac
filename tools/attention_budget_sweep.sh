#!/bin/bash
# The teacher-forced quality of sink_window and block_topk at several budgets against full
# (docs/attention.md, "Results"): writes one layout per budget and runs `strata eval` on each.
# usage: tools/attention_budget_sweep.sh STRATA MODEL OUT_DIR [CONTEXT] [DEVICE]
set -euo pipefail
strata=$1 model=$2 out=$3 context=${4:-8192} device=${5:-cuda}
mkdir -p "$out"
run() {  # run NAME LAYERS_JSON
  printf '{"description": "budget sweep: %s", "layers": %s}\n' "$1" "$2" > "$out/$1.layout.json"
  echo "== $1"
  "$strata" eval --model "$model" --device "$device" --tasks forced --contexts "$context" --attention "$out/$1.layout.json" \
    --json "$out/$1.json" | grep -E "^\|"
}
# sink_window: a window of 1/8, 1/4 and 1/2 of the evaluated context (window_fraction would be of
# the model's trained context); block_topk: a fraction of the pages each query sees.
for eighths in 1 2 4; do
  run "sink_window_${eighths}_8ths" "{\"*\": {\"backend\": \"sink_window\", \"sink_tokens\": 4, \"window_tokens\": $((context * eighths / 8))}}"
done
for fraction in 0.0625 0.125 0.25; do
  run "block_topk_$fraction" "{\"0-1\": {\"backend\": \"full\"}, \"2-29\": {\"backend\": \"block_topk\", \"page_fraction\": $fraction, \"sink_pages\": 1, \"recent_pages\": 1}}"
done
