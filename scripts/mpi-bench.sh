#!/usr/bin/env bash
# Speed of the MPI modes on this machine (docs/distributed.md): supernet training steps with
# 1 process x 2 threads, 1 x 1, and 2 ranks x 1 thread (per-rank and synchronized BN), the
# share of the step spent in allreduce; search candidates per minute for 1 process and 2 ranks.
# RUN: a trained supernet run of the reference space to search (default runs/crop10).
set -euo pipefail
cd "$(dirname "$0")/.."
pare=${PARE:-.build/release/pare}
run=${RUN:-runs/crop10}
out=$(mktemp -d)
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
train=(train --space reference --data fashion-mnist --train-limit 12800 --validation 2560 --epochs 1 --probes 0 --sampling uniform)
line() { grep -E "^trained|allreduce calls" | sed "s/^/$1: /"; }
$pare "${train[@]}" --threads 2 --run "$out/p1t2" 2>&1 | line "1 process x 2 threads"
$pare "${train[@]}" --threads 1 --run "$out/p1t1" 2>&1 | line "1 process x 1 thread"
mpirun --oversubscribe -np 2 $pare "${train[@]}" --run "$out/p2" 2>&1 | line "2 ranks x 1 thread, BN per rank"
mpirun --oversubscribe -np 2 $pare "${train[@]}" --sync-bn --run "$out/p2s" 2>&1 | line "2 ranks x 1 thread, synchronized BN"
search=(search --run "$run" --max-flops 3M --population 16 --generations 2 --parents 4 --mutations 8 --crossovers 8 --validation-images 2000)
$pare "${search[@]}" --name mpi-bench-1 --threads 2 2>&1 | grep "^searched" | sed "s/^/search, 1 process x 2 threads: /"
mpirun --oversubscribe -np 2 $pare "${search[@]}" --name mpi-bench-2 2>&1 | grep "^searched" | sed "s/^/search, 2 ranks x 1 thread: /"
rm -rf "$out" "$run/search-mpi-bench-1" "$run/search-mpi-bench-2"
