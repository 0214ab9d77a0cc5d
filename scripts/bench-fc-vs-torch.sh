#!/usr/bin/env bash
# Speed of the ELU paper's fully connected network (the `paper_fc` preset: 784 -> 8 x 128 ELU -> 10,
# SGD lr 0.01, batch 64, 50,000 training and 10,000 validation images) in elu-lab and in PyTorch
# (../shared/anchors/torch_fc.py), side by side: for each round and thread count, elu-lab then PyTorch,
# each under /usr/bin/time -v; then the f32 GEMM peak (`elu-lab bench`, the gemm crate's 2048^3 SGEMM).
# Prints a Markdown table of seconds per epoch, CPU seconds, the ratio, GFLOP/s and % of the peak,
# and before each round the core-to-core round trip (`elu-lab bench --round-trip`): several times
# longer while the machine's two CPUs are far apart, when two threads gain little.
#
#   scripts/bench-fc-vs-torch.sh [--python PY] [--rounds N] [--epochs N] [--threads "1 2"]
#                                [--anchors DIR] [--bin ELU_LAB]
#
# --python    the Python with torch and numpy (default: $TORCH_PYTHON, else .venv-anchors/bin/python)
# --rounds    rounds of (elu-lab, PyTorch) per thread count, alternating (default 3)
# --epochs    epochs per run (default 3); the first epoch of each run (warm-up) is left out
# --threads   thread counts to run (default "1 2")
# --anchors   the reference scripts (default ../shared/anchors)
# --bin       an elu-lab binary (default: `cargo build --release`, then a copy of target/release/elu-lab)
#
# Seconds per epoch: the median, over the rounds, of each run's median epoch after the first. elu-lab's
# epoch includes its validation pass (history.json's epoch_seconds); torch_fc.py's wall_s does not, so
# the table also gives elu-lab's training batches alone (history.json's train_seconds) and the ratio
# of like to like, both as the ratio of the medians and as the median of each round's ratio (elu-lab
# and PyTorch run back to back, so a round's ratio sees one state of the machine). CPU seconds are
# user + system of the whole run (start-up included), divided by the epochs. A last table groups the
# rounds by the round trip measured before each: the machine's two CPUs as hardware threads of one
# core (< 50 ns; two threads then share one core's arithmetic), two cores close together (50-200 ns),
# or two cores far apart (> 200 ns). On a shared machine absolute times drift; compare the ratios and
# the CPU seconds, and rerun on a quiet machine for the figures of record.
set -euo pipefail

cd "$(dirname "$0")/.."
python="${TORCH_PYTHON:-.venv-anchors/bin/python}"
rounds=3
epochs=3
threads="1 2"
anchors=../shared/anchors
bin=""
while [ $# -gt 0 ]; do
    case "$1" in
        --python) python="$2"; shift 2 ;;
        --rounds) rounds="$2"; shift 2 ;;
        --epochs) epochs="$2"; shift 2 ;;
        --threads) threads="$2"; shift 2 ;;
        --anchors) anchors="$2"; shift 2 ;;
        --bin) bin="$2"; shift 2 ;;
        -h|--help) sed -n '2,29p' "$0"; exit 0 ;;
        *) echo "unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done
[ "$epochs" -ge 2 ] || { echo "--epochs must be at least 2 (the first is warm-up)" >&2; exit 2; }
[ -x /usr/bin/time ] || { echo "needs GNU time (apt-get install time)" >&2; exit 2; }
"$python" -c "import torch, numpy" 2>/dev/null || {
    echo "no torch in $python; make one with: python3 -m venv .venv-anchors && .venv-anchors/bin/pip install torch numpy" >&2
    exit 2
}
[ -f "$anchors/torch_fc.py" ] || { echo "no $anchors/torch_fc.py (--anchors DIR)" >&2; exit 2; }

tmp=$(mktemp -d /tmp/elu-lab-fc-bench.XXXXXX)
echo "raw logs: $tmp" >&2
if [ -z "$bin" ]; then
    cargo build --release >&2
    cp target/release/elu-lab "$tmp/elu-lab"
    bin="$tmp/elu-lab"
fi
export MNIST_DIR="$PWD/data/mnist"

echo "date: $(date -u)  (load average at start: $(cut -d' ' -f1-3 /proc/loadavg))"
echo "cpu: $(lscpu | sed -n 's/^Model name: *//p' | head -1), $(nproc) cores; simd flags: $(grep -o -w -E 'avx2|fma|avx512f|avx512bw|avx512vl|avx512dq' /proc/cpuinfo | sort -u | tr '\n' ' ')"
echo "versions: $("$bin" --version), git $(git rev-parse --short HEAD 2>/dev/null || echo '?'); torch $("$python" -c 'import torch; print(torch.__version__)')"
echo "elu-lab: $bin train --model paper_fc --optimizer sgd --lr 0.01 --batch-size 64 --validation-split 0.16666666666666666 --epochs $epochs --threads T --verbose 0"
echo "pytorch: $python $anchors/torch_fc.py --act elu --epochs $epochs --threads T"
echo

for r in $(seq 1 "$rounds"); do
    for t in $threads; do
        out="$tmp/r$r-t$t-elu-lab-run"
        "$bin" bench --round-trip > "$tmp/r$r-t$t.round-trip" 2>/dev/null || echo nan > "$tmp/r$r-t$t.round-trip"
        /usr/bin/time -v -o "$tmp/r$r-t$t-elu-lab.time" "$bin" train --model paper_fc --optimizer sgd --lr 0.01 \
            --batch-size 64 --validation-split 0.16666666666666666 --epochs "$epochs" --threads "$t" --verbose 0 \
            --out "$out" > "$tmp/r$r-t$t-elu-lab.log" 2>&1
        cp "$out/history.json" "$tmp/r$r-t$t-elu-lab.history.json"
        echo "round $r, $t threads: elu-lab done" >&2
        /usr/bin/time -v -o "$tmp/r$r-t$t-torch.time" "$python" "$anchors/torch_fc.py" --act elu --epochs "$epochs" \
            --threads "$t" > "$tmp/r$r-t$t-torch.log" 2>&1
        echo "round $r, $t threads: pytorch done" >&2
    done
