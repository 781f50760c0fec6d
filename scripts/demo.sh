#!/usr/bin/env bash
# The main job: the whole pipeline on Fashion-MNIST with small settings, into runs/demo-DATE:
#   train the ShuffleNetV2 supernet (SPOS, searchable widths) -> evolutionary search under
#   3 MFLOPs -> export the best subnet (sliced weights, model.json, ONNX) -> finetune it ->
#   evaluate it on the test split.
# Environment: EPOCHS (supernet, default 1: each distillation step trains 4 paths), FINETUNE_EPOCHS (default 3), BUDGET (default 3M).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
swift build -c release --product pare >&2
pare=.build/release/pare
run=runs/demo-$(date +%Y%m%d-%H%M%S)
budget=${BUDGET:-3M}
step() { printf '\n== %s\n' "$*" >&2; }

step "1/5 supernet training ($run)"
$pare train --space search-spaces/fmnist-shufflenet.yaml --data fashion-mnist --epochs "${EPOCHS:-1}" --probes 2 --run "$run"
step "2/5 evolutionary search under $budget MACs"
$pare search --run "$run" --max-flops "$budget" --population 16 --generations 4 --parents 5 --mutations 8 --crossovers 8 \
  --validation-images 2000
step "3/5 export the best subnet"
$pare export --run "$run" --out "$run/model" --onnx --folded
step "4/5 finetune it"
$pare finetune "$run/model" --epochs "${FINETUNE_EPOCHS:-3}" --lr 0.1
step "5/5 evaluate on the test split"
$pare eval "$run/model" --split test
cat >&2 <<EOT

Everything is in $run:
  run.json train.jsonl checkpoints/ summary.json     supernet training
  search/{best.json,best.txt,history.jsonl,plot.svg}  search
  model/{model.json,model.safetensors,model.folded.safetensors,model.onnx}   exported subnet
  model/finetune/ model/model.finetuned.safetensors   finetuning
  model/eval-finetuned-test.json                      test-split evaluation
EOT
