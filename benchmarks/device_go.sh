#!/usr/bin/env bash
# On a lent GPU machine (the device tool), with carry [".devcarry"] built by `python benchmarks/gpu_carry.py`:
# installs the carried wheels, checks the GPU path (tests/test_device.py), prepares ML-100K, runs the headline
# rows with benchmarks/run_ur4rec_gpu.sh (patience 5, cap 60 epochs) until BUDGET seconds after its start, and
# packs every run folder without checkpoints into $OUT/runs.tgz.
# Usage (device tool): BUDGET=530 BACKBONES="prm gru4rec" SEEDS="0 1 2" bash benchmarks/device_go.sh
set -u
T0=$(date +%s)
python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .devcarry/whl/*.whl || exit 3
export PYTHONPATH=/tmp/site:$PWD/.devcarry/site UR4REC_CACHE=$PWD/.devcarry/cache PYTHONUNBUFFERED=1
rm -f runs; mkdir -p runs/logs
nvidia-smi -L; nproc; free -g | head -2
python3 -c "import torch, transformers, typer, gin, lmdb; print('torch', torch.__version__, 'transformers', transformers.__version__, 'typer', typer.__version__, torch.cuda.is_available())" || exit 4
timeout 120 python3 -m pytest -q -x -p no:cacheprovider tests/test_device.py 2>&1 | tail -4
timeout 120 python3 cli.py data prepare gin/experiments/table2/ml-100k/prm/base.gin -b "DATA_DIR='$PWD/.devcarry/data/ml-100k'" 2>&1 | tail -2
echo "setup done after $(( $(date +%s) - T0 )) s"
DEADLINE=$(( ${BUDGET:-520} - ($(date +%s) - T0) )) PY=python3 \
  BINDINGS="PATIENCE=5 EPOCHS=60 DATA_DIR='$PWD/.devcarry/data/ml-100k'" \
  bash benchmarks/run_ur4rec_gpu.sh "${BACKBONES:-prm gru4rec}" "${SEEDS:-0 1 2}"
echo "runs done after $(( $(date +%s) - T0 )) s"
tail -n 3 runs/logs/*.log | cut -c1-220 | tail -n 120
tar czf "$OUT/runs.tgz" --exclude='*.pt' --exclude='*.tmp*' runs
ls -la "$OUT"
