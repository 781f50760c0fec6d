#!/usr/bin/env bash
# The pruning study of docs/pruning.md: ResNet-20 on Fashion-MNIST pruned to ~50 % and ~60 %
# fewer MACs by each criterion, each pruned model finetuned with two seeds, plus uniform width
# scaling trained from scratch with the same total epochs. Writes STUDY/results.tsv.
#   base: BASE_EPOCHS (6) epochs, then two continuations of CONT_EPOCHS (2) from its weights:
#   plain, and with the network-slimming penalty (--slimming 1e-4) that `--method slimming` needs;
#   prune (global ranking, min width 0.1, BN recalibration), finetune FT_EPOCHS (2) epochs, test.
# TARGETS (default "50 40": MACs kept, %), SEEDS (default "0 1") and METHODS narrow it; finished
# rows are kept. SOURCE=MODEL_DIR studies a model trained elsewhere instead of ResNet-20 (its
# finetuned weights are the base; no uniform row), e.g. SOURCE=runs/recipe1/model80 STUDY=runs/prune-shufflenet.
set -euo pipefail
cd "$(dirname "$0")/.."
pare=${PARE:-.build/release/pare}
study=${STUDY:-runs/prune-study}
base_epochs=${BASE_EPOCHS:-6}; cont=${CONT_EPOCHS:-2}; ft=${FT_EPOCHS:-2}
step() { printf '\n== %s (%s)\n' "$*" "$(date +%T)" >&2; }
test_acc() { $pare eval "$1" --weights "$2" --repeats 3 | sed -n 's/.*accuracy \([0-9.]*\),.*/\1/p'; }
mkdir -p "$study"
results=$study/results.tsv
[ -f "$results" ] || printf 'method\ttarget\tseed\tmacs\tparams\tpruned_val\ttest\n' > "$results"

if [ ! -f "$study/base-model/model.json" ]; then
  if [ -n "${SOURCE:-}" ]; then
    # A model trained elsewhere (e.g. the searched ShuffleNet subnet): its trained weights become the base.
    step "base: $SOURCE"
    mkdir -p "$study/base-model"; cp "$SOURCE/model.json" "$study/base-model/"
    weights=$SOURCE/model.finetuned.safetensors; [ -f "$weights" ] || weights=$SOURCE/model.safetensors
    cp "$weights" "$study/base-model/model.safetensors"
  else
    step "base ResNet-20, $base_epochs epochs"
    $pare train --space search-spaces/resnet20.yaml --run "$study/base" --epochs "$base_epochs" --seed 0
    $pare export --run "$study/base" --out "$study/base-model"
  fi
fi
methods=${METHODS:-l1 slimming fpgm fpgm-weak:0.9 fpgm-weak:0.7 search l1-rounds2 soft-fpgm-weak:0.9}
for variant in plain slim; do
  [ "$variant" = slim ] && [[ " $methods " != *" slimming "* ]] && continue
  if [ ! -f "$study/$variant/model.finetuned.safetensors" ]; then
    step "continue $cont epochs: $variant"
    rm -rf "$study/$variant"; cp -r "$study/base-model" "$study/$variant"
    extra=(); [ "$variant" = slim ] && extra=(--slimming 1e-4)
    $pare finetune "$study/$variant" --epochs "$cont" --seed 0 "${extra[@]}"
  fi
