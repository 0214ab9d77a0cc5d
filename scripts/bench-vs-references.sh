#!/usr/bin/env bash
# Time elu-lab against the Keras/TensorFlow and PyTorch reference scripts, side by side on this machine.
#
# Usage: scripts/bench-vs-references.sh [--epochs N] [--rounds R] [--venv DIR] [--anchors DIR] [--out FILE]
#
# Builds elu-lab (cargo build --release), then runs R rounds of: elu-lab, Keras, PyTorch, each training the
# article's model (ELU α=1, he_normal, seed 1, batch 250, dropout 0.25, validation_split 0.2) for N epochs on
# data/mnist, under /usr/bin/time -v; then `elu-lab bench --steps 48 --json FILE` (training/evaluation speed,
# per-layer times, start to first batch, the f32 GEMM peak) and scripts/keras_evaluate.py (Keras's
# model.evaluate on the 10,000 test images, batch 250, best of 3 after a warm-up). Prints a Markdown report
# (medians over the rounds, and ratios) on stdout; progress goes to stderr. Raw logs of every run stay in a
# temporary directory whose path is printed.
#
#   --epochs N     epochs per run (default 3; the first epoch is reported apart, as it includes warm-up)
#   --rounds R     rounds of the five runs (default 2); the report gives medians over rounds
#   --venv DIR     Python virtualenv with tensorflow-cpu and torch (default: .venv-anchors in the repo root)
#   --anchors DIR  directory with keras_cnn.py and torch_cnn.py (default: ../shared/anchors from the repo root)
#   --out FILE     also write the report to FILE (with date, machine, versions and this command line)
#
# Create the virtualenv once, from the repo root (≈600 MB for TensorFlow, more for torch):
#   python3 -m venv .venv-anchors
#   .venv-anchors/bin/pip install tensorflow-cpu==2.21.0
#   .venv-anchors/bin/pip install torch
#
# Needs GNU time for peak RSS and CPU seconds (Debian/Ubuntu: apt-get install time). Without it (or with
# GNU_TIME=/nonexistent) the script falls back to bash's `time` for wall/CPU seconds and to the Python scripts'
# own peak_rss_mb; elu-lab's peak RSS is then not available.
set -euo pipefail

usage() {
    sed -n 's/^# \{0,1\}Usage: /Usage: /p' "$0"
}

help() {
    # The header comment, from the usage line to the line before `set -euo pipefail`.
    sed -n '/^# Usage: /,/^set -euo pipefail/{/^set /d; s/^# \{0,1\}//; s/^#$//; p}' "$0"
}

die() {
    echo "bench-vs-references: $*" >&2
    exit 1
}

