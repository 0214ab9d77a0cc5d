#!/usr/bin/env bash
# Peak memory of elu-lab on hostile inputs: devices, FIFOs, symlinks to devices, huge and sparse files,
# gzip bombs, huge models. Each must end in a clear error (exit status 1) within bounded memory.
#
# Usage: scripts/hostile-inputs.sh [--bomb-gib N]
#
# Builds elu-lab (cargo build --release), makes the inputs in a temporary directory (removed at the end;
# the gzip bomb, 4 GiB of zeros behind MNIST's training-image header by default, takes a minute to
# compress), runs each case under GNU time (/usr/bin/time -v) and prints a Markdown table: the case, the
# command, the exit status, the peak RSS and the first line of the error. Needs GNU time, gzip, truncate
# and mkfifo.
set -euo pipefail

BOMB_GIB=4
while [[ $# -gt 0 ]]; do
    case "$1" in
        --bomb-gib) BOMB_GIB="$2"; shift 2 ;;
        *) sed -n '2,11p' "$0"; exit 2 ;;
    esac
done

cd "$(dirname "$0")/.."
cargo build --release --quiet
BIN="$PWD/target/release/elu-lab"
T="$(mktemp -d)"
trap 'rm -rf "$T"' EXIT

# Model files.
ln -s /dev/zero "$T/zero-link.toml"
mkfifo "$T/fifo.toml"
truncate -s 3G "$T/sparse-3g.toml"
{ printf 'input_shape = [28, 28, 1] '; head -c 16000000 /dev/zero | tr '\0' x; echo; } > "$T/long-line.toml"
relus() { awk -v n="$1" 'BEGIN { print "input_shape = [28, 28, 1]"; for (i = 0; i < n; i++) print "[[layers]]\ntype = \"relu\"" }'; }
relus 600000 > "$T/relu-600k.toml"  # 15.0 MB, just under the 16 MiB cap
relus 16000 > "$T/relu-16000.toml"
awk 'BEGIN { printf "input_shape = ["; for (i = 0; i < 99990; i++) printf "1,"; print "1]" }' > "$T/items.toml"
awk 'BEGIN { printf "input_shape = "; for (i = 0; i < 99990; i++) printf "["; print "" }' > "$T/nested.toml"
TAIL='[[layers]]
type = "flatten"
[[layers]]
type = "dense"
units = 10
activation = "softmax"'
printf 'input_shape = [28, 28, 1]\n[[layers]]\ntype = "conv2d"\nfilters = 300000\nkernel_size = [3, 3]\n[[layers]]\ntype = "elu"\n[[layers]]\ntype = "max_pooling2d"\npool_size = [26, 26]\n%s\n' "$TAIL" > "$T/filters-300000.toml"
{ relus 997; echo "$TAIL"; } > "$T/relu-999.toml"

# Data directories: the bundled MNIST with one file replaced.
mkdata() { mkdir -p "$T/$1"; cp data/mnist/*.gz "$T/$1/"; rm "$T/$1/train-images-idx3-ubyte.gz"; }
HEADER='\x00\x00\x08\x03\x00\x00\xea\x60\x00\x00\x00\x1c\x00\x00\x00\x1c'  # 60,000 images of 28x28
mkdata bomb
{ printf "$HEADER"; head -c "$((BOMB_GIB << 30))" /dev/zero; } | gzip -1 > "$T/bomb/train-images-idx3-ubyte.gz"
mkdata sparse
printf "$HEADER" > "$T/sparse/train-images-idx3-ubyte"
truncate -s 4G "$T/sparse/train-images-idx3-ubyte"
mkdata fifo
mkfifo "$T/fifo/train-images-idx3-ubyte"
mkdata zero
ln -s /dev/zero "$T/zero/train-images-idx3-ubyte"

# Checkpoints.
mkdir -p "$T/ck-zero" "$T/ck-fifo"
ln -s /dev/zero "$T/ck-zero/checkpoint.safetensors"
mkfifo "$T/ck-fifo/checkpoint.safetensors"
# A checkpoint whose header is as large as allowed (32 MiB): metadata holding one long string.
mkdir -p "$T/ck-header"
PREFIX='{"__metadata__":{"format":"elu-lab-checkpoint-1","x":"'
N=$(( (32 << 20) - ${#PREFIX} - 3 ))
{
    for i in 0 1 2 3 4 5 6 7; do printf "\\x$(printf %02x $(( ((N + ${#PREFIX} + 3) >> (8 * i)) & 255 )))"; done
    printf '%s' "$PREFIX"; head -c "$N" /dev/zero | tr '\0' a; printf '"}}'
} > "$T/ck-header/checkpoint.safetensors"

echo "| case | command | exit | peak RSS | error |"
echo "|---|---|---:|---:|---|"
run() {
    local name="$1"; shift
    local log="$T/time.log" err="$T/stderr.log"
    set +e
    /usr/bin/time -v -o "$log" "$BIN" "$@" > /dev/null 2> "$err"
    local status=$?
    set -e
    local rss
    rss=$(awk -F': ' '/Maximum resident set size/ {printf "%.1f MB", $2 / 1024}' "$log")
    local first
    first=$(head -c 600 "$err" | grep -v '^hint:' | head -n 2 | paste -sd ' ' | sed "s|$T/||g; s/|/\\\\|/g" | cut -c 1-240 || true)
    local cmd="elu-lab $*"
    echo "| $name | \`${cmd//$T\//}\` | $status | $rss | $first |"
}
run "control: the article's summary" summary
run "model: /dev/zero" summary --model /dev/zero
run "model: symlink to /dev/zero" summary --model "$T/zero-link.toml"
run "model: FIFO" summary --model "$T/fifo.toml"
run "model: 3 GiB (sparse)" summary --model "$T/sparse-3g.toml"
run "model: one 16 MB line" summary --model "$T/long-line.toml"
run "model: 600,000 layers (15.0 MB)" summary --model "$T/relu-600k.toml"
run "model: 16,000 layers" summary --model "$T/relu-16000.toml"
run "model: 99,991 values (at the cap)" summary --model "$T/items.toml"
run "model: 99,990 nested arrays" summary --model "$T/nested.toml"
run "model: 999 layers (within the cap)" summary --model "$T/relu-999.toml"
run "model: 300,000 filters" train --epochs 1 --limit 1000 --model "$T/filters-300000.toml" --out "$T/run1"
run "data: gzip bomb (${BOMB_GIB} GiB of zeros)" train --data "$T/bomb" --epochs 1 --limit 1000 --out "$T/run2"
run "data: 4 GiB sparse raw file" train --data "$T/sparse" --epochs 1 --limit 1000 --out "$T/run3"
run "data: FIFO" train --data "$T/fifo" --epochs 1 --limit 1000 --out "$T/run4"
run "data: symlink to /dev/zero" train --data "$T/zero" --epochs 1 --limit 1000 --out "$T/run5"
run "checkpoint: symlink to /dev/zero" train --resume "$T/ck-zero"
run "checkpoint: FIFO" train --resume "$T/ck-fifo"
run "checkpoint: 32 MiB header" train --resume "$T/ck-header"
run "control: train 1 epoch on 1,000 images" train --epochs 1 --limit 1000 --verbose 0 --out "$T/run6"