done
for t in $threads; do
    "$bin" bench --model paper_fc --batch-size 64 --steps 20 --threads "$t" --json "$tmp/peak-t$t.json" > /dev/null 2>&1
done

python3 - "$tmp" "$rounds" "$epochs" "$threads" <<'EOF'
import json, re, statistics, sys
tmp, rounds, epochs, threads = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4].split()

# Exact FLOPs of one epoch: 50,000 training images (forward, weight gradients, and input gradients
# of every layer but the first) and 10,000 validation images (forward), 2 FLOPs per multiply-add.
layers = [(784, 128)] + [(128, 128)] * 7 + [(128, 10)]
fwd = sum(i * o for i, o in layers)
train = 2 * (2 * fwd + fwd - 784 * 128)
epoch_flop = 50_000 * train + 10_000 * 2 * fwd

def cpu_s(path):
    t = open(path).read()
    user = float(re.search(r"User time \(seconds\): ([\d.]+)", t).group(1))
    sys_ = float(re.search(r"System time \(seconds\): ([\d.]+)", t).group(1))
    return user + sys_

print(f"One epoch: {epoch_flop / 1e9:.2f} GFLOP ({train / 1e6:.3f} MFLOP per training image, "
      f"{2 * fwd / 1e6:.3f} per validation image).")
print()
print("elu-lab's epoch: training and validation (epoch_seconds); its training: the batches alone (train_seconds),")
print("which is what torch_fc.py's wall_s times.")
print()
print("| threads | round | elu-lab s/epoch | elu-lab training s/epoch | PyTorch training s/epoch | ratio, training | ratio, epoch | elu-lab CPU s/epoch | PyTorch CPU s/epoch | round trip ns |")
print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
summary = {}
by_state = {}

def state(rt):
    # The machine's two CPUs, told apart by the core-to-core round trip before the round.
    try:
        ns = float(rt)
    except ValueError:
        return "unknown (one CPU)"
    if ns != ns:
        return "unknown (one CPU)"
    if ns < 50:
        return "hardware threads of one core (< 50 ns)"
    if ns <= 200:
        return "two cores close together (50-200 ns)"
    return "two cores far apart (> 200 ns)"

for t in threads:
    rows = []
    for r in range(1, rounds + 1):
        h = json.load(open(f"{tmp}/r{r}-t{t}-elu-lab.history.json"))
        e = statistics.median(h["epoch_seconds"][1:])
        tr = statistics.median(h.get("train_seconds", h["epoch_seconds"])[1:])
        log = open(f"{tmp}/r{r}-t{t}-torch.log").read()
        walls = [float(w) for n, w in re.findall(r"EPOCH (\d+) wall_s=([\d.]+)", log) if int(n) >= 2]
        p = statistics.median(walls)
        ce = cpu_s(f"{tmp}/r{r}-t{t}-elu-lab.time") / epochs
        cp = cpu_s(f"{tmp}/r{r}-t{t}-torch.time") / epochs
        rt = open(f"{tmp}/r{r}-t{t}.round-trip").read().strip()
        rows.append((e, tr, p, ce, cp))
        by_state.setdefault((t, state(rt)), []).append((tr, p, tr / p))
        print(f"| {t} | {r} | {e:.3f} | {tr:.3f} | {p:.3f} | {tr / p:.3f} | {e / p:.3f} | {ce:.2f} | {cp:.2f} | {rt} |")
    summary[t] = tuple(statistics.median(x[i] for x in rows) for i in range(5)) + (
        statistics.median(x[1] / x[2] for x in rows),)
print()
print("Medians over the rounds, and elu-lab's speed (whole epoch, validation included) against the f32 GEMM peak at")
print("the same thread count:")
print()
print("| threads | elu-lab s/epoch | elu-lab training s/epoch | PyTorch training s/epoch | ratio, training | ratio, training, round by round | ratio, epoch | elu-lab GFLOP/s | GEMM peak GFLOP/s | % of peak |")
print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
for t in threads:
    e, tr, p, _, _, rr = summary[t]
    peak = json.load(open(f"{tmp}/peak-t{t}.json"))["gemm_peak_gflops"]
    g = epoch_flop / e / 1e9
    print(f"| {t} | {e:.3f} | {tr:.3f} | {p:.3f} | {tr / p:.3f} | {rr:.3f} | {e / p:.3f} | {g:.1f} | {peak:.1f} | {100 * g / peak:.0f}% |")
print()
print("By the state of the machine's two CPUs before each round (the round trip), medians of the training times")
print("and of the rounds' ratios:")
print()
print("| threads | state | rounds | elu-lab training s/epoch | PyTorch training s/epoch | ratio, training, round by round |")
print("|---:|---|---:|---:|---:|---:|")
for (t, st), xs in sorted(by_state.items()):
    print(f"| {t} | {st} | {len(xs)} | {statistics.median(x[0] for x in xs):.3f} | "
          f"{statistics.median(x[1] for x in xs):.3f} | {statistics.median(x[2] for x in xs):.3f} |")
EOF
echo
echo "date: $(date -u)  (load average at end: $(cut -d' ' -f1-3 /proc/loadavg))"
echo "raw logs: $tmp" >&2
