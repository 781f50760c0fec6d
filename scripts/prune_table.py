#!/usr/bin/env python3
"""Prints the pruning study (STUDY/results.tsv of scripts/prune-study.sh) as a markdown table
in the layout of the weak-layer paper's: method, baseline and pruned test accuracy, the
drop, FLOPs (MACs) and parameter reductions. Usage: prune_table.py [runs/prune-study/results.tsv]"""
import csv
import sys
from collections import defaultdict

path = sys.argv[1] if len(sys.argv) > 1 else "runs/prune-study/results.tsv"
rows = list(csv.DictReader(open(path), delimiter="\t"))
base = next(r for r in rows if r["method"] == "unpruned")
base_acc, base_macs, base_params = float(base["test"]), int(base["macs"]), int(base["params"])
groups = defaultdict(list)
for r in rows:
    if r["method"] != "unpruned":
        groups[(r["target"], r["method"])].append(r)
print("| target (MACs kept) | method | baseline test acc | pruned test acc (seeds) | mean | drop | MACs ↓ | params ↓ | val. acc right after pruning |")
print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
def target_order(target):
    return -float(target.rstrip("%")) if target.endswith("%") else 0.0
methods = list(dict.fromkeys(m for _, m in groups))
def reduction(rs, key, base):
    # Soft pruning ends with a mask of its own per seed: show each where they differ.
    values = list(dict.fromkeys(f"{100 * (1 - int(r[key]) / base):.1f} %" for r in rs))
    return " / ".join(values)
for (target, method) in sorted(groups, key=lambda k: (target_order(k[0]), methods.index(k[1]))):
    rs = groups[(target, method)]
    accs = [float(r["test"]) for r in rs]
    mean = sum(accs) / len(accs)
    pruned_val = " / ".join(dict.fromkeys(r["pruned_val"] for r in rs if r["pruned_val"])) or "–"
    print(f"| {target} | {method} | {100 * base_acc:.2f} | {' / '.join(f'{100 * a:.2f}' for a in accs)} | {100 * mean:.2f} | "
          f"{100 * (base_acc - mean):+.2f} | {reduction(rs, 'macs', base_macs)} | {reduction(rs, 'params', base_params)} | {pruned_val} |")
