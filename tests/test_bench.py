"""`ur4rec bench` / `ur4rec report`: runs are planned from gin rows, finished ones skipped, killed ones rerun,
changed configs rerun, the same table rebuilt from the run folders, --dry-run runs nothing."""
import sys
from pathlib import Path

import numpy as np
import pytest
from rich.console import Console
from typer.testing import CliRunner

import ur4rec.components  # noqa: F401
from conftest import write_ml1m
from ur4rec.bench import commands, render, runner
from ur4rec.bench.plan import RECORD, Quick, Run, available_datasets, parse_seeds, plan, resolve
from ur4rec.bench.plan import _value as value
from ur4rec.bench.results import CellGroup, RunResult
from ur4rec.bench.subset import FirstUsers
from ur4rec.bench.tables import get_table
from ur4rec.data.movielens import MovieLens1M
from ur4rec.data.pipeline import prepare_data
from ur4rec.data.protocol import ChronologicalProtocol
from ur4rec.errors import ConfigError
from ur4rec.evaluation import paper_numbers
from ur4rec.paths import GIN_DIR

QUIET = Console(quiet=True)


@pytest.fixture
def experiments(tmp_path, monkeypatch):
    """A Table 2 folder for dataset 'tiny', backbone dlcm, with only a base and a kar row (no training:
    Random and Popularity rankers), runs written under tmp_path/runs."""
    monkeypatch.chdir(tmp_path)  # RUNS_DIR = 'runs' is relative to the current directory
    data = write_ml1m(tmp_path / "ml1m", n_users=20, n_items=60, per_user=12)
    root = tmp_path / "experiments"
    folder = root / "table2" / "tiny" / "dlcm"
    folder.mkdir(parents=True)
    (root / "common.gin").write_text(
        f"include 'datasets/ml-1m.gin'\nDATA_DIR = '{data}'\nK_CORE = 2\nN_CANDIDATES = 15\n")
    (folder / "base.gin").write_text(f"include '{root / 'common.gin'}'\n"
                                     "experiment.rankers = [@rankers.Popularity(), @rankers.Random()]\n")
    (folder / "kar.gin").write_text(f"include '{root / 'common.gin'}'\nexperiment.baseline = 'Random'\n"
                                    "experiment.rankers = [@rankers.Random(), @rankers.Popularity()]\n")
    return root


def tiny_plan(experiments, **kw):
    return plan(get_table("table2"), ["tiny"], ["dlcm"], None, [0], experiments=experiments, **kw)


def dies_before_writing(run: Run) -> list[str]:
    """A run process that exits like a killed one: no metrics.json."""
    return [sys.executable, "-c", "import sys; sys.exit(137)"]


def test_plan_names_gin_files_folders_and_missing_rows(experiments):
    runs = {r.row: r for r in tiny_plan(experiments)}
    assert list(runs) == ["base", "bert", "llm", "kar", "ur4rec"]
    assert runs["base"].status() == "todo" and runs["bert"].status() == "no gin file"
    assert runs["base"].run_dir == Path("runs") / "base" / "ml-1m" / "seed0"  # experiment_name of a file outside gin/
    assert runs["base"].command()[-2:] == ["-b", "SEED=0"]
    limited = {r.row: r for r in tiny_plan(experiments, quick=Quick(users=5))}["base"]
    untrained = {r.row: r for r in tiny_plan(experiments, quick=Quick(epochs=1))}["base"]
    assert not untrained.error and untrained.bindings == ()  # nothing trains: nothing to cap, not an error
    assert limited.run_dir.parts[1].startswith("base+")  # another config: another folder
    assert limited.config != runs["base"].config
    assert parse_seeds("0-2,5") == [0, 1, 2, 5]
    with pytest.raises(ConfigError):
        parse_seeds("one")
    with pytest.raises(ConfigError, match="no row"):
        plan(get_table("table2"), ["tiny"], ["dlcm"], ["nope"], [0], experiments=experiments)


