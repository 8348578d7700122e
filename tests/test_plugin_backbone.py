"""A backbone in a user's own module: one file with a decorator, listed by the CLI, trained from a gin binding."""
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from conftest import write_ml1m

REPO = Path(__file__).resolve().parents[1]

PLUGIN = '''
"""A user's backbone: mean of the history embeddings, dot product with each candidate."""
import torch
from ur4rec.backbones.base import BACKBONES, Backbone, CandidateInput, ItemEmbedding
from ur4rec.backbones.layers import masked_mean


@BACKBONES.register("MeanMatch")
class MeanMatch(Backbone):
    """Mean-pooled history matched against every candidate."""

    def __init__(self, sizes, aug_dim=0, dim=8):
        super().__init__(sizes, aug_dim)
        self.items = ItemEmbedding(sizes, dim)
        self.cand_in = CandidateInput(dim, aug_dim)

    def forward(self, batch):
        u = masked_mean(self.items(batch.hist, batch.hist_attrs), batch.hist_mask)  # [B, d]
        c = self.cand_in(self.items(batch.cand, batch.cand_attrs), batch.augment)  # [B, N, d]
        return torch.einsum("bd,bnd->bn", u, c)
'''


def cli(args, cwd, env):
    return subprocess.run([sys.executable, str(REPO / "cli.py"), *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=300)


def test_new_backbone_is_listed_and_trains_from_a_binding(tmp_path):
    (tmp_path / "my_backbones.py").write_text(PLUGIN)
    env = {**os.environ, "UR4REC_PLUGINS": "my_backbones", "PYTHONPATH": f"{tmp_path}{os.pathsep}{REPO}",
           "COLUMNS": "250", "OMP_NUM_THREADS": "1"}
    listed = cli(["list", "backbones"], tmp_path, env)
    assert listed.returncode == 0, listed.stderr
    assert "@backbones.MeanMatch" in listed.stdout and "@backbones.SASRec" in listed.stdout

    data = write_ml1m(tmp_path / "ml", n_users=20, n_items=90, per_user=15)
    exp = tmp_path / "mine.gin"
    exp.write_text(textwrap.dedent("""\
        include 'datasets/ml-1m.gin'
        include 'train/neural.gin'
        EPOCHS = 1
        """))
    run = cli(["run", str(exp), "-b", f"DATA_DIR='{data}'", "-b", "K_CORE=2", "-b", "N_CANDIDATES=15",
               "-b", "rankers.Neural.backbone = @backbones.MeanMatch", "-b", "backbones.MeanMatch.dim = 6"], tmp_path, env)
    assert run.returncode == 0, run.stdout + run.stderr
    (exp_dir,) = (tmp_path / "runs").glob("mine+*")  # the bindings name their own run folder
    run_dir = exp_dir / "ml-1m" / "seed0"
    rows = json.loads((run_dir / "metrics.json").read_text())["splits"]["test"]["rows"]
    assert [r["ranker"] for r in rows] == ["Popularity", "MeanMatch", "random floor"]
    assert json.loads((run_dir / "MeanMatch" / "training.json").read_text())["epoch"] == 1
    assert "MeanMatch.dim = 6" in (run_dir / "operative_config.gin").read_text()