done
macs() { python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print(d['macs'], d['parameters'], d.get('pruning', {}).get('prunedValidationAccuracy', ''))" "$1/model.json"; }
if ! grep -q "^unpruned" "$results"; then
  read -r m p _ < <(macs "$study/plain")
  printf 'unpruned\t100%%\t0\t%s\t%s\t\t%s\n' "$m" "$p" "$(test_acc "$study/plain" finetuned)" >> "$results"
fi
# Methods: one-shot criteria (pruned once, finetuned FT_EPOCHS per seed); search (pare prune
# --method search: 2 epochs of sandwich training of the width supernet, the evolutionary search,
# then FT_EPOCHS per seed); l1-rounds2 (two geometric rounds, each followed by FT_EPOCHS/2
# epochs, one prune per seed); soft-CRITERION[:nu] (per seed: FT_EPOCHS-1 epochs of soft
# pruning with a global mask to the target, the final mask's channels removed, then 1 epoch).
row() { read -r m p v < <(macs "$2")
        printf '%s\t%s%%\t%s\t%s\t%s\t%s\t%s\n' "$1" "$target" "$seed" "$m" "$p" "$v" "$(test_acc "$2" "$3")" >> "$results"; }
for target in ${TARGETS:-50 40}; do
  for method in $methods; do
    name=${method%%:*}; nu=${method#*:}; label=$name
    [ "$nu" != "$method" ] && label="$name-$nu"
    source=$study/plain; [ "$name" = slimming ] && source=$study/slim
    out=$study/$label-$target
    case $name in
      soft-*|l1-rounds2)
        for seed in ${SEEDS:-0 1}; do
          grep -q "^$label	$target%	$seed	" "$results" && continue
          dir=$out-s$seed
          rm -rf "$dir" "$dir-pruned"
          if [ "$name" = l1-rounds2 ]; then
            step "prune $label to $target% of MACs in 2 rounds, seed $seed"
            $pare prune "$source" --weights finetuned --method l1 --rounds 2 --finetune-epochs $((ft / 2)) --seed "$seed" \
              --target-flops "$target%" --out "$dir"
            row "$label" "$dir" finetuned
            continue
          fi
          step "soft pruning $label to $target% of MACs, seed $seed"
          mkdir -p "$dir"   # starts from the source's finetuned weights
          cp "$source/model.json" "$dir/"; cp "$source/model.finetuned.safetensors" "$dir/model.safetensors"
          args=(--soft-prune "${name#soft-}" --target-flops "$target%" --pruned-out "$dir-pruned")
          [ "$nu" != "$method" ] && args+=(--nu "$nu")
          $pare finetune "$dir" --epochs $((ft - 1)) --seed "$seed" "${args[@]}"
          $pare finetune "$dir-pruned" --epochs 1 --seed "$seed"
          row "$label" "$dir-pruned" finetuned
        done
        continue ;;
      search) args=(--method search --validation-images 2000) ;;
      *) args=(--method "$name"); [ "$name" = fpgm-weak ] && args+=(--nu "$nu") ;;
    esac
    if [ ! -f "$out/model.json" ]; then
      step "prune $label to $target% of MACs"
      resume=(); [ -d "$out" ] && resume=(--resume)
      $pare prune "$source" --weights finetuned "${args[@]}" --target-flops "$target%" --out "$out" "${resume[@]}"
    fi
    for seed in ${SEEDS:-0 1}; do
      grep -q "^$label	$target%	$seed	" "$results" && continue
      dir=$out-s$seed
      rm -rf "$dir"; cp -r "$out" "$dir"; rm -rf "$dir/supernet"
      step "finetune $label-$target seed $seed, $ft epochs"
      $pare finetune "$dir" --epochs "$ft" --seed "$seed"
      row "$label" "$dir" finetuned
    done
  done
done
# Uniform width scaling at the same MACs, trained from scratch for every epoch the pruned models saw.
if [ -z "${SOURCE:-}" ] && ! grep -q "^uniform" "$results"; then
  step "uniform width x0.71 from scratch, $((base_epochs + cont + ft)) epochs"
  sed -e 's/widths: \[16\]/widths: [11]/; s/widths: \[32\]/widths: [23]/; s/widths: \[64\]/widths: [45]/; s/stem: {channels: 16/stem: {channels: 11/; s/^name: resnet20/name: resnet20-x0.71/' \
    search-spaces/resnet20.yaml > "$study/resnet20-x0.71.yaml"
  $pare train --space "$study/resnet20-x0.71.yaml" --run "$study/uniform" --epochs $((base_epochs + cont + ft)) --seed 0
  $pare export --run "$study/uniform" --out "$study/uniform-model"
  read -r m p _ < <(macs "$study/uniform-model")
  printf 'uniform-x0.71\tscratch\t0\t%s\t%s\t\t%s\n' "$m" "$p" "$(test_acc "$study/uniform-model" exported)" >> "$results"
fi
column -t -s $'\t' "$results"
