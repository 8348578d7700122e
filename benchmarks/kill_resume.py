"""kill -9 at random moments during `ur4rec generate`, `ur4rec encode` and `ur4rec run`, then resume.

Everything runs on a tiny world built in a temporary folder (no real LLM or dataset needed): a
MovieLens-1M-format dataset, a tiny random Llama as the LLM and a tiny random BERT as the encoder,
both through the real code paths (llms.Lean, the default engine, and encoders.HF). First one
uninterrupted pass gives the reference texts, vectors and metrics. Then for each stage and trial: start the command on a copy of
the state before that stage, SIGKILL it after a random delay, count what the stores hold (entries
stored, entries whose checksum fails), give the same command again, and compare the end state with
the reference: texts/vectors regenerated on resume (= computed before the kill but lost, plus never
reached), corrupt entries, and whether the final texts, vectors and run metrics equal the reference.

Usage: python benchmarks/kill_resume.py [--trials 20] [--out benchmarks/results/kill_resume.md]
"""
from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import ROOT, header, write  # noqa: E402

sys.path.insert(0, str(ROOT / "tests"))
PY = str(ROOT / ".venv" / "bin" / "python") if (ROOT / ".venv").is_dir() else sys.executable

EXPERIMENT = """include 'datasets/ml-1m.gin'
include 'backbones/prm.gin'
include 'augment/llm.gin'
DATA_DIR = '{data}'
K_CORE = 2
N_CANDIDATES = 20
EPOCHS = 4
PATIENCE = 10
TRAIN_SAMPLES_PER_EPOCH = 64
EMBED_DIM = 16
llms.Lean.model = '{llm}'
llms.Lean.batch_size = 4
LLM_DTYPE = 'float32'
LLM_USER_MAX_NEW_TOKENS = 24
LLM_ITEM_MAX_NEW_TOKENS = 24
encoders.HF.model = '{enc}'
ENCODER_BATCH_SIZE = 4
"""


def world(root: Path) -> Path:
    from conftest import write_ml1m
    from tiny_models import tiny_bert_dir, tiny_llama_dir

    data = write_ml1m(root / "data", n_users=16, n_items=40, per_user=12)
    cfg = root / "exp.gin"
    cfg.write_text(EXPERIMENT.format(data=data, llm=tiny_llama_dir(root / "llm"), enc=tiny_bert_dir(root / "enc")))
    return cfg


def command(stage: str, cfg: Path) -> list[str]:
    return [PY, str(ROOT / "cli.py"), stage, str(cfg)]


