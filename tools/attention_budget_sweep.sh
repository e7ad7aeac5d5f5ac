#!/bin/bash
# The teacher-forced quality of sink_window and block_topk at several budgets, and of evict's two
# policies at a quarter, against full (docs/attention.md, "Results"): writes one layout per
# budget and runs `strata eval` on each.
# usage: tools/attention_budget_sweep.sh STRATA MODEL OUT_DIR [CONTEXT] [DEVICE] [LAYERS]
# LAYERS: the layers the candidates run on, the others full ("5,11,17": Gemma 3 270M's global
# layers); default SmolLM2's: sink_window on every layer, block_topk on 2-29.
set -euo pipefail
strata=$1 model=$2 out=$3 context=${4:-8192} device=${5:-cuda} layers=${6:-}
mkdir -p "$out"
run() {  # run NAME LAYERS_JSON
  printf '{"description": "budget sweep: %s", "layers": %s}\n' "$1" "$2" > "$out/$1.layout.json"
  echo "== $1"
  "$strata" eval --model "$model" --device "$device" --tasks forced --contexts "$context" --attention "$out/$1.layout.json" \
    --json "$out/$1.json" | grep -E "^\|"
}
# sink_window: a window of 1/8, 1/4 and 1/2 of the evaluated context (window_fraction would be of
# the model's trained context); block_topk: a fraction of the pages each query sees.
on_layers() {  # on_layers DEFAULT_LAYERS_JSON BACKEND_JSON
  if [ -n "$layers" ]; then
    echo "{\"*\": {\"backend\": \"full\"}, \"$layers\": $2}"
  else
    echo "$1"
  fi
}
for eighths in 1 2 4; do
  backend="{\"backend\": \"sink_window\", \"sink_tokens\": 4, \"window_tokens\": $((context * eighths / 8))}"
  run "sink_window_${eighths}_8ths" "$(on_layers "{\"*\": $backend}" "$backend")"
done
for fraction in 0.0625 0.125 0.25; do
  backend="{\"backend\": \"block_topk\", \"page_fraction\": $fraction, \"sink_pages\": 1, \"recent_pages\": 1}"
  run "block_topk_$fraction" "$(on_layers "{\"0-1\": {\"backend\": \"full\"}, \"2-29\": $backend}" "$backend")"
done
# evict: SnapKV and H2O keep a quarter of the evaluated context per KV head.
quarter=$((context / 4))
for policy in snapkv h2o; do
  if [ "$policy" = snapkv ]; then extra="\"observation_window\": 32, \"pool_kernel\": 7"; else extra="\"sink_tokens\": 4, \"recent_tokens\": $((quarter / 2))"; fi
  backend="{\"backend\": \"evict\", \"policy\": \"$policy\", \"budget_tokens\": $quarter, $extra}"
  run "${policy}_quarter" "$(on_layers "{\"*\": $backend}" "$backend")"
done
