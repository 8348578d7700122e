"""What ``ur4rec bench`` and ``ur4rec report`` do; cli.py only parses options and calls these.

    bench TABLE : plan the table's runs -> run the missing ones (resumable) -> write the table
    report DIR  : plan the same runs under DIR -> write the table from what is there (runs nothing)
    bench speed : run the timing scripts of benchmarks/
"""
from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.table import Table

from ur4rec.bench import render, results, runner, speed
from ur4rec.bench.plan import Quick, Run, parse_seeds, plan, seeds_in, split_list, stale as stale_runs
from ur4rec.bench.tables import TABLES, get_table
from ur4rec.errors import UserError


def bench_table(table: str, console: Console, command_line: str, datasets: str | None = None,
                backbones: str | None = None, rows: str | None = None, seeds: str = "0",
                quick: Quick = Quick(), dry_run: bool = False, out: str | None = None,
                experiments: str | None = None, jobs: int = 1) -> int:
    """Run every missing run of ``table`` (``jobs`` at a time) and write the table; the exit code (1 if a run
    failed)."""
    spec = get_table(table)
    runs = plan(spec, split_list(datasets), split_list(backbones), split_list(rows), parse_seeds(seeds),
                quick, Path(experiments) if experiments else None)
    if dry_run:
        console.print(runs_table(runs, f"{spec.title}: {len(runner.unique(runs))} runs (dry run: nothing is run)"))
        return 0
    try:
        outcome = runner.execute(runs, console, jobs=jobs)
    except KeyboardInterrupt:
        console.log("[yellow]interrupted: the runs in progress were stopped; the same command resumes them "
                    "(finished runs are skipped)[/yellow]")
        raise
    console.log(f"{len(outcome.ran)} run, {len(outcome.skipped)} already finished, {len(outcome.failed)} failed, "
                f"{len(outcome.unrunnable)} without a usable gin file")
    for run in outcome.unrunnable:
        console.log(f"[yellow]not run: {runner.describe(run)}: {run.status()}{': ' + run.error if run.error else ''}[/yellow]")
    runs_dir = next((r.runs_dir for r in runs if r.runs_dir is not None), Path("runs"))
    write_table(spec, runs, None, Path(out) if out else runs_dir / "reports",  # stale left: a rerun that failed
                stem(spec.name, datasets, quick), command_line, console, exclude=stale_runs(runs), caveat=quick.caveat)
    return 1 if outcome.failed else 0


def report(runs_dir: str, console: Console, command_line: str, tables: list[str] | None = None,
           datasets: str | None = None, backbones: str | None = None, seeds: str | None = None,
           quick: Quick = Quick(), out: str | None = None, experiments: str | None = None) -> int:
    """Write each table from the finished runs under ``runs_dir``; runs nothing. 1 if nothing was found."""
    root = Path(runs_dir)
    if not root.is_dir():
        raise UserError(f"runs folder {runs_dir!r} does not exist")
    seed_list = parse_seeds(seeds) if seeds else seeds_in(root)
    written = 0
    for name in tables or list(TABLES):
        spec = get_table(name)
        chosen = split_list(backbones)
        if chosen:
            chosen = [g for g in chosen if g in spec.groups] or None
            if chosen is None:
                continue
        runs = plan(spec, split_list(datasets), chosen, None, seed_list, quick,
                    Path(experiments) if experiments else None)
        stale = stale_runs(runs, root)
        for run in stale:
            console.log(f"[yellow]{spec.name}: left out {run.folder_in(root)}: its metrics.json is from another config "
                        "of that gin file (`ur4rec bench` reruns it)[/yellow]")
        left_out = {id(r) for r in stale}
        finished = {(r.dataset, r.group) for r in runs if r.relative is not None and id(r) not in left_out
                    and results.finished_folder(r, root) is not None}
        if not finished:
            console.log(f"{spec.name}: no finished runs under {root}")
            continue
        runs = [r for r in runs if (r.dataset, r.group) in finished]  # backbones never run are left out
        write_table(spec, runs, root, Path(out) if out else root / "reports",
                    stem(spec.name, datasets, quick), command_line, console, exclude=stale, caveat=quick.caveat)
        written += 1
    return 0 if written else 1


def bench_speed(console: Console, only: str | None = None, dry_run: bool = False, out: str | None = None) -> int:
    benches = speed.chosen(split_list(only))
    table = Table(title="ur4rec bench speed", header_style="bold")
    for col in ("name", "script", "compares", "command"):
        table.add_column(col)
    for b in benches:
        table.add_row(b.name, b.script if b.path.is_file() else f"{b.script} (missing)", b.compares,
                      " ".join(speed.command(b, Path(out) if out else None)[1:]))
    console.print(table)
    if dry_run:
        return 0
    failed = []
    for b in benches:
        if not b.path.is_file():
            console.log(f"[yellow]{b.name}: {b.script} is not in this checkout; skipped[/yellow]")
            continue
        console.rule(b.name)
        if speed.run(b, Path(out) if out else None) != 0:
            failed.append(b.name)
    if failed:
        console.log(f"[red]failed: {', '.join(failed)}[/red]")
    return 1 if failed else 0


# ---- shared ---------------------------------------------------------------------------------------
def stem(table: str, datasets: str | None, quick: Quick = Quick()) -> str:
    """Output file name: table2, table2_ml-100k, table2_ml-100k_first50users_max2epochs, ..."""
    return "_".join([table] + (["+".join(split_list(datasets))] if datasets else []) + quick.suffix)


def write_table(spec, runs: list[Run], runs_dir: Path | None, out_dir: Path, name: str, command_line: str,
                console: Console, exclude: list[Run] = (), caveat: str | None = None) -> list[Path]:
    """Collect the runs' results (``exclude``: planned, shown as missing), print the table, write Markdown + CSV
    (+ PNG for a plot)."""
    cells = results.collect(spec, runs, runs_dir, exclude)
    for table in render.rich_tables(spec, cells):
        console.print(table)
    out_dir.mkdir(parents=True, exist_ok=True)
    header = render.header_lines(command_line) + ([f"- **{caveat}**"] if caveat else [])
    if caveat:
        console.log(f"[yellow]{caveat}[/yellow]")
    paths = [out_dir / f"{name}.md", out_dir / f"{name}.csv"]
    if spec.plot:
        png = out_dir / f"{name}.png"
        if render.plot(spec, cells, png):
            paths.append(png)
            header.append(f"- plot: {png.name}")
        else:
            header.append("- plot: not drawn (matplotlib is not installed: `pip install matplotlib`); "
                          f"the numbers are in {name}.csv")
    paths[0].write_text(render.markdown(spec, cells, header))
    paths[1].write_text(render.csv_text(spec, cells))
    console.log("wrote " + ", ".join(str(p) for p in paths))
    return paths


def runs_table(runs: list[Run], title: str) -> Table:
    table = Table(title=title, header_style="bold")
    for col in ("status", "gin file", "bindings", "run folder"):
        table.add_column(col, overflow="fold")
    for run in runner.unique(runs):
        status = run.status()
        bindings = " ".join(f"-b {b!r}" if " " in b else f"-b {b}" for b in run.all_bindings)
        folder = str(run.run_dir) if run.run_dir is not None else (run.error or "")
        table.add_row(status, runner.describe(run).rsplit(" seed ", 1)[0], bindings, folder,
                      style={"done": "green", "no gin file": "dim", "config error": "red"}.get(status))
    return table