def run(stage: str, cfg: Path, cache: Path, cwd: Path, kill_after: float | None = None) -> tuple[int, float]:
    env = dict(os.environ, UR4REC_CACHE=str(cache), OMP_NUM_THREADS="1")
    start = time.perf_counter()
    proc = subprocess.Popen(command(stage, cfg), cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    if kill_after is not None:
        try:
            proc.wait(timeout=kill_after)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
    _, err = proc.communicate()
    if kill_after is None and proc.returncode != 0:
        raise RuntimeError(f"{stage} failed: {err.decode()[-2000:]}")
    return proc.returncode, time.perf_counter() - start


def snapshot(cache: Path) -> dict:
    """Entries and corrupt entries of every store under ``cache`` (read in a fresh process)."""
    code = ("import json, sys; from pathlib import Path; from ur4rec.store.lmdb_store import LMDBStore\n"
            "out = {}\n"
            "for d in sorted(Path(sys.argv[1]).glob('stores/*')):\n"
            "    s = LMDBStore(d, {'kind': 'text' if d.name == 'texts' else 'vector'}, readonly=True)\n"
            "    out[d.name] = {'n': len(s), 'corrupt': len(s.verify()), 'keys': sorted(k.hex() for k in s.keys())}\n"
            "print(json.dumps(out))\n")
    res = subprocess.run([PY, "-c", code, str(cache)], capture_output=True, text=True, cwd=ROOT)
    if res.returncode != 0:
        return {"error": res.stderr[-500:]}
    return json.loads(res.stdout)


def store_values(cache: Path) -> str:
    """A digest of every stored text and vector (not the timing fields of text records) to compare with the reference."""
    code = ("import hashlib, json, sys; from pathlib import Path; from ur4rec.store.lmdb_store import LMDBStore\n"
            "h = hashlib.sha256()\n"
            "for d in sorted(Path(sys.argv[1]).glob('stores/*')):\n"
            "    s = LMDBStore(d, {'kind': 'text' if d.name == 'texts' else 'vector'}, readonly=True)\n"
            "    keys = sorted(s.keys())\n"
            "    for k, v in zip(keys, s.get_bytes(keys)):\n"
            "        if d.name == 'texts' and v:  # the text itself; records also carry timings\n"
            "            v = json.loads(v)['text'].encode()\n"
            "        h.update(k); h.update(v or b'')\n"
            "print(h.hexdigest())\n")
    return subprocess.run([PY, "-c", code, str(cache)], capture_output=True, text=True, cwd=ROOT).stdout.strip()


def metrics(cwd: Path) -> str:
    found = sorted(cwd.glob("runs/**/metrics.json"))
    if not found:
        return ""
    rows = json.loads(found[0].read_text())["splits"]["test"]["rows"]
    return json.dumps([{k: v for k, v in r.items() if k.startswith(("NDCG", "MAP"))} for r in rows], sort_keys=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--trials", type=int, default=20)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    tmp = Path(tempfile.mkdtemp(prefix="ur4rec-kill-"))
    cfg = world(tmp)
    ref_cache, ref_cwd = tmp / "ref-cache", tmp / "ref-cwd"
    ref_cwd.mkdir()
    before, durations, ref_values = {}, {}, {}
    for stage in ("generate", "encode", "run"):
        before[stage] = tmp / f"before-{stage}"
        if ref_cache.exists():
            shutil.copytree(ref_cache, before[stage])
        else:
            before[stage].mkdir()
        _, durations[stage] = run(stage, cfg, ref_cache, ref_cwd)
        ref_values[stage] = store_values(ref_cache)  # what the stores hold once this stage is done
    ref_state, ref_metrics = snapshot(ref_cache), metrics(ref_cwd)
    lines = header("kill -9 and resume: generate, encode, run (tiny world)")
    lines += [f"Reference (uninterrupted) durations: " + ", ".join(f"{k} {v:.1f} s" for k, v in durations.items())
              + f"; stores: " + ", ".join(f"{k} {v['n']} entries" for k, v in ref_state.items()), "",
              "| stage | trial | killed after (s) | killed mid-run | entries after kill | corrupt after kill | "
              "computed again on resume | final stores = reference | final metrics = reference |",
              "|---|---|---|---|---|---|---|---|---|"]
    totals = {}
    for stage in ("generate", "encode", "run"):
        for trial in range(args.trials):
            cache, cwd = tmp / f"{stage}-{trial}-cache", tmp / f"{stage}-{trial}-cwd"
            shutil.copytree(before[stage], cache)
            cwd.mkdir()
            delay = rng.uniform(0.4, 0.98) * durations[stage]  # most of a run's first seconds are imports
            code, _ = run(stage, cfg, cache, cwd, kill_after=delay)
            killed = code == -signal.SIGKILL
            mid = snapshot(cache)
            n_mid = sum(v.get("n", 0) for v in mid.values()) if "error" not in mid else -1
            corrupt = sum(v.get("corrupt", 0) for v in mid.values()) if "error" not in mid else -1
            run(stage, cfg, cache, cwd)
            end = snapshot(cache)
            n_ref = sum(v["n"] for k, v in ref_state.items() if k in end)
            n_before = sum(v.get("n", 0) for v in snapshot(before[stage]).values())
            again = max(n_ref - max(n_mid, 0), 0) if stage != "run" else 0
            same_store = store_values(cache) == ref_values[stage]
            same_metrics = (metrics(cwd) == ref_metrics) if stage == "run" else None
            t = totals.setdefault(stage, {"killed": 0, "corrupt": 0, "same": 0, "again": 0, "n": 0})
            t["killed"] += killed
            t["corrupt"] += max(corrupt, 0)
            t["same"] += bool(same_store and (same_metrics in (None, True)))
            t["again"] += again
            t["n"] += 1
            lines.append(f"| {stage} | {trial} | {delay:.1f} | {'yes' if killed else 'no (finished)'} | "
                         f"{n_mid - n_before if n_mid >= 0 else 'unreadable'} new | {corrupt} | {again} | "
                         f"{'yes' if same_store else 'NO'} | {'' if same_metrics is None else 'yes' if same_metrics else 'NO'} |")
    lines += ["", "| stage | trials | killed mid-run | corrupt entries | computed again on resume | identical to reference |",
              "|---|---|---|---|---|---|"]
    for stage, t in totals.items():
        lines.append(f"| {stage} | {t['n']} | {t['killed']} | {t['corrupt']} | {t['again']} | {t['same']} / {t['n']} |")
    lines += ["", "\"computed again\" counts entries missing after the kill that the resumed command wrote (those never "
              "reached plus those lost in flight); identical = the final stores (and, for run, metrics.json) equal the "
              "uninterrupted reference byte for byte."]
    write(lines, args.out)
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
