#!/usr/bin/env bash
# The headline UR4Rec comparison on ML-100K: Base, +LLM, UR4Rec and the Base-continued control for each
# backbone and seed. WORKERS processes (default 2) take jobs from one queue, each pinned to its own core
# with one thread: small models use two threads poorly, and two 2-thread processes on 2 cores thrash.
# UR4Rec jobs come after the Base jobs of the same seed so they reuse the published Base checkpoint.
# Finished runs are skipped; an interrupted one resumes (`ur4rec run` resumes each phase from its last epoch).
# Logs: $LOGS/<backbone>-<row>-seed<k>.log and $LOGS/queue.log.
# RUNS_HOME (e.g. ~/ur4rec-runs): keep run folders outside the work tree, which a new session lays anew; the
# script links runs -> RUNS_HOME, so a later session resumes unfinished runs and skips finished ones.
# Usage: WORKERS=2 RUNS_HOME=~/ur4rec-runs bash benchmarks/run_ur4rec_ml100k.sh "prm gru4rec" "0 1 2"
set -uo pipefail
cd "$(dirname "$0")/.."
if [ -n "${RUNS_HOME:-}" ]; then
  mkdir -p "$RUNS_HOME"
  if [ ! -e runs ]; then ln -s "$RUNS_HOME" runs
  elif [ "$(readlink -f runs)" != "$(readlink -f "$RUNS_HOME")" ]; then
    echo "runs/ exists and is not a link to $RUNS_HOME; move it away first" >&2; exit 2
  fi
fi
BACKBONES=${1:-"prm gru4rec"}
SEEDS=${2:-"0 1 2"}
WORKERS=${WORKERS:-2}
LOGS=${LOGS:-runs/logs}
mkdir -p "$LOGS"
QUEUE=$(mktemp)
gin_of() {  # backbone row -> gin file (the control row lives outside table2)
  if [ "$2" = base-continued ]; then echo "gin/experiments/controls/ml-100k/$1/base-continued.gin"
  else echo "gin/experiments/table2/ml-100k/$1/$2.gin"; fi
}
folder_of() {
  if [ "$2" = base-continued ]; then echo "runs/controls/ml-100k/$1/base-continued/ml-100k/seed$3"
  else echo "runs/table2/ml-100k/$1/$2/ml-100k/seed$3"; fi
}
for row in base ur4rec llm base-continued; do
  for bb in $BACKBONES; do
    for seed in $SEEDS; do
      [ -f "$(gin_of "$bb" "$row")" ] || continue
      [ -f "$(folder_of "$bb" "$row" "$seed")/metrics.json" ] && { echo "skip $bb $row seed $seed (done)"; continue; }
      echo "$bb $row $seed" >> "$QUEUE"
    done
  done
done
worker() {
  local core=$1 job
  while true; do
    job=$(flock "$QUEUE" sh -c 'head -n1 "$0"; sed -i 1d "$0"' "$QUEUE")
    [ -z "$job" ] && return 0
    set -- $job
    echo "$(date +%T) core $core start $*" | tee -a "$LOGS/queue.log"
    OMP_NUM_THREADS=1 taskset -c "$core" .venv/bin/python cli.py run "$(gin_of "$1" "$2")" -b "SEED=$3" \
      > "$LOGS/$1-$2-seed$3.log" 2>&1
    local rc=$?
    echo "$(date +%T) core $core end $* (exit $rc)" | tee -a "$LOGS/queue.log"
  done
}
for ((w = 0; w < WORKERS; w++)); do worker $((w % $(nproc))) & done
wait
rm -f "$QUEUE"