def test_max_epochs_caps_every_training_phase_of_a_real_row():
    import gin

    from ur4rec.config import load

    gin_file = GIN_DIR / "experiments" / "table2" / "ml-100k" / "prm" / "ur4rec.gin"
    full = resolve(Run("table2", "ml-100k", "prm", "ur4rec", 0, gin_file))
    quick = resolve(Run("table2", "ml-100k", "prm", "ur4rec", 0, gin_file), Quick(epochs=2))
    assert not full.error and not quick.error
    assert quick.config != full.config and quick.relative != full.relative  # never counts as the full run
    load([gin_file], quick.all_bindings)
    for phase in ("trainers.Supervised", "pretrainers.Retriever"):  # Base (and joint: no epochs of its own), pre-training
        assert value(gin.query_parameter(f"{phase}.epochs")) == 2, phase
    with pytest.raises(ValueError, match="no value bound"):
        gin.query_parameter("joint/trainers.Supervised.epochs")
    demo = resolve(Run("quickstart", "ml-100k", "", "demo", 0, GIN_DIR / "experiments" / "quickstart.gin"), Quick(epochs=1))
    assert "joint/trainers.Supervised.epochs = 1" in demo.bindings  # its own joint bound (2) is capped too
    assert commands.stem("table2", "ml-100k", Quick(50, 2)) == "table2_ml-100k_first50users_max2epochs"
    assert "not a result" in Quick(epochs=2).caveat and Quick().caveat is None
    with pytest.raises(ConfigError, match="--max-epochs"):
        Quick(epochs=0)


def test_dry_run_runs_nothing(experiments):
    import cli

    result = CliRunner().invoke(cli.app, ["bench", "table2", "--dry-run", "-d", "tiny", "--backbones", "dlcm",
                                          "--experiments", str(experiments)])
    assert result.exit_code == 0, result.output
    assert "base.gin" in result.output and "no gin file" in result.output and "dry run" in result.output
    assert not Path("runs").exists()


def test_bench_skips_finished_runs_reruns_killed_and_changed_ones_and_report_rebuilds_the_table(experiments, tmp_path):
    runs = tiny_plan(experiments)
    # a run killed before it finished leaves no metrics.json and no bench.json: nothing counts as done
    killed = runner.execute(runs, QUIET, command=dies_before_writing)
    assert len(killed.failed) == 2 and not killed.ran and len(killed.unrunnable) == 3
    assert all(r.status() == "todo" and not (r.run_dir / RECORD).exists() for r in runs if r.row in ("base", "kar"))

    code = commands.bench_table("table2", QUIET, "ur4rec bench table2", datasets="tiny", backbones="dlcm",
                                out=str(tmp_path / "bench-out"), experiments=str(experiments))
    assert code == 0
    runs = tiny_plan(experiments)
    assert [r.status() for r in runs if r.row in ("base", "kar")] == ["done", "done"]
    stamp = (runs[0].run_dir / "metrics.json").stat().st_mtime_ns

    again = runner.execute(runs, QUIET, command=dies_before_writing)  # would fail if it ran anything
    assert len(again.skipped) == 2 and not again.ran and not again.failed

    kar = experiments / "table2" / "tiny" / "dlcm" / "kar.gin"
    kar.write_text(kar.read_text() + "rankers.Popularity.name = 'Pop2'\n")  # a changed config reruns
    changed = runner.execute(tiny_plan(experiments), QUIET)
    assert [runner.describe(r) for r in changed.ran] == [runner.describe(r) for r in runs if r.row == "kar"]
    assert (runs[0].run_dir / "metrics.json").stat().st_mtime_ns == stamp  # base untouched

    md = (tmp_path / "bench-out" / "table2_tiny.md").read_text()
    assert "| DLCM | Base |" in md and "| KAR |" in md and "| +BERT | — | — |" in md
    assert "p vs Base" in md and "random floor" in md and "Popularity (reference)" in md

    out = tmp_path / "report-out"
    assert commands.report("runs", QUIET, "ur4rec report runs", tables=["table2"], datasets="tiny",
                           out=str(out), experiments=str(experiments)) == 0
    rebuilt = runner.execute(tiny_plan(experiments), QUIET, command=dies_before_writing)
    assert not rebuilt.ran and not rebuilt.failed  # report ran nothing; everything is done
    code = commands.bench_table("table2", QUIET, "ur4rec bench table2", datasets="tiny", backbones="dlcm",
                                out=str(tmp_path / "bench-out"), experiments=str(experiments))
    assert code == 0
    bench_csv = (tmp_path / "bench-out" / "table2_tiny.csv").read_text()
    assert (out / "table2_tiny.csv").read_text() == bench_csv  # the same table from the run folders
    body = lambda text: text.split("\n## ", 1)[1]  # noqa: E731  everything after the command/commit header
    assert body((out / "table2_tiny.md").read_text()) == body((tmp_path / "bench-out" / "table2_tiny.md").read_text())
    kar_line = next(line for line in bench_csv.splitlines() if ",kar," in line and ",NDCG@5," in line)
    assert float(kar_line.split(",")[6]) > 0  # our number is there


