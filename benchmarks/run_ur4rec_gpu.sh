#!/usr/bin/env bash
# The headline UR4Rec comparison on ML-100K (Base, +LLM, UR4Rec and the Base-continued control per backbone and
# seed) on a machine with a GPU and many cores: every run is its own `ur4rec run` process with one thread on the
# GPU ($UR4REC_DEVICE, default cuda). Phase 1 runs every Base and +LLM run at once; phase 2 every UR4Rec and
# control run at once (they start from the Base checkpoints phase 1 published). DEADLINE (seconds after the start,
# 0 = none) stops what is still running with SIGINT; the same command resumes it (each phase per epoch).
# BINDINGS: extra gin bindings for every run, e.g. "PATIENCE=5 EPOCHS=60" (they give the run folders a +<hash>).
# Usage: PY=python3 DEADLINE=500 BINDINGS="PATIENCE=5 EPOCHS=60" bash benchmarks/run_ur4rec_gpu.sh "prm gru4rec" "0 1 2"
# Logs: $LOGS/<backbone>-<row>-seed<k>.log and $LOGS/queue.log (default runs/logs).
set -uo pipefail
cd "$(dirname "$0")/.."
BACKBONES=${1:-"prm gru4rec"}
SEEDS=${2:-"0 1 2"}
PY=${PY:-.venv/bin/python}
DEADLINE=${DEADLINE:-0}
LOGS=${LOGS:-runs/logs}
export UR4REC_DEVICE=${UR4REC_DEVICE:-cuda} OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
START=$(date +%s)
EXTRA=()
for b in ${BINDINGS:-}; do EXTRA+=(-b "$b"); done
mkdir -p "$LOGS"

source benchmarks/_rows.sh

launch() {  # backbone row seed
  local left=1000000
  if [ "$DEADLINE" -gt 0 ]; then left=$((DEADLINE - ($(date +%s) - START))); fi
  if [ "$left" -le 0 ]; then echo "$(date +%T) $1 $2 seed $3 not started (deadline)" | tee -a "$LOGS/queue.log"; return; fi
  timeout -s INT -k 20 "$left" "$PY" cli.py run "$(gin_of "$1" "$2")" -b "SEED=$3" "${EXTRA[@]}" \
    > "$LOGS/$1-$2-seed$3.log" 2>&1
  local rc=$?
  echo "$(date +%T) $1 $2 seed $3 exit $rc after $(($(date +%s) - START)) s" | tee -a "$LOGS/queue.log"
}

phase() {  # rows
  for row in $1; do
    for bb in $BACKBONES; do
      for seed in $SEEDS; do launch "$bb" "$row" "$seed" & done
    done
  done
  wait
}

phase "base llm"
phase "ur4rec base-continued"
