#!/usr/bin/env bash
# The article's study: ELU vs ReLU, he_normal vs glorot_uniform, 25 epochs each, over several
# seeds, with the test loss/accuracy of every run and the mean ± standard deviation per
# configuration. Results go to a Markdown table on stdout (and the run directories); the
# figures are read from each run's summary.json (python3), and rerunning skips finished runs.
#
#   scripts/article-study.sh [--seeds "1 2 3"] [--epochs 25] [--out DIR] [extra train flags...]
set -euo pipefail
cd "$(dirname "$0")/.."

seeds="1 2 3"
epochs=25
out=runs/article-study
while [ $# -gt 0 ]; do
    case "$1" in
        --seeds) seeds=$2; shift 2 ;;
        --epochs) epochs=$2; shift 2 ;;
        --out) out=$2; shift 2 ;;
        *) break ;;
    esac
done

cargo build --release --quiet
bin=target/release/elu-lab
mkdir -p "$out"
table="$out/results.tsv"
printf 'activation\tinit\tseed\ttest_loss\ttest_accuracy\tseconds\n' >"$table"
for init in he_normal glorot_uniform; do
    for act in elu relu; do
        for seed in $seeds; do
            dir="$out/$act-$init-seed$seed"
            # A finished run (its summary.json exists) is kept; an interrupted one continues.
            if [ ! -f "$dir/summary.json" ]; then
                if [ -f "$dir/checkpoint.safetensors" ]; then
                    "$bin" train --resume "$dir" --verbose 0 >/dev/null
                else
                    "$bin" train --activation "$act" --init "$init" --seed "$seed" --epochs "$epochs" \
                        --verbose 0 --out "$dir" "$@" >/dev/null
                fi
            fi
            # The figures come from the run directory, not from printed lines.
            read -r loss acc secs < <(python3 -c 'import json, sys
s = json.load(open(sys.argv[1]))
print(s["test_loss"], s["test_accuracy"], round(s["total_seconds"]))' "$dir/summary.json")
            printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$act" "$init" "$seed" "$loss" "$acc" "$secs" >>"$table"
            last="test loss $loss, test accuracy $acc"
            echo "$act $init seed $seed: $last" >&2
        done
    done
done

echo "| activation | init | runs | test loss (mean ± sd) | test accuracy (mean ± sd) | min–max accuracy |"
echo "|---|---|---|---|---|---|"
awk -F'\t' 'NR > 1 {
        k = $1 " | " $2; n[k]++; sl[k] += $4; sl2[k] += $4 * $4; sa[k] += $5; sa2[k] += $5 * $5
        if (!(k in lo) || $5 < lo[k]) lo[k] = $5
        if (!(k in hi) || $5 > hi[k]) hi[k] = $5
        order[k] = NR
    }
    END {
        for (k in n) {
            ml = sl[k] / n[k]; ma = sa[k] / n[k]
            vl = n[k] > 1 ? (sl2[k] - n[k] * ml * ml) / (n[k] - 1) : 0
            va = n[k] > 1 ? (sa2[k] - n[k] * ma * ma) / (n[k] - 1) : 0
            dl = sqrt(vl > 0 ? vl : 0); da = sqrt(va > 0 ? va : 0)
            printf "| %s | %d | %.4f ± %.4f | %.4f ± %.4f | %.4f–%.4f |\n", k, n[k], ml, dl, ma, da, lo[k], hi[k]
        }
    }' "$table" | sort
echo
echo "Per-run figures: $table"