def test_first_users_keeps_only_their_interactions(tmp_path):
    folder = write_ml1m(tmp_path / "ml", n_users=30, n_items=80, per_user=15)
    full = prepare_data(MovieLens1M(str(folder)), ChronologicalProtocol(k_core=2, n_candidates=15))
    cut = prepare_data(FirstUsers(MovieLens1M(str(folder)), n_users=8), ChronologicalProtocol(k_core=2, n_candidates=15))
    assert cut.n_users == 8 < full.n_users and cut.name == full.name and cut.key != full.key
    with pytest.raises(ConfigError, match="n_users"):
        FirstUsers(MovieLens1M(str(folder)), n_users=0)


def test_paper_numbers_are_the_papers():
    assert str(paper_numbers.lookup("table2", "ml-1m", "dlcm", "UR4Rec", "NDCG@5")) == "0.631*"
    assert paper_numbers.lookup("table6", "steam", "gru4rec", "KAR", "MAP@20").value == 0.341
    assert paper_numbers.lookup("table3", "amazon-book", "prm", "w/o Retr", "NDCG@10").value == 0.250
    assert paper_numbers.lookup("table5", "ml-1m", "", "Recformer", "NDCG@10").value == 0.624
    assert paper_numbers.lookup("table2", "ml-100k", "dlcm", "Base", "MAP@1") is None
    assert len(paper_numbers.NUMBERS) == 2 * 25 * 12 + 3 * 12 + 3 * 8 * 4


def test_fig4_plot_and_csv_from_results(tmp_path):
    pytest.importorskip("matplotlib")
    spec = get_table("fig4")
    payload = {"protocol": {"n_candidates": 100}, "dataset_stats": {"users": 3, "items": 4, "interactions": 5},
               "splits": {"test": {"caption": "test"}}}
    cells = {}
    for group in ("prm", "gru4rec"):
        for i, row in enumerate(spec.rows):
            run = Run("fig4", "ml-100k", group, row.key, 0, Path(f"{row.key}.gin"), relative=Path(row.key))
            values = {"NDCG@10": np.full(20, 0.1 * i), "MAP@10": np.zeros(20)}
            cells[("ml-100k", group, row.key)] = CellGroup("ml-100k", group, row.key,
                                                           [RunResult(run, "m", values, "", None, payload)])
    assert render.plot(spec, cells, tmp_path / "fig4.png")
    assert (tmp_path / "fig4.png").stat().st_size > 1000
    md = render.markdown(spec, cells, [])
    assert "| K=2 | 0.000 | 0.000 |" in md and "PRM N@10" in md


def test_bench_speed_lists_the_scripts():
    import cli

    result = CliRunner().invoke(cli.app, ["bench", "speed", "--dry-run"])
    assert result.exit_code == 0, result.output
    for name in ("prepare", "generation", "generation_engines", "encoder", "store", "backbones", "retriever"):
        assert name in result.output


def test_a_run_made_by_ur4rec_run_counts_as_done_until_its_config_changes(experiments):
    import cli

    base = next(r for r in tiny_plan(experiments) if r.row == "base")
    result = CliRunner().invoke(cli.app, ["run", str(base.gin_file), "-b", "SEED=0"])
    assert result.exit_code == 0, result.output
    assert not (base.run_dir / RECORD).exists()  # not made by the bench
    assert next(r for r in tiny_plan(experiments) if r.row == "base").status() == "done"
    skipped = runner.execute(tiny_plan(experiments), QUIET, command=dies_before_writing)
    assert base.run_dir in [r.run_dir for r in skipped.skipped]
    base.gin_file.write_text(base.gin_file.read_text() + "rankers.Popularity.name = 'Pop2'\n")
    assert next(r for r in tiny_plan(experiments) if r.row == "base").status() == "changed"


