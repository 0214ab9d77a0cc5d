#!/usr/bin/env bash
# Side-by-side speed of several elu-lab binaries on this machine: runs `elu-lab bench` with each
# binary in turn, ROUNDS times (alternating, so that drift in the machine's speed hits all alike),
# and prints every run and the median seconds per epoch and evaluation images/s of each.
#
#   scripts/bench-binaries.sh [--rounds N] [--steps N] LABEL=BINARY[:ELU_LAB_SIMD] ...
#
# Example (a target-cpu=native build against the default, portable one):
#   RUSTFLAGS="-C target-cpu=native" CARGO_TARGET_DIR=/tmp/native cargo build --release
#   cargo build --release
#   scripts/bench-binaries.sh --rounds 6 native=/tmp/native/release/elu-lab portable=target/release/elu-lab \
#       portable-avx2=target/release/elu-lab:avx2
set -euo pipefail

rounds=6
steps=24
specs=()
while [ $# -gt 0 ]; do
    case "$1" in
        --rounds) rounds="$2"; shift 2 ;;
        --steps) steps="$2"; shift 2 ;;
        -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
        *) specs+=("$1"); shift ;;
    esac
done
[ ${#specs[@]} -gt 0 ] || { echo "usage: $0 [--rounds N] [--steps N] LABEL=BINARY[:ELU_LAB_SIMD] ..." >&2; exit 2; }

cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

echo "cpu: $(lscpu | sed -n 's/^Model name: *//p' | head -1), $(nproc) cores; $(date -u)"
echo "command: elu-lab bench --steps $steps --gemm-size 0 (each binary in turn, $rounds rounds)"
echo
echo "| round | binary | simd | s/epoch | train images/s | eval images/s |"
echo "|---:|---|---|---:|---:|---:|"
for r in $(seq 1 "$rounds"); do
    for spec in "${specs[@]}"; do
        label="${spec%%=*}"
        rest="${spec#*=}"
        bin="${rest%%:*}"
        simd=""
        [ "$rest" != "$bin" ] && simd="${rest#*:}"
        json="$tmp/$label-$r.json"
        ELU_LAB_SIMD="$simd" "$bin" bench --steps "$steps" --gemm-size 0 --json "$json" > "$tmp/$label-$r.txt"
        python3 - "$json" "$r" "$label" <<'EOF'
import json, sys
j = json.load(open(sys.argv[1]))
simd = j.get("simd") or "(not reported)"
print(f"| {sys.argv[2]} | {sys.argv[3]} | {simd} | {j['seconds_per_epoch']:.2f} | {j['train_images_per_s']:,.0f} | {j['eval_images_per_s']:,.0f} |")
EOF
    done
done
echo
echo "| binary | median s/epoch | min–max s/epoch | median eval images/s |"
echo "|---|---:|---:|---:|"
for spec in "${specs[@]}"; do
    label="${spec%%=*}"
    python3 - "$tmp" "$label" "$rounds" <<'EOF'
import json, statistics, sys
tmp, label, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3])
runs = [json.load(open(f"{tmp}/{label}-{r}.json")) for r in range(1, rounds + 1)]
s = [j["seconds_per_epoch"] for j in runs]
e = [j["eval_images_per_s"] for j in runs]
print(f"| {label} | {statistics.median(s):.2f} | {min(s):.2f}–{max(s):.2f} | {statistics.median(e):,.0f} |")
EOF
done
