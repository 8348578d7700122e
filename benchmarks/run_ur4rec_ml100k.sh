#!/usr/bin/env bash
# The headline UR4Rec comparison on ML-100K: Base, +LLM, UR4Rec and the Base-continued control for each
# backbone and seed. WORKERS processes (default 2) take jobs from one queue, each pinned to its own core
# with one thread: small models use two threads poorly, and two 2-thread processes on 2 cores thrash.
# UR4Rec jobs come after the Base jobs of the same seed so they reuse the published Base checkpoint.
# Finished runs are skipped; an interrupted one resumes (`ur4rec run` resumes each phase from its last epoch).
# Logs: $LOGS/<backbone>-<row>-seed<k>.log and $LOGS/queue.log.
# RUNS_HOME (e.g. ~/ur4rec-runs): keep run folders outside the work tree, which a new session lays anew; the
# script links runs -> RUNS_HOME, so a later session resumes unfinished runs and skips finished ones.
# ROWS (default "base ur4rec llm base-continued", run in that order): table2 rows by name, the control as
# base-continued, Table 3 rows as t3/<row> (gin/experiments/table3/ml-100k/<backbone>/<row>.gin), other controls as
# ctl/<name> (gin/experiments/controls/ml-100k/<backbone>/<name>.gin, e.g. ctl/ur4rec-bf16).
# Usage: WORKERS=2 RUNS_HOME=~/ur4rec-runs bash benchmarks/run_ur4rec_ml100k.sh "prm gru4rec" "0 1 2"
#        ROWS="t3/wo-retr t3/wo-pretrain" RUNS_HOME=~/ur4rec-runs bash benchmarks/run_ur4rec_ml100k.sh prm 0
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
ROWS=${ROWS:-"base ur4rec llm base-continued"}
LOGS=${LOGS:-runs/logs}
mkdir -p "$LOGS"
QUEUE=$(mktemp)
source benchmarks/_rows.sh
folder_of() { echo "runs/$(experiment_of "$1" "$2")/ml-100k/seed$3"; }
log_of() { echo "$LOGS/$1-${2//\//-}-seed$3.log"; }
for row in $ROWS; do
  for bb in $BACKBONES; do
    for seed in $SEEDS; do
      [ -f "$(gin_of "$bb" "$row")" ] || { echo "no $(gin_of "$bb" "$row"): skipped" >&2; continue; }
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
      > "$(log_of "$1" "$2" "$3")" 2>&1
    local rc=$?
    echo "$(date +%T) core $core end $* (exit $rc)" | tee -a "$LOGS/queue.log"
  done
}
for ((w = 0; w < WORKERS; w++)); do worker $((w % $(nproc))) & done
wait
rm -f "$QUEUE"
