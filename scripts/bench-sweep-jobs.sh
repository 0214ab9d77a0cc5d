#!/usr/bin/env bash
# Sweep scheduling: N trials at once with the threads shared out, against one trial at a time
# with all threads, alternated over several rounds on the same machine; then the per-trial
# overhead and the report's time over 1,000 trials (cargo bench --bench sweep).
#
#   scripts/bench-sweep-jobs.sh [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}
cargo build --release --quiet
bin=$PWD/target/release/elu-lab
cores=$(nproc)
echo "cpu: $(lscpu | sed -n 's/^Model name: *//p'), $cores cores, $($bin info | grep simd)"
grid=(--activation relu,elu --seeds 2 --epochs 1 --limit 12000 --verbose 0)
run() { # jobs -> seconds
    local d
    d=$(mktemp -d)
    local t0 t1
    t0=$(date +%s.%N)
    "$bin" sweep --out "$d/sweep" --jobs "$1" --threads "$cores" "${grid[@]}" >/dev/null
    t1=$(date +%s.%N)
    rm -rf "$d"
    awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }'
}
echo "4 trials (relu, elu x 2 seeds; 1 epoch of 9,600 images, 2,400 validation, 10,000 test)"
for r in $(seq "$rounds"); do
    one=$(run 1)
    many=$(run "$cores")
    echo "round $r: 1 job x $cores threads: $one s; $cores jobs x 1 thread: $many s"
done
cargo bench --bench sweep --quiet 2>/dev/null | grep -v '^$'