def test_a_finished_run_without_a_fingerprint_is_rechecked_not_called_changed(experiments):
    import json

    import cli

    base = next(r for r in tiny_plan(experiments) if r.row == "base")
    assert CliRunner().invoke(cli.app, ["run", str(base.gin_file), "-b", "SEED=0"]).exit_code == 0
    metrics = base.run_dir / "metrics.json"
    old = json.loads(metrics.read_text())
    del old["config"]  # as `ur4rec run` wrote it before it stamped fingerprints
    metrics.write_text(json.dumps(old))
    assert next(r for r in tiny_plan(experiments) if r.row == "base").status() == "recheck"
    rerun = runner.execute(tiny_plan(experiments), QUIET, command=dies_before_writing)
    assert base.run_dir in [r.run_dir for r, _ in rerun.failed]  # it was run again (the stand-in process fails)


def test_table3_full_row_is_the_table2_ur4rec_run_so_it_trains_once():
    t3 = {r.row: r for r in plan(get_table("table3"), ["ml-100k"], ["prm"], None, [0])}
    t2 = {r.row: r for r in plan(get_table("table2"), ["ml-100k"], ["prm"], None, [0])}
    assert t3["full"].run_dir == t2["ur4rec"].run_dir and t3["full"].config == t2["ur4rec"].config
    assert t3["wo-pim"].run_dir.parts[1] == "table3"
    experiments = GIN_DIR / "experiments"  # Table 3's own folder lists its datasets, not Table 2's (which has steam)
    assert available_datasets(get_table("table3"), experiments) == sorted(p.name for p in (experiments / "table3").iterdir())


# ---- --jobs: runs side by side, UR4Rec after its Base, one knowledge preparation at a time -------------------
EVENTS_SCRIPT = """
import json, pathlib, sys, time
events, name, folder = pathlib.Path(sys.argv[1]), sys.argv[2], sys.argv[3]
with events.open('a') as f:
    f.write(f'start {name} {time.time()}\\n')
time.sleep(0.6)
if folder:
    pathlib.Path(folder).mkdir(parents=True, exist_ok=True)
    (pathlib.Path(folder) / 'metrics.json').write_text(json.dumps({'x': 1}))
with events.open('a') as f:
    f.write(f'end {name} {time.time()}\\n')
"""


def hand_run(tmp_path, row, knowledge="", from_base=False):
    gin_file = tmp_path / f"{row}.gin"
    gin_file.write_text("# a stand-in: the commands below never read it\n")
    return Run("table2", "tiny", "dlcm", row, 0, gin_file, relative=Path(row) / "seed0", runs_dir=tmp_path / "runs",
               config="c0", knowledge=knowledge, from_base=from_base)


def event_times(path):
    times = {}
    for line in path.read_text().splitlines():
        kind, name, t = line.split()
        times[(kind, name)] = float(t)
    return times


def test_jobs_run_side_by_side_ur4rec_after_its_base_and_knowledge_prepared_once(tmp_path):
    events = tmp_path / "events.txt"
    runs = [hand_run(tmp_path, "base"), hand_run(tmp_path, "llm", knowledge="k1"),
            hand_run(tmp_path, "kar", knowledge="k1"), hand_run(tmp_path, "ur4rec", knowledge="k2", from_base=True)]
    command = lambda run: [sys.executable, "-c", EVENTS_SCRIPT, str(events), run.row, str(run.run_dir)]  # noqa: E731
    prepare = lambda run: [sys.executable, "-c", EVENTS_SCRIPT, str(events), "prep-" + run.knowledge, ""]  # noqa: E731
    outcome = runner.execute(runs, QUIET, command=command, jobs=2, prepare=prepare)
    assert sorted(r.row for r in outcome.ran) == ["base", "kar", "llm", "ur4rec"] and not outcome.failed
    assert all(r.status() == "done" for r in runs)  # bench.json records the fingerprint
    t = event_times(events)
    assert sum(kind == "start" and name.startswith("prep") for kind, name in t) == 2  # one per knowledge setting
    assert t[("start", "base")] < t[("end", "prep-k1")]  # base needs no knowledge: it runs beside the preparation
    assert t[("start", "llm")] >= t[("end", "prep-k1")] and t[("start", "kar")] >= t[("end", "prep-k1")]
    preps = sorted([(t[("start", f"prep-{k}")], t[("end", f"prep-{k}")]) for k in ("k1", "k2")])
    assert preps[1][0] >= preps[0][1]  # preparations never overlap: they may generate the same texts
    assert t[("start", "ur4rec")] >= t[("end", "base")]  # starts from Base's checkpoint
    assert t[("start", "ur4rec")] >= t[("end", "prep-k2")]


