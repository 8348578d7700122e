import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from cli import app
from conftest import write_ml1m
from ur4rec.config import load
from ur4rec.errors import ConfigError
from ur4rec.paths import GIN_DIR

GIN_FILES = sorted(p for p in GIN_DIR.rglob("*.gin"))
runner = CliRunner()


@pytest.mark.parametrize("path", GIN_FILES, ids=[str(p.relative_to(GIN_DIR)) for p in GIN_FILES])
def test_every_gin_file_parses(path):
    assert load([path]) == [path.resolve()]


def write(tmp_path, text, name="exp.gin") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_typo_names_file_and_line(tmp_path):
    path = write(tmp_path, "include 'base.gin'\nexperimnt.seed = 3\n")
    with pytest.raises(ConfigError, match=r'line 2') as err:
        load([path])
    assert str(path) in str(err.value)


def test_unknown_parameter_names_file_and_line(tmp_path):
    path = write(tmp_path, "include 'base.gin'\n\nexperiment.sede = 3\n")
    with pytest.raises(ConfigError, match=r"line 3.*|doesn't have a parameter"):
        load([path])


def test_missing_include_names_file_and_line(tmp_path):
    path = write(tmp_path, "# header\ninclude 'datasets/nope.gin'\n")
    with pytest.raises(ConfigError, match=r"line 2: included file 'datasets/nope.gin' was not found"):
        load([path])


def test_syntax_error_names_file(tmp_path):
    path = write(tmp_path, "experiment.seed = (1\n")
    with pytest.raises(ConfigError, match="syntax error") as err:
        load([path])
    assert str(path) in str(err.value)


def test_cli_errors_exit_2_without_traceback(tmp_path):
    path = write(tmp_path, "include 'base.gin'\nexperimnt.seed = 3\n")
    result = runner.invoke(app, ["run", str(path)])
    assert result.exit_code == 2 and "line 2" in result.output and "Traceback" not in result.output
    missing = runner.invoke(app, ["run", str(tmp_path / "absent.gin")])
    assert missing.exit_code == 2 and "was not found" in missing.output
    required = runner.invoke(app, ["run", "gin/datasets/ml-1m.gin", "-b", f"DATA_DIR='{tmp_path}'"])
    assert required.exit_code == 2 and "rankers" in required.output and "Traceback" not in required.output


def test_cli_bad_data_dir_names_the_folder(tmp_path):
    result = runner.invoke(app, ["data", "stats", "datasets/ml-1m.gin", "-b", f"DATA_DIR='{tmp_path / 'none'}'"])
    assert result.exit_code == 2 and "none" in result.output and "DATA_DIR" in result.output


def test_run_writes_metrics_and_operative_config(tmp_path, monkeypatch):
    folder = write_ml1m(tmp_path / "ml", n_users=20, n_items=120, per_user=15)
    monkeypatch.chdir(tmp_path)
    exp = write(tmp_path, "include 'datasets/ml-1m.gin'\nexperiment.rankers = [@rankers.Random(), @rankers.Popularity()]\n")
    result = runner.invoke(app, ["run", str(exp), "-b", f"DATA_DIR='{folder}'", "-b", "K_CORE=2", "-b", "SEED=4",
                                 "-b", "N_CANDIDATES=20"])
    assert result.exit_code == 0, result.output
    (exp_dir,) = (tmp_path / "runs").glob("exp+*")  # bindings other than SEED name another configuration
    run_dir = exp_dir / "ml-1m" / "seed4"
    metrics = json.loads((run_dir / "metrics.json").read_text())
    names = [r["ranker"] for r in metrics["splits"]["test"]["rows"]]
    assert names == ["Random", "Popularity", "random floor"]
    assert "k_core = 2" in (run_dir / "operative_config.gin").read_text().replace("K_CORE = 2", "k_core = 2")
    with np.load(run_dir / "Popularity" / "test_per_sample.npz") as saved:  # each sample's user beside its values
        assert len(saved["_user"]) == len(saved["NDCG@10"]) and len(np.unique(saved["_user"])) > 1
    assert "random floor" in result.output
    scoring = [line for line in result.output.splitlines() if "Popularity: scoring test:" in line]
    assert scoring and "ETA" in scoring[-1]  # not a terminal: a log line instead of the (invisible) bar


def test_data_stats_table(tmp_path):
    folder = write_ml1m(tmp_path / "ml", n_users=20, n_items=120, per_user=15)
    result = runner.invoke(app, ["data", "stats", "datasets/ml-1m.gin", "-b", f"DATA_DIR='{folder}'", "-b", "K_CORE=2",
                                 "-b", "N_CANDIDATES=20"])
    assert result.exit_code == 0, result.output
    assert "20 / 120" in result.output.replace(",", "") or "20 /" in result.output
    assert "300" in result.output  # 20 users x 15 interactions before filtering


def test_an_auto_dtype_fingerprints_as_what_it_resolves_to_on_this_cpu(tmp_path, monkeypatch):
    import ur4rec.device
    from ur4rec.config import config_fingerprint

    def fingerprint_with(bf16: bool, gin_text: str) -> str:
        monkeypatch.setattr(ur4rec.device, "native_bf16", lambda: bf16)
        load([write(tmp_path, gin_text)])
        return config_fingerprint()

    auto = "include 'base.gin'\nLLM_DTYPE = 'auto'\n"
    assert fingerprint_with(True, auto) != fingerprint_with(False, auto)  # bf16 texts on one CPU, fp32 on the other
    fixed = "include 'base.gin'\nLLM_DTYPE = 'float32'\n"
    assert fingerprint_with(True, fixed) == fingerprint_with(False, fixed)
