#!/usr/bin/env bash
# The headline UR4Rec comparison on ML-100K: Base, +LLM and UR4Rec for each backbone and seed, one run
# at a time (two torch processes on 2 cores slow each other 5x). Finished runs are skipped by `ur4rec run`'s
# own resume (each phase resumes from its last epoch). Logs: $LOGS/<backbone>-<row>-seed<k>.log.
# Usage: bash benchmarks/run_ur4rec_ml100k.sh "prm gru4rec" "0 1 2"
set -uo pipefail
cd "$(dirname "$0")/.."
BACKBONES=${1:-"prm gru4rec"}
SEEDS=${2:-"0 1 2"}
LOGS=${LOGS:-runs/logs}
mkdir -p "$LOGS"
for seed in $SEEDS; do
  for bb in $BACKBONES; do
    for row in base llm ur4rec; do
      done_file=runs/table2/ml-100k/$bb/$row/ml-100k/seed$seed/metrics.json
      if [ -f "$done_file" ]; then echo "skip $bb $row seed $seed (done)"; continue; fi
      echo "$(date +%T) start $bb $row seed $seed"
      .venv/bin/python cli.py run "gin/experiments/table2/ml-100k/$bb/$row.gin" -b "SEED=$seed" \
        > "$LOGS/$bb-$row-seed$seed.log" 2>&1
      echo "$(date +%T) end $bb $row seed $seed (exit $?)"
    done
  done
done
