#!/usr/bin/env bash
# Compares two builds of nsplane on this machine, back to back: three rounds, each running
# `nsplane-sim bench` and `nsplane-sim bench-dataplane` on both builds, flat out and at an equal offered
# load, alternating which build goes first. Writes one JSON report per run into OUT_DIR.
#   scripts/bench-ab.sh OLD_NSPLANE_BINARY NEW_NSPLANE_BINARY OUT_DIR
# Build the new side first: cargo build --release -p nsplane --bin nsplane -p nsplane-sim
# (an old side: git worktree add /tmp/old <commit> && cd /tmp/old && cargo build --release -p nsplane).
set -euo pipefail
[ $# -eq 3 ] || { echo "usage: $0 OLD_NSPLANE NEW_NSPLANE OUT_DIR" >&2; exit 2; }
old=$(realpath "$1") new=$(realpath "$2") out=$(realpath -m "$3")
cd "$(dirname "$0")/.."
source scripts/setup-test.sh >/dev/null
sim="$CARGO_TARGET_DIR/release/nsplane-sim"
[ -x "$sim" ] || { echo "build nsplane-sim first (release)" >&2; exit 2; }
mkdir -p "$out"
declare -A bin=([old]=$old [new]=$new)
run() { # name side args...
  local name=$1 side=$2; shift 2
  "$sim" "$@" --binary "${bin[$side]}" --json-out "$out/$name-$round-$side.json" >"$out/$name-$round-$side.log" 2>&1
  echo "bench-ab: round $round $name $side done"
}
for round in 1 2 3; do
  for side in old new; do run wp "$side" bench --sequential 2000 --clients 8 --seconds 10; done
  for side in new old; do run wprate "$side" bench --sequential 2000 --clients 8 --seconds 10 --rate 1500; done
  for side in old new; do run dp "$side" bench-dataplane; done
  for side in new old; do run dprate "$side" bench-dataplane --rate 400 --big-zone-records 0; done
done
echo "bench-ab: reports in $out"
