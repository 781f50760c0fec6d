#!/usr/bin/env bash
# The full recipe, one command: supernet -> search under a MACs budget -> finetune the
# winner from its inherited weights -> test accuracy, into runs/recipe-DATE.
#   kernel-shared supernet (crop), in-place distillation, lr 0.4 with warm-up, SUPERNET_EPOCHS epochs
#   -> evolutionary search under BUDGET MACs on 10 000 validation images
#   -> export -> finetune FINETUNE_EPOCHS epochs (lr 0.1, weight decay 5e-4, random crops and flips,
#      a moving average of the weights; on the whole training file, the validation split
#      included: the search has used it, and the settings were chosen on it before)
#      (with TEACHER_EPOCHS > 0: the supernet's largest path is exported and finetuned that many
#      epochs first, and the winner's finetune distills from it: weight 0.5, temperature 2, which
#      tied the labels alone in docs/supernet-quality.md and costs 1.33x per epoch)
#   -> evaluation on the test split.
# Environment: SUPERNET_EPOCHS (default 6; a distillation epoch trains 4 paths per batch), BUDGET (default 3M),
# MIN_BUDGET and MIN_PARAMS (floors for the search: MACs and parameters; with the default space and
# budget 2.7M and 87K, uniform scaling's size, which took the searched model from 93.96 % to 94.1 %;
# otherwise none; set them empty for no floor), FINETUNE_EPOCHS (default 80: the test accuracy is flat after, docs/supernet-quality.md),
# SEED (default 0), SPACE (default search-spaces/fmnist-shufflenet.yaml), TEACHER_EPOCHS (default 0: no teacher),
# ARCH (an architecture to finetune instead of searching one, e.g. uniform scaling
# 32/64/128:shuffle3@1.8 x6, which ties the searched model with this finetune:
# docs/supernet-quality.md).
# Example: ARCH=32/64/128:shuffle3@1.8,shuffle3@1.8,shuffle3@1.8,shuffle3@1.8,shuffle3@1.8,shuffle3@1.8 scripts/recipe.sh
# docs/supernet-quality.md reports what it reached and where the time went.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
swift build -c release --product pare >&2
pare=.build/release/pare
seed=${SEED:-0}
run=${RUN:-runs/recipe-$(date +%Y%m%d-%H%M%S)}
budget=${BUDGET:-3M}
space=${SPACE:-search-spaces/fmnist-shufflenet.yaml}
if [ -z "${SPACE:-}" ] && [ -z "${BUDGET:-}" ]; then
  # Uniform scaling's size at 3 M MACs in the default space (32/64/128:shuffle3@1.8 x6: 2.99 M, 87 034).
  min_budget=${MIN_BUDGET-2.7M}; min_params=${MIN_PARAMS-87K}
else
  min_budget=${MIN_BUDGET:-}; min_params=${MIN_PARAMS:-}
fi
step() { printf '\n== %s (%s)\n' "$*" "$(date +%T)" >&2; }
start=$(date +%s)

step "1/4 supernet, ${SUPERNET_EPOCHS:-6} epochs ($run)"
$pare train --space "$space" --data fashion-mnist --run "$run" \
  --epochs "${SUPERNET_EPOCHS:-6}" --sampling distill --lr 0.4 --warmup-epochs 0.5 --probes 0 --seed "$seed"
if [ -n "${ARCH:-}" ]; then
  step "2/4 no search: ARCH=$ARCH"
else
  step "2/4 evolutionary search under $budget MACs${min_budget:+, at least $min_budget}${min_params:+, at least $min_params parameters}"
  $pare search --run "$run" --max-flops "$budget" ${min_budget:+--min-flops "$min_budget"} \
    ${min_params:+--min-params "$min_params"} --population 30 --generations 10 --parents 10 --mutations 15 --crossovers 15 \
    --seed "$seed"
fi
finetune=(--lr 0.1 --weight-decay 5e-4 --ema 0.999 --warmup-epochs 1 --crop-padding 2 --flip true --include-validation --seed "$seed")
teacher=()
if [ "${TEACHER_EPOCHS:-0}" -gt 0 ]; then
  step "3/4 teacher: the supernet's largest path, finetuned $TEACHER_EPOCHS epochs"
  $pare export --run "$run" --arch largest --out "$run/teacher"
  $pare finetune "$run/teacher" --epochs "$TEACHER_EPOCHS" "${finetune[@]}"
  teacher=(--teacher "$run/teacher")
fi
step "3/4 export and finetune ${ARCH:-the best subnet}, ${FINETUNE_EPOCHS:-80} epochs${teacher:+, distilling from the teacher}"
$pare export --run "$run" --arch "${ARCH:-best}" --out "$run/model" --onnx --folded
$pare finetune "$run/model" --epochs "${FINETUNE_EPOCHS:-80}" "${finetune[@]}" "${teacher[@]}"
step "4/4 test accuracy"
$pare eval "$run/model" --split test
echo "recipe: $(( ($(date +%s) - start) / 60 )) min in all; everything is in $run" >&2
