"""ur4rec command line: a thin typer app; every command takes gin files and -b bindings, nothing else.

Errors a user can fix (bad gin, bad data) print one paragraph and exit with code 2; ``--debug``
shows the traceback instead.
"""
from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import Callable, List, Optional

import typer
from rich.console import Console
from rich.table import Table

app = typer.Typer(help="UR4Rec: LLM-augmented reranking through user preference retrieval.", no_args_is_help=True,
                  pretty_exceptions_enable=False, add_completion=False)
data_app = typer.Typer(help="Prepare datasets and show their statistics.", no_args_is_help=True)
app.add_typer(data_app, name="data")
inspect_app = typer.Typer(help="Look inside generated knowledge: texts, vectors, nearest items.", no_args_is_help=True)
app.add_typer(inspect_app, name="inspect")
# Piped output (CI logs, tee) is not wrapped at 80 columns, so result tables stay readable.
console = Console(width=None if sys.stdout.isatty() else 150)
if not sys.stdout.isatty() and hasattr(sys.stdout, "reconfigure"):
    sys.stdout.reconfigure(line_buffering=True)  # a log file gets each line when it is written, not in 8 KB blocks

FILES = typer.Argument(..., help="gin files (paths, or relative to gin/), parsed in order")
BINDINGS = typer.Option([], "-b", "--binding", help="extra gin binding, e.g. -b \"DATA_DIR='/data/ml-1m'\"")
DEBUG = typer.Option(False, "--debug", help="show tracebacks instead of one-paragraph errors")


def _guard(debug: bool, files: List[str], step: Callable[[], object]) -> object:
    """Run ``step``; user-fixable errors become a red paragraph and exit code 2."""
    from ur4rec.config import required_error
    from ur4rec.errors import UserError, user_message

    try:
        return step()
    except UserError as err:
        if debug:
            raise
        _print_error(user_message(err))
    except RuntimeError as err:
        converted = required_error(err, [Path(f) for f in files])
        if converted is None or debug:
            raise
        _print_error(user_message(converted))
    except EOFError as err:
        # click would print only "Aborted." for an EOFError, even with --debug: it is a bug, show it
        raise RuntimeError(f"unexpected end of input: {err}") from err
    raise typer.Exit(code=2)


def _print_error(message: str) -> None:
    from rich.markup import escape

    # escaped: a quoted data line such as "[/x]" must print as itself, not as (broken) rich markup
    console.print(f"[bold red]error:[/bold red] {escape(message)}", highlight=False, soft_wrap=True)


def _load(files: List[str], bindings: List[str]):
    from ur4rec.config import load

    return load(files, bindings)


@app.command("list")
def list_components(kind: Optional[str] = typer.Argument(None, help="only this kind, e.g. backbones"),
                    debug: bool = DEBUG) -> None:
    """Print every registered component: kind, gin selector, one-line doc and parameters."""
    import ur4rec.components  # noqa: F401
    from ur4rec.registry import all_entries

    entries = _guard(debug, [], lambda: all_entries(kind))
    table = Table(title="registered components", header_style="bold")
    for col in ("kind", "gin selector", "description", "parameters"):
        table.add_column(col)
    for e in entries:
        params = ", ".join(f"{n}={d}" for n, d in e.params)
        table.add_row(e.kind, f"@{e.kind}.{e.name}", e.doc, params)
    console.print(table)


@app.command()
def run(files: List[str] = FILES, binding: List[str] = BINDINGS, debug: bool = DEBUG) -> None:
    """Run an experiment (e.g. gin/experiments/quickstart.gin) and print its results table."""
    def step():
        from ur4rec.experiment import experiment, experiment_name

        resolved = _load(files, binding)
        command = "ur4rec run " + " ".join(shlex.quote(a) for a in sys.argv[2:])
        return experiment(experiment_name(resolved, binding), console=console, command=command)

    _guard(debug, files, step)


@data_app.command("prepare")
def data_prepare(files: List[str] = FILES, binding: List[str] = BINDINGS, debug: bool = DEBUG) -> None:
    """Load the dataset, apply the protocol and cache the prepared copy (reused when inputs are unchanged)."""
    def step():
        import time

        from ur4rec.data.pipeline import prepare_data

        _load(files, binding)
        start = time.perf_counter()
        data = prepare_data(log=console.log)
        hit = data.stats["cache"]["hit"]
        console.print(f"{data.name}: {'reused' if hit else 'prepared'} in {time.perf_counter() - start:.2f}s "
                      f"-> {data.stats['cache']['path']}")

    _guard(debug, files, step)


@data_app.command("stats")
def data_stats(files: List[str] = FILES, binding: List[str] = BINDINGS, debug: bool = DEBUG) -> None:
    """Print dataset statistics before and after filtering, split sizes and every dropped row's reason."""
    def step():
        from ur4rec.data.pipeline import prepare_data
        from ur4rec.data.stats import stats_table

        _load(files, binding)
        console.print(stats_table(prepare_data(log=console.log)))

    _guard(debug, files, step)


@app.command()
def generate(files: List[str] = FILES, binding: List[str] = BINDINGS, debug: bool = DEBUG) -> None:
    """Generate every missing LLM text (item knowledge, user preferences) into the LMDB text store; resumable."""
    def step():
        import time

        from ur4rec.data.pipeline import prepare_data
        from ur4rec.errors import UserError
        from ur4rec.knowledge import knowledge_source

        _load(files, binding)
        data = prepare_data(log=console.log)
        source = knowledge_source()
        if not hasattr(source, "generate"):
            raise UserError(f"knowledge source {type(source).__name__} generates no text (nothing to do)")
        start = time.perf_counter()
        stats = source.generate(data, console=console)
        for kind, st in stats.items():
            console.print(f"{data.name} {kind}: {st.summary()}")
        console.print(f"generate finished in {time.perf_counter() - start:.1f}s")

    _guard(debug, files, step)