need_value() {
    [[ $# -ge 2 && -n $2 ]] || die "$1 needs a value (see --help)"
}

abspath() {
    # Absolute form of a path given relative to the caller's directory (the file need not exist).
    case $1 in
        /*) printf '%s\n' "$1" ;;
        *) printf '%s\n' "$PWD/$1" ;;
    esac
}

ORIG_CMD=$(printf '%q ' "$0" "$@")
ORIG_CMD=${ORIG_CMD% }
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

EPOCHS=3
ROUNDS=2
VENV=$REPO/.venv-anchors
ANCHORS=$REPO/../shared/anchors
OUT=
while [[ $# -gt 0 ]]; do
    case $1 in
        --epochs) need_value "$@"; EPOCHS=$2; shift 2 ;;
        --rounds) need_value "$@"; ROUNDS=$2; shift 2 ;;
        --venv) need_value "$@"; VENV=$(abspath "$2"); shift 2 ;;
        --anchors) need_value "$@"; ANCHORS=$(abspath "$2"); shift 2 ;;
        --out) need_value "$@"; OUT=$(abspath "$2"); shift 2 ;;
        -h | --help) help; exit 0 ;;
        *) usage >&2; die "unknown argument: $1" ;;
    esac
done

[[ $EPOCHS =~ ^[1-9][0-9]*$ ]] || die "--epochs must be a positive integer, got '$EPOCHS'"
[[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || die "--rounds must be a positive integer, got '$ROUNDS'"

# --- prerequisites, checked before the (long) runs -------------------------------------------------------------
PY=$VENV/bin/python
if [[ ! -x $PY ]]; then
    {
        echo "bench-vs-references: no Python virtualenv at $VENV"
        echo "Create it (from the repo root) with:"
        echo "    python3 -m venv .venv-anchors"
        echo "    .venv-anchors/bin/pip install tensorflow-cpu==2.21.0   # Keras 3.15 comes with it (~600 MB)"
        echo "    .venv-anchors/bin/pip install torch                    # large download"
        echo "or pass --venv DIR to use an existing one."
        if [[ -x $REPO/../.venv-anchors/bin/python ]]; then
            echo "hint: there is one at $(cd "$REPO/.." && pwd)/.venv-anchors: --venv $(cd "$REPO/.." && pwd)/.venv-anchors"
        fi
    } >&2
    exit 2
fi
if ! missing=$("$PY" -c '
import importlib.util, sys
print(" ".join(m for m in ("tensorflow", "keras", "torch", "numpy") if importlib.util.find_spec(m) is None))
sys.exit(0)') || [[ -n $missing ]]; then
    {
        echo "bench-vs-references: the virtualenv $VENV lacks: ${missing:-(python failed to start)}"
        echo "Install with: $VENV/bin/pip install tensorflow-cpu==2.21.0 torch"
    } >&2
    exit 2
fi
for f in keras_cnn.py torch_cnn.py mnist_idx.py; do
    [[ -f $ANCHORS/$f ]] || die "no $f in $ANCHORS (pass --anchors DIR)"
done
KERAS_EVAL=$REPO/scripts/keras_evaluate.py
[[ -f $KERAS_EVAL ]] || die "no $KERAS_EVAL"
ANCHORS=$(cd "$ANCHORS" && pwd)
export MNIST_DIR=$REPO/data/mnist  # read by the reference scripts' mnist_idx.py
[[ -d $MNIST_DIR ]] || die "no MNIST in $MNIST_DIR"
if [[ -n $OUT ]]; then
    out_dir=$(dirname "$OUT")
    [[ -d $out_dir && -w $out_dir ]] || die "cannot write --out $OUT: $out_dir is not a writable directory"
fi

GNU_TIME=${GNU_TIME:-/usr/bin/time}
if [[ -x $GNU_TIME ]] && "$GNU_TIME" -v true >/dev/null 2>&1; then
    HAVE_GNU_TIME=1
else
    HAVE_GNU_TIME=0
    {
        echo "bench-vs-references: warning: GNU time ($GNU_TIME) is missing; install it with: apt-get install time"
        echo "  falling back to bash's time for wall/CPU seconds and to the Python scripts' own peak RSS;"
        echo "  elu-lab's peak RSS will be reported as n/a."
    } >&2
fi

NPROC=$(nproc)
if [[ $EPOCHS == 1 ]]; then
    echo "bench-vs-references: note: with --epochs 1 there is no epoch after the first; s/epoch (excl. 1st) is n/a" \
        "and images/s and GFLOP/s use the first epoch" >&2
fi

cd "$REPO"
DATE_START=$(date -u)
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo "?")

echo "bench-vs-references: cargo build --release" >&2
cargo build --release >&2 || die "cargo build --release failed (see above); nothing was measured"
BUILT=${CARGO_TARGET_DIR:-$REPO/target}/release/elu-lab
[[ -x $BUILT ]] || die "cargo build did not produce $BUILT"
LOGDIR=$(mktemp -d "${TMPDIR:-/tmp}/elu-lab-bench.XXXXXX")
echo "bench-vs-references: raw logs in $LOGDIR" >&2
# Run a private copy, so that a rebuild in the working tree during the benchmark cannot change the binary.
BIN=$LOGDIR/elu-lab
cp "$BUILT" "$BIN"

# --- the runs -----------------------------------------------------------------------------------------------------
# run_timed NAME CMD...: runs CMD with stdout+stderr in $LOGDIR/NAME.log and resource usage in $LOGDIR/NAME.time
# (GNU time -v's format; the fallback writes the same keys, without peak RSS).
run_timed() {
    local name=$1
    shift
    local log=$LOGDIR/$name.log tfile=$LOGDIR/$name.time status=0
    printf '%q ' "$@" >"$LOGDIR/$name.cmd"
    echo >>"$LOGDIR/$name.cmd"
    if [[ $HAVE_GNU_TIME == 1 ]]; then
        "$GNU_TIME" -v -o "$tfile" "$@" >"$log" 2>&1 || status=$?
    else
        local TIMEFORMAT='%R %U %S' real user sys
        { time "$@" >"$log" 2>&1 || status=$?; } 2>"$tfile.bash"
        read -r real user sys <"$tfile.bash"
        printf '\tUser time (seconds): %s\n\tSystem time (seconds): %s\n\tElapsed (wall clock) seconds: %s\n\tExit status: %s\n' \
            "$user" "$sys" "$real" "$status" >"$tfile"
    fi
    if [[ $status != 0 ]]; then
        {
            echo "bench-vs-references: $name failed (exit status $status); last lines of $log:"
            tail -n 20 "$log"
        } | sed 's/^/  /' >&2
        exit 1
    fi
}

for ((r = 1; r <= ROUNDS; r++)); do
    echo "bench-vs-references: round $r/$ROUNDS: elu-lab ($EPOCHS epoch(s), $NPROC threads)" >&2
    run_timed "r$r-elu-lab" "$BIN" train --epochs "$EPOCHS" --verbose 2 --seed 1 --out "$LOGDIR/r$r-elu-lab-run" \
        --activation elu --alpha 1.0 --init he_normal --dropout 0.25 --batch-size 250 --validation-split 0.2 \
        --data "$MNIST_DIR" --threads "$NPROC"
    echo "bench-vs-references: round $r/$ROUNDS: Keras ($EPOCHS epoch(s), TF default threads)" >&2
    run_timed "r$r-keras" "$PY" "$ANCHORS/keras_cnn.py" \
        --act elu --init he --epochs "$EPOCHS" --seed 1 --dropout 0.25 --batch-size 250
    echo "bench-vs-references: round $r/$ROUNDS: PyTorch ($EPOCHS epoch(s), $NPROC threads)" >&2
    run_timed "r$r-torch" "$PY" "$ANCHORS/torch_cnn.py" \
        --act elu --init he --epochs "$EPOCHS" --seed 1 --dropout 0.25 --batch-size 250 --threads "$NPROC"
    echo "bench-vs-references: round $r/$ROUNDS: elu-lab bench (48 steps, evaluation, per layer, GEMM peak)" >&2
    run_timed "r$r-elu-lab-bench" "$BIN" bench --steps 48 --json "$LOGDIR/r$r-elu-lab-bench.json"
    echo "bench-vs-references: round $r/$ROUNDS: Keras model.evaluate (10,000 test images, batch 250)" >&2
    run_timed "r$r-keras-eval" "$PY" "$KERAS_EVAL" --anchors "$ANCHORS" --batch-size 250 --repeats 3
done

# --- the report ---------------------------------------------------------------------------------------------------
DATE_END=$(date -u)
LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo "?")
CPU_MODEL=$(lscpu 2>/dev/null | sed -n 's/^Model name:[[:space:]]*//p' | head -n 1)
MEM=$(awk '/^MemTotal:/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)
RUSTC=$(rustc --version)
ELU_VERSION=$("$BIN" --version)
GIT_REV=$(git -C "$REPO" describe --always --dirty 2>/dev/null || echo "not a git checkout")
PY_VERSIONS=$("$PY" -c '
import importlib.metadata as md, platform
def v(*names):
    for n in names:
        try:
            return md.version(n)
        except md.PackageNotFoundError:
            pass
    return "?"
print("python " + platform.python_version() + ", tensorflow " + v("tensorflow", "tensorflow-cpu")
      + ", keras " + v("keras") + ", torch " + v("torch") + ", numpy " + v("numpy"))')

REPORT=$LOGDIR/report.md
"$PY" - "$LOGDIR" "$ROUNDS" "$EPOCHS" "$NPROC" >"$LOGDIR/tables.md" <<'PYEOF'
"""Parse the runs in LOGDIR and print the Markdown tables (medians over rounds, ratios, every run)."""
import json
import math
import re
import statistics
import sys

logdir, rounds, epochs, nproc = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
IMAGES_PER_EPOCH = 60_000      # 48,000 training + 12,000 validation images
TFLOP_PER_EPOCH = 0.89         # ../shared/anchors/README.md: ≈17 MFLOP/train image (fwd+bwd), ≈5.7 MFLOP/val image
NAN = float("nan")


def parse_time(path):
    """GNU time -v output (or the script's fallback): cpu_s, wall_s, rss_mb (nan when absent)."""
    text = open(path).read()

    def field(label):
        m = re.search(r"^\s*" + re.escape(label) + r":\s*(\S+)\s*$", text, re.M)
        return m.group(1) if m else None

    cpu = float(field("User time (seconds)")) + float(field("System time (seconds)"))
    wall = field("Elapsed (wall clock) time (h:mm:ss or m:ss)")
    if wall is not None:
        secs = 0.0
        for part in wall.split(":"):
            secs = secs * 60 + float(part)
    else:
        secs = float(field("Elapsed (wall clock) seconds"))
    rss = field("Maximum resident set size (kbytes)")
    return {"cpu_s": cpu, "wall_s": secs, "rss_mb": float(rss) / 1024 if rss else NAN}


def parse_elu_lab(name):
    s = json.load(open(f"{logdir}/{name}-run/summary.json"))
    lines = [ln for ln in open(f"{logdir}/{name}.log").read().splitlines() if ln.strip()]
    m = re.fullmatch(r"Test loss: (\S+) / Test accuracy: (\S+)", lines[-1]) if lines else None
    if not m:
        sys.exit(f"{name}: last line of the log is not 'Test loss: X / Test accuracy: Y'")
    if abs(float(m.group(1)) - s["test_loss"]) > 1e-4 or abs(float(m.group(2)) - s["test_accuracy"]) > 1e-4:
        sys.exit(f"{name}: summary.json and the last stdout line disagree on test loss/accuracy")
    return {"epochs": s["epoch_seconds"], "test_loss": s["test_loss"], "test_acc": s["test_accuracy"],
            "self_rss_mb": NAN}


def parse_python(name):
    text = open(f"{logdir}/{name}.log").read()
    ep = [float(x) for x in re.findall(r"^EPOCH \d+ wall_s=(\S+) cpu_s=\S+$", text, re.M)]
    m = re.search(r"^RESULT .*$", text, re.M)
    if not m:
        sys.exit(f"{name}: no RESULT line in {logdir}/{name}.log")
    kv = dict(tok.split("=", 1) for tok in m.group(0).split()[1:])
    return {"epochs": ep, "test_loss": float(kv["test_loss"]), "test_acc": float(kv["test_acc"]),
            "self_rss_mb": float(kv["peak_rss_mb"])}


FRAMEWORKS = [("elu-lab", "elu-lab", parse_elu_lab), ("keras", "Keras/TF", parse_python),
              ("torch", f"PyTorch ({nproc} thr.)", parse_python)]

runs = {}  # key -> list of per-round dicts
for r in range(1, rounds + 1):
    for key, _, parse in FRAMEWORKS:
        name = f"r{r}-{key}"
        d = parse(name)
        if len(d["epochs"]) != epochs:
            sys.exit(f"{name}: expected {epochs} epoch times, found {len(d['epochs'])}")
        d.update(parse_time(f"{logdir}/{name}.time"))
        if math.isnan(d["rss_mb"]):
            d["rss_mb"] = d["self_rss_mb"]  # no GNU time: the script's own ru_maxrss (nan for elu-lab)
        d["first_s"] = d["epochs"][0]
        d["rest_s"] = statistics.mean(d["epochs"][1:]) if epochs > 1 else NAN
        d["epoch_s"] = d["rest_s"] if epochs > 1 else d["first_s"]
        d["round"] = r
        runs.setdefault(key, []).append(d)


def med(key, field):
    vals = [d[field] for d in runs[key]]
    return NAN if any(math.isnan(v) for v in vals) else statistics.median(vals)


def fmt(x, nd=2):
    return "n/a" if math.isnan(x) else f"{x:,.{nd}f}"


def ratio(a, b):
    return "n/a" if math.isnan(a) or math.isnan(b) or b == 0 else f"{a / b:.2f}"


basis = f"the mean of epochs 2 to {epochs}" if epochs > 1 else "epoch 1 (only one epoch was run)"
print(f"### Medians over {rounds} round(s) of {epochs} epoch(s)\n")
print("| framework | s/epoch (excl. 1st) | 1st epoch s | epoch images/s | eff. GFLOP/s | peak RSS MB "
      "| CPU s (run) | wall s (run) | test loss | test acc |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
for key, label, _ in FRAMEWORKS:
    s = med(key, "epoch_s")
    print(f"| {label} | {fmt(med(key, 'rest_s'))} | {fmt(med(key, 'first_s'))} | {fmt(IMAGES_PER_EPOCH / s, 0)} "
          f"| {fmt(TFLOP_PER_EPOCH * 1000 / s, 1)} | {fmt(med(key, 'rss_mb'), 0)} | {fmt(med(key, 'cpu_s'), 1)} "
          f"| {fmt(med(key, 'wall_s'), 1)} | {fmt(med(key, 'test_loss'), 4)} | {fmt(med(key, 'test_acc'), 4)} |")
print(f"\nepoch images/s = {IMAGES_PER_EPOCH:,} / (s per epoch); eff. GFLOP/s = {TFLOP_PER_EPOCH} TFLOP per epoch "
      f"/ (s per epoch). Both use {basis}.")

print("\n### Ratios (elu-lab ÷ reference; below 1 means elu-lab is faster or smaller)\n")
print("| quantity | elu-lab ÷ Keras/TF | elu-lab ÷ PyTorch |")
print("|---|---:|---:|")
for field, label in [("rest_s", "s/epoch (excl. 1st)"), ("first_s", "1st epoch s"), ("cpu_s", "CPU s (run)"),
                     ("wall_s", "wall s (run)"), ("rss_mb", "peak RSS")]:
    e = med("elu-lab", field)
    print(f"| {label} | {ratio(e, med('keras', field))} | {ratio(e, med('torch', field))} |")


# --- elu-lab bench (JSON) and Keras's model.evaluate (EVAL line), one of each per round -------------------------
def num(x):
    return NAN if x is None else float(x)


def parse_keras_eval(name):
    text = open(f"{logdir}/{name}.log").read()
    m = re.search(r"^EVAL framework=keras images_per_s=(\S+) seconds=(\S+)$", text, re.M)
    if not m:
        sys.exit(f"{name}: no EVAL line in {logdir}/{name}.log")
    return {"images_per_s": float(m.group(1)), "seconds": float(m.group(2))}


bench = []  # per round: elu-lab bench JSON
keval = []  # per round: Keras evaluate
for r in range(1, rounds + 1):
    try:
        j = json.load(open(f"{logdir}/r{r}-elu-lab-bench.json"))
        for k in ("eval_images_per_s", "train_images_per_s", "train_gflops", "start_to_first_batch_s", "layers"):
            j[k]
    except (OSError, ValueError, KeyError) as e:
        sys.exit(f"r{r}-elu-lab-bench: bad or missing JSON ({e})")
    bench.append(j)
    keval.append(parse_keras_eval(f"r{r}-keras-eval"))


def med_of(vals):
    return NAN if not vals or any(math.isnan(v) for v in vals) else statistics.median(vals)


N_TEST = 10_000
e_ips = med_of([num(j["eval_images_per_s"]) for j in bench])
k_ips = med_of([d["images_per_s"] for d in keval])
print("\n### Evaluation (10,000 test images, batch 250)\n")
print("| quantity | elu-lab | Keras/TF | elu-lab ÷ Keras/TF |")
print("|---|---:|---:|---:|")
print(f"| images/s | {fmt(e_ips, 0)} | {fmt(k_ips, 0)} | {ratio(e_ips, k_ips)} |")
print(f"| seconds for 10,000 images | {fmt(N_TEST / e_ips, 3)} | {fmt(N_TEST / k_ips, 3)} "
      f"| {ratio(N_TEST / e_ips, N_TEST / k_ips)} |")
print(f"\nMedians over {rounds} round(s); here a ratio above 1 means elu-lab evaluates faster. elu-lab: "
      "`eval_images_per_s` of `elu-lab bench --steps 48` (best of 3 passes over the test set, after the benchmark's "
      "training steps); Keras/TF: `model.evaluate(x_test, y_test, batch_size=250, verbose=0)` on the same model, "
      "untrained, best of 3 after a warm-up call (scripts/keras_evaluate.py).")

gemm = med_of([num(j.get("gemm_peak_gflops")) for j in bench])
threads = bench[-1].get("threads", "?")
e_epoch = med("elu-lab", "epoch_s")
e_gflops = TFLOP_PER_EPOCH * 1000 / e_epoch
b_gflops = med_of([num(j["train_gflops"]) for j in bench])


def pct(a, b):
    return "n/a" if math.isnan(a) or math.isnan(b) or b == 0 else f"{100 * a / b:.1f}%"


print("\n### elu-lab against the machine's f32 GEMM peak\n")
print(f"- effective training GFLOP/s: {fmt(e_gflops, 1)} = {TFLOP_PER_EPOCH} TFLOP per epoch / {fmt(e_epoch)} s "
      f"per epoch = **{pct(e_gflops, gemm)}** of the f32 GEMM peak of {fmt(gemm, 1)} GFLOP/s. s per epoch: median "
      f"of the elu-lab training runs, using {basis}; GEMM peak: `gemm_peak_gflops` of `elu-lab bench` (the `gemm` "
      f"crate's 2048³ SGEMM on {threads} threads, best of 3), median over the bench runs")
print(f"- for comparison, `elu-lab bench`'s own `train_gflops` (counted MACs of training steps only, no "
      f"validation): {fmt(b_gflops, 1)} GFLOP/s = {pct(b_gflops, gemm)} of that peak")
s2fb = med_of([num(j["start_to_first_batch_s"]) for j in bench])
print(f"- start to first batch (`start_to_first_batch_s` of `elu-lab bench`: data load, model build, first "
      f"training step; median): {fmt(s2fb, 3)} s")

last = bench[-1]
lay = last["layers"]
tot = sum(float(x["forward_ms"]) + float(x["backward_ms"]) for x in lay)
print(f"\n### elu-lab per-layer time per training step (bench of round {rounds}, batch "
      f"{last.get('batch_size', 250)}, {threads} threads)\n")
print("| layer | forward ms | backward ms | share |")
print("|---|---:|---:|---:|")
for x in lay:
    f, b = float(x["forward_ms"]), float(x["backward_ms"])
    print(f"| {x['layer']} | {f:.2f} | {b:.2f} | {pct(f + b, tot)} |")
print(f"| total | {sum(float(x['forward_ms']) for x in lay):.2f} | {sum(float(x['backward_ms']) for x in lay):.2f} "
      f"| 100.0% |")
print("\nms per training step summed over threads (`layers` in the bench JSON; measured in a separate profiled "
      "pass of up to 16 steps). A layer that elu-lab fuses into the one above it (its plan runs Conv2D → ELU → "
      "MaxPooling2D of the first block as one kernel, and Conv2D → ELU → MaxPooling2D of the second, as Winograd with the pooling in its output transform) shows 0.00; "
      "its time is in that row.")

print("\n### Every run (in the order run)\n")
print("| round | framework | epoch seconds | peak RSS MB | CPU s | wall s | test loss | test acc |")
print("|---:|---|---|---:|---:|---:|---:|---:|")
for r in range(1, rounds + 1):
    for key, label, _ in FRAMEWORKS:
        d = runs[key][r - 1]
        eps = ", ".join(f"{x:.2f}" for x in d["epochs"])
        print(f"| {r} | {label} | {eps} | {fmt(d['rss_mb'], 0)} | {fmt(d['cpu_s'], 1)} | {fmt(d['wall_s'], 1)} "
              f"| {d['test_loss']:.4f} | {d['test_acc']:.4f} |")

print("\n### Every evaluation and bench run\n")
print("| round | elu-lab eval images/s | Keras/TF eval images/s | elu-lab bench train images/s | GEMM peak GFLOP/s "
      "| start to first batch s |")
print("|---:|---:|---:|---:|---:|---:|")
for r in range(1, rounds + 1):
    j, k = bench[r - 1], keval[r - 1]
    print(f"| {r} | {fmt(num(j['eval_images_per_s']), 0)} | {fmt(k['images_per_s'], 0)} "
          f"| {fmt(num(j['train_images_per_s']), 0)} | {fmt(num(j.get('gemm_peak_gflops')), 1)} "
          f"| {fmt(num(j['start_to_first_batch_s']), 3)} |")
PYEOF

{
    echo "## elu-lab vs the Keras and PyTorch references"
    echo
    echo "- date: $DATE_START → $DATE_END"
    echo "- machine: $NPROC cores ($CPU_MODEL), $MEM memory; load average (1/5/15 min) at start $LOAD_START, at end $LOAD_END"
    echo "- versions: $RUSTC; $ELU_VERSION (git $GIT_REV); $PY_VERSIONS"
    echo "- command: \`$ORIG_CMD\`"
    echo "- settings: ELU α=1, he_normal, seed 1, batch 250, dropout 0.25, validation_split 0.2, data/mnist;" \
        "elu-lab and PyTorch with $NPROC threads, Keras/TF with TF's default (all cores)"
    if [[ $HAVE_GNU_TIME == 0 ]]; then
        echo "- GNU time was missing: peak RSS of the Python runs is their own ru_maxrss; elu-lab's is n/a"
    fi
    echo "- raw logs: $LOGDIR"
    echo
    cat "$LOGDIR/tables.md"
} >"$REPORT"

cat "$REPORT"
if [[ -n $OUT ]]; then
    cp "$REPORT" "$OUT"
    echo "bench-vs-references: report written to $OUT" >&2
fi
echo "bench-vs-references: raw logs in $LOGDIR" >&2