def test_one_job_runs_in_plan_order_without_preparations(tmp_path):
    events = tmp_path / "events.txt"
    runs = [hand_run(tmp_path, "llm", knowledge="k1"), hand_run(tmp_path, "base")]
    command = lambda run: [sys.executable, "-c", EVENTS_SCRIPT, str(events), run.row, str(run.run_dir)]  # noqa: E731
    outcome = runner.execute(runs, QUIET, command=command, prepare=lambda run: pytest.fail("no preparation"))
    assert [r.row for r in outcome.ran] == ["llm", "base"]
    t = event_times(events)
    assert t[("start", "base")] >= t[("end", "llm")]


def test_parallel_children_share_the_cores(monkeypatch):
    import os

    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    assert runner._child_env(2)["OMP_NUM_THREADS"] == str(max(1, (os.cpu_count() or 1) // 2))
    assert "OMP_NUM_THREADS" not in runner._child_env(1)


def test_plan_marks_knowledge_and_base_dependencies_from_the_gin_config():
    runs = {r.row: r for r in plan(get_table("table2"), ["ml-100k"], ["prm"], None, [0])}
    assert runs["base"].knowledge == "" and runs["bert"].knowledge  # +BERT encodes metadata text
    assert runs["llm"].knowledge and runs["ur4rec"].from_base and not runs["llm"].from_base
    longer = plan(get_table("table2"), ["ml-100k"], ["prm"], ["llm"], [1])[0]
    assert longer.knowledge == runs["llm"].knowledge  # the seed does not change the texts
    from ur4rec.bench.plan import knowledge_key

    text = "knowledge_source.source = %KNOWLEDGE\nLLM_USER_MAX_NEW_TOKENS = 128\nLR = 0.001\n"
    assert knowledge_key(text, ["SEED=1"]) == knowledge_key(text.replace("0.001", "0.01"), ["SEED=2"])
    assert knowledge_key(text, []) != knowledge_key(text.replace("128", "32"), [])
    assert knowledge_key("LR = 0.001\n", []) == ""


SLEEPER = "import os, sys, time\nopen(sys.argv[1], 'a').write(f'{os.getpid()}\\n')\ntime.sleep(60)\n"
BENCH = """import sys
from pathlib import Path
sys.path.insert(0, sys.argv[1])
from rich.console import Console
from test_bench import hand_run
from ur4rec.bench import runner
tmp, sleeper, pids = Path(sys.argv[2]), sys.argv[3], sys.argv[4]
command = lambda run: [sys.executable, sleeper, pids]
runner.execute([hand_run(tmp, 'base'), hand_run(tmp, 'llm')], Console(quiet=True), command=command, jobs=2)
"""


def test_sigterm_to_the_bench_stops_its_runs(tmp_path):
    import os
    import signal
    import subprocess
    import time

    pids, sleeper, bench_py = tmp_path / "pids", tmp_path / "sleeper.py", tmp_path / "bench.py"
    sleeper.write_text(SLEEPER)
    bench_py.write_text(BENCH)
    tests = Path(__file__).parent
    bench = subprocess.Popen([sys.executable, str(bench_py), str(tests), str(tmp_path), str(sleeper), str(pids)],
                             cwd=tests.parent)
    deadline = time.time() + 60
    while time.time() < deadline and (not pids.exists() or len(pids.read_text().split()) < 2):
        time.sleep(0.1)
    children = [int(p) for p in pids.read_text().split()]
    assert len(children) == 2  # both runs started side by side
    bench.send_signal(signal.SIGTERM)
    assert bench.wait(timeout=60) != 0
    for pid in children:  # stopped by the bench: gone, not orphaned
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.1)
        else:
            pytest.fail(f"run process {pid} outlived the bench")


# ---- the headline table: spread over seeds, tests against +LLM and the control, how each run stopped ---------
def write_finished_run(folder: Path, model: str, ndcg: np.ndarray, stopped_by: str, best_epoch: int, epochs: int,
                       users: np.ndarray | None = None):
    """A run folder as `ur4rec run` leaves it, reduced to what the report reads (``users``: as runs record them
    since the test over users; None: a folder from before)."""
    import json

    for name in (model, "Popularity"):
        (folder / name).mkdir(parents=True)
    rows = [{"ranker": "Popularity"}, {"ranker": model, "p vs Popularity": 0.0}, {"ranker": "random floor"}]
    payload = {"protocol": {"n_candidates": 100}, "dataset_stats": {"users": 3, "items": 4, "interactions": 5},
               "splits": {"test": {"caption": "test split", "rows": rows}}, "commit": "abc", "command": "ur4rec run x"}
    (folder / "metrics.json").write_text(json.dumps(payload))
    for name, values in ((model, ndcg), ("Popularity", np.zeros_like(ndcg))):
        extra = {} if users is None else {"_user": users}
        np.savez(folder / name / "test_per_sample.npz", **{"NDCG@10": values, "MAP@10": values / 2}, **extra)
    (folder / model / "training.json").write_text(json.dumps(
        {"stopped_by": stopped_by, "best_epoch": best_epoch, "epoch": epochs, "best_score": 0.1 * best_epoch}))


def test_headline_table_shows_spread_tests_against_llm_and_control_and_how_runs_stopped(tmp_path):
    from ur4rec.bench import results
    from ur4rec.evaluation.significance import paired_t_test

    spec = get_table("headline")
    assert [r.key for r in spec.rows] == ["base", "llm", "ur4rec", "continued", "decay"]
    assert spec.versus == ("llm", "continued", "decay")
    rng = np.random.default_rng(0)
    shift = {"base": 0.0, "llm": 0.01, "ur4rec": 0.05, "continued": 0.02, "decay": 0.03}
    runs, values = [], {}
    for row in spec.rows:
        for seed in (0, 1, 2):
            values[row.key, seed] = np.clip(rng.random(200) * 0.5 + shift[row.key] + 0.01 * seed, 0, 1)
            run = Run("headline", "ml-100k", "prm", row.key, seed, Path("x.gin"), relative=Path(row.key) / f"seed{seed}")
            stopped = "epoch cap" if (row.key, seed) == ("llm", 2) else "early stopping"
            write_finished_run(tmp_path / run.relative, "PRM", values[row.key, seed], stopped, 3 + seed, 5 + seed)
            runs.append(run)
    cells = results.collect(spec, runs, tmp_path)
    ur = cells[("ml-100k", "prm", "ur4rec")]
    means = [values["ur4rec", s].mean() for s in (0, 1, 2)]
    assert ur.sd("NDCG@10") == pytest.approx(np.std(means, ddof=1))
    averaged = lambda key: np.mean([values[key, s] for s in (0, 1, 2)], axis=0)  # noqa: E731
    assert ur.p_versus["llm"][0] == pytest.approx(paired_t_test(averaged("ur4rec"), averaged("llm")))
    assert ur.p_versus["continued"][1] == pytest.approx(
        paired_t_test(np.array(means), np.array([values["continued", s].mean() for s in (0, 1, 2)])))
    assert "llm" not in cells[("ml-100k", "prm", "llm")].p_versus  # no row is tested against itself
    md = render.markdown(spec, cells, [])
    ur_line = next(line for line in md.splitlines() if "| UR4Rec |" in line)
    assert f"{np.mean(means):.4f} ± {np.std(means, ddof=1):.4f}" in ur_line
    assert "3 of 3 (best epoch 4/5, 5/6, 6/7)" in ur_line
    assert f"| {0.4:.4f} ± {0.1:.4f} |" in ur_line  # validation best scores 0.3, 0.4, 0.5
    assert "2 of 3" in next(line for line in md.splitlines() if "| +LLM |" in line)  # the epoch-capped seed shows
    assert "p vs +LLM" in md and "p vs Base continued (control)" in md
    per_seed = md[md.index("Per seed, PRM"):]
    seed_line = next(line for line in per_seed.splitlines() if line.startswith("| UR4Rec |"))
    assert seed_line == "| UR4Rec | " + " | ".join(f"{m:.4f} / {0.3 + 0.1 * s:.4f}" for s, m in enumerate(means)) + " |"
    one_seed = results.collect(spec, [r for r in runs if r.seed == 0], tmp_path)
    assert one_seed[("ml-100k", "prm", "ur4rec")].sd("NDCG@10") is None  # one seed: no spread, no seed test
    assert one_seed[("ml-100k", "prm", "ur4rec")].p_versus["llm"][1] is None
    no_decay = results.collect(spec, [r for r in runs if r.row != "decay"], tmp_path)  # a control not run yet
    assert "lr decay" not in render.markdown(spec, no_decay, [])  # neither its row nor an empty p column
    assert "p vs Base, lr decay on plateau (control)" in md


def test_report_leaves_out_a_run_whose_results_are_from_another_config(experiments, tmp_path):
    assert commands.bench_table("table2", QUIET, "ur4rec bench table2", datasets="tiny", backbones="dlcm",
                                out=str(tmp_path / "bench-out"), experiments=str(experiments)) == 0
    kar = experiments / "table2" / "tiny" / "dlcm" / "kar.gin"
    kar.write_text(kar.read_text() + "rankers.Popularity.name = 'Pop2'\n")  # its finished run is now stale
    out = tmp_path / "report-out"
    assert commands.report("runs", QUIET, "ur4rec report runs", tables=["table2"], datasets="tiny", out=str(out),
                           experiments=str(experiments)) == 0
    md = (out / "table2_tiny.md").read_text()
    assert "| KAR | — | — | — | — |" in md  # not the old config's numbers
    assert "| DLCM | Base | 0." in md


def test_terminal_table_keeps_the_row_labels_whole_on_a_narrow_console(tmp_path):
    import io

    from rich.console import Console as RichConsole

    from ur4rec.bench import results

    spec = get_table("headline")
    runs = []
    for row in spec.rows:
        run = Run("headline", "ml-100k", "gru4rec", row.key, 0, Path("x.gin"), relative=Path(row.key) / "seed0")
        write_finished_run(tmp_path / run.relative, "GRU4Rec", np.linspace(0, 1, 50), "early stopping", 3, 5)
        runs.append(run)
    out = io.StringIO()
    console = RichConsole(file=out, width=110, force_terminal=False)
    for table in render.rich_tables(spec, results.collect(spec, runs, tmp_path)):
        console.print(table)
    text = out.getvalue()
    assert "GRU4Rec" in text and "Base continued (control)" in text and "Base, lr decay on plateau (control)" in text
    assert "…" not in text  # numbers wrap rather than lose digits


def test_a_test_over_users_joins_the_tables_where_runs_recorded_the_users(tmp_path):
    import dataclasses

    from ur4rec.bench import results
    from ur4rec.evaluation.significance import paired_t_test_over_users

    spec = get_table("headline")
    rng = np.random.default_rng(3)
    users = np.repeat(np.arange(20), 10)
    values = {key: np.clip(rng.random(200) * 0.5 + shift, 0, 1) for key, shift in (("base", 0.0), ("llm", 0.02))}
    runs = []
    for key in values:
        for seed in (0, 1):
            run = Run("headline", "ml-100k", "prm", key, seed, Path("x.gin"), relative=Path(key) / f"seed{seed}")
            write_finished_run(tmp_path / run.relative, "PRM", values[key] + 0.01 * seed, "early stopping", 2, 4, users)
            runs.append(run)
    llm = results.collect(spec, runs, tmp_path)[("ml-100k", "prm", "llm")]
    averaged = lambda key: values[key] + 0.005  # noqa: E731  (seeds 0 and 1 averaged)
    assert llm.p_base.users == pytest.approx(paired_t_test_over_users(averaged("llm"), averaged("base"), users))
    line = next(row for row in render.markdown(spec, results.collect(spec, runs, tmp_path), []).splitlines()
                if "| +LLM |" in row)
    assert " / users " in line and line.index(" / users ") < line.index(" / seeds ")
    old = tmp_path / "old"  # Base from before users were recorded: the test over users is left out, not guessed
    mixed = []
    for run in runs:
        moved = dataclasses.replace(run, relative=Path("old") / run.relative) if run.row == "base" else run
        if run.row == "base":
            write_finished_run(tmp_path / moved.relative, "PRM", values["base"] + 0.01 * run.seed, "early stopping", 2, 4)
        mixed.append(moved)
    assert old.is_dir()
    cell = results.collect(spec, mixed, tmp_path)[("ml-100k", "prm", "llm")]
    assert cell.p_base.users is None and cell.p_base.samples == pytest.approx(llm.p_base.samples)