@app.command()
def encode(files: List[str] = FILES, binding: List[str] = BINDINGS, debug: bool = DEBUG) -> None:
    """Encode every user and item text with the frozen encoder into the LMDB vector store; resumable."""
    def step():
        import time

        from ur4rec.data.pipeline import prepare_data
        from ur4rec.knowledge import knowledge_source

        _load(files, binding)
        data = prepare_data(log=console.log)
        start = time.perf_counter()
        kv = knowledge_source().vectors(data, console=console)
        console.print(f"{data.name}: {kv.user.shape[0]} user and {kv.item.shape[0] - 1} item vectors of width "
                      f"{kv.dim} in {time.perf_counter() - start:.1f}s\n{kv.description}", highlight=False)

    _guard(debug, files, step)


@inspect_app.command("match")
def inspect_match(files: List[str] = FILES, binding: List[str] = BINDINGS,
                  user: Optional[str] = typer.Option(None, "--user", help="a user id of the dataset (as in its files)"),
                  top: int = typer.Option(5, "--top", help="nearest items to show"), debug: bool = DEBUG) -> None:
    """Preference-item matching check (Recall/NDCG of validation targets vs random); with --user, show panels.

    Given a UR4Rec experiment file, checks the retriever instead: pre-trained vs randomly initialised vs floor."""
    def step():
        from ur4rec.data.pipeline import prepare_data
        from ur4rec.index.inspect import configured_ur4rec_ranker, match_panels, match_table, retriever_match_table
        from ur4rec.knowledge import knowledge_source

        _load(files, binding)
        data = prepare_data(log=console.log)
        ranker = configured_ur4rec_ranker()
        if ranker is not None:  # a UR4Rec experiment: check the retriever itself
            import gin

            console.print(retriever_match_table(data, ranker, gin.query_parameter("%SEED"), console)[0])
            return
        source = knowledge_source()
        kv = source.vectors(data, console=console)
        console.print(match_table(data, kv))
        if user is not None:
            for panel in match_panels(data, kv, source, user, top):
                console.print(panel)

    _guard(debug, files, step)


@app.command()
def bench(table: str = typer.Argument(..., help="table2, table3, table5, table6, fig4, headline, or speed"),
          datasets: Optional[str] = typer.Option(None, "--datasets", "-d", help="comma list, e.g. ml-100k (default: all)"),
          backbones: Optional[str] = typer.Option(None, "--backbones", help="comma list, e.g. prm,sasrec (default: the table's)"),
          rows: Optional[str] = typer.Option(None, "--rows", help="comma list of row keys, e.g. base,kar (default: all)"),
          seeds: str = typer.Option("0", "--seeds", help="e.g. 0 or 0,1,2 or 0-2"),
          limit_users: Optional[int] = typer.Option(None, "--limit-users", help="quick version: first N users only"),
          max_epochs: Optional[int] = typer.Option(None, "--max-epochs",
                                                   help="quick version: every training phase stops after N epochs"),
          dry_run: bool = typer.Option(False, "--dry-run", help="list the runs and their gin files; run nothing"),
          jobs: int = typer.Option(1, "--jobs", "-j", min=1,
                                   help="runs at once, each with cores/jobs threads"),
          out: Optional[str] = typer.Option(None, "--out", help="folder for the Markdown/CSV/PNG (default RUNS_DIR/reports)"),
          only: Optional[str] = typer.Option(None, "--only", help="speed: comma list of benchmarks (default: all)"),
          experiments: Optional[str] = typer.Option(None, "--experiments", hidden=True),
          debug: bool = DEBUG) -> None:
    """Run every missing run of a paper table (one subprocess each, resumable) and print/write the table."""
    def step():
        from ur4rec.bench import commands
        from ur4rec.bench.plan import Quick

        if table == "speed":
            return commands.bench_speed(console, only, dry_run, out)
        return commands.bench_table(table, console, "ur4rec " + shlex.join(sys.argv[1:]), datasets, backbones, rows,
                                    seeds, Quick(limit_users, max_epochs), dry_run, out, experiments, jobs)

    code = _guard(debug, [], step)
    if code:
        raise typer.Exit(code=code)


@app.command()
def report(runs_dir: str = typer.Argument(..., help="the runs folder, e.g. runs"),
           table: List[str] = typer.Option([], "--table", "-t", help="only these tables (repeat); default: every table"),
           datasets: Optional[str] = typer.Option(None, "--datasets", "-d", help="comma list (default: all)"),
           backbones: Optional[str] = typer.Option(None, "--backbones", help="comma list (default: all)"),
           seeds: Optional[str] = typer.Option(None, "--seeds", help="default: every seed found"),
           limit_users: Optional[int] = typer.Option(None, "--limit-users", help="the runs of bench --limit-users N"),
           max_epochs: Optional[int] = typer.Option(None, "--max-epochs", help="the runs of bench --max-epochs N"),
           out: Optional[str] = typer.Option(None, "--out", help="folder for the Markdown/CSV/PNG (default RUNS_DIR/reports)"),
           experiments: Optional[str] = typer.Option(None, "--experiments", hidden=True),
           debug: bool = DEBUG) -> None:
    """Print/write the paper tables from finished runs under RUNS_DIR, without running anything."""
    def step():
        from ur4rec.bench import commands
        from ur4rec.bench.plan import Quick

        return commands.report(runs_dir, console, "ur4rec " + shlex.join(sys.argv[1:]), table or None, datasets,
                               backbones, seeds, Quick(limit_users, max_epochs), out, experiments)

    code = _guard(debug, [], step)
    if code:
        raise typer.Exit(code=code)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
