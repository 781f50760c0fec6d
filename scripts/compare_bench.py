#!/usr/bin/env python3
"""Side-by-side table of `pare bench --json` and the peer's `peer_torch.py --mode bench` JSON."""
import json
import sys

ROWS = [
    ("sgemm_gflops", "sgemm 1024^2 (GFLOP/s)", True),
    ("train_random", "train, random path, bs128 (img/s)", True),
    ("train_largest", "train, largest path (img/s)", True),
    ("train_smallest", "train, smallest path (img/s)", True),
    ("eval_random_bs500", "eval, random paths, bs500 (img/s)", True),
    ("eval_largest_bs500", "eval, largest path, bs500 (img/s)", True),
    ("recal_random_s", "BN recalibration 20x128, random (s)", False),
    ("recal_largest_s", "BN recalibration 20x128, largest (s)", False),
]

VALIDATION = 10000


def main():
    pare, peer = (json.load(open(p)) for p in sys.argv[1:3])
    print(f"| row | pare | PyTorch | pare / PyTorch |")
    print(f"|---|---:|---:|---:|")
    for key, label, higher_better in ROWS:
        if key not in pare or key not in peer:
            continue
        a, b = pare[key]["median"], peer[key]["median"]
        ratio = a / b if higher_better else b / a
        print(f"| {label} | {a:.4g} | {b:.4g} | {ratio:.2f}x |")
    # A search's candidate evaluation is a recalibration plus one pass over the fixed
    # validation subset (10 000 images by default): derived the same way for both sides.
    for kind, recal, rate in (("random", "recal_random_s", "eval_random_bs500"),
                              ("largest", "recal_largest_s", "eval_largest_bs500")):
        if all(k in d for d in (pare, peer) for k in (recal, rate)):
            a, b = (d[recal]["median"] + VALIDATION / d[rate]["median"] for d in (pare, peer))
            print(f"| candidate evaluation, {kind} (recal + {VALIDATION} val images, s) | {a:.4g} | {b:.4g} | {b / a:.2f}x |")
    # Supernet quality options (pare only): against pare's own and the peer's plain random-path row.
    if "train_options" in pare and "train_random" in pare:
        base = pare["train_random"]["median"]
        peer_base = peer.get("train_random", {}).get("median")
        for name, summary in sorted(pare["train_options"].items()):
            v = summary["median"]
            vs_peer = f" | {v / peer_base:.2f}x the peer's plain row" if peer_base else ""
            print(f"| train, random path, {name} (img/s) | {v:.4g} | {v / base:.2f}x pare's plain row{vs_peer} |")
    if "achieved_gflops" in pare:
        print("\npare achieved GFLOP/s:", json.dumps(pare["achieved_gflops"], sort_keys=True))
    if "train_step_breakdown_ms" in pare:
        print("pare training step by layer kind (ms):", json.dumps(pare["train_step_breakdown_ms"], sort_keys=True))


if __name__ == "__main__":
    main()
