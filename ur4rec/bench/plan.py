"""The runs of a table: gin file, bindings, run folder and config fingerprint of each; done or not.

A run is one ``ur4rec run <gin> -b SEED=k [...]``. Its folder is what that command would write:
``<RUNS_DIR>/<experiment_name(files, bindings)>/<dataset>/seed<k>`` (``ur4rec.experiment`` names
it; bindings other than SEED add a ``+<hash>``). Its fingerprint is a sha256 of the full parsed
gin config (``gin.config_str()``), so editing any included file or value changes it.

A run is *done* when its folder holds ``metrics.json`` and the same fingerprint, either in that file
(``ur4rec run`` writes it) or in a ``bench.json`` the bench wrote after the run. Anything else is run again: a folder of a
killed run resumes from its last epoch (the trainer's own checkpoints), a changed config retrains. A finished run from
before ``ur4rec run`` stamped fingerprints is *recheck*: running it again costs only the test scoring when its
trainer checkpoints match the config (their own fingerprints decide), and retrains otherwise.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from ur4rec.bench.tables import TableSpec
from ur4rec.errors import ConfigError, UserError
from ur4rec.paths import GIN_DIR

RECORD = "bench.json"  # what the bench writes into a finished run folder


@dataclass
class Run:
    table: str
    dataset: str  # the gin folder's dataset name (ml-100k, ...)
    group: str  # backbone, or ""
    row: str  # Row.key
    seed: int
    gin_file: Path
    bindings: tuple[str, ...] = ()  # besides SEED (--limit-users, --max-epochs)
    relative: Path | None = None  # <experiment>/<dataset name>/seed<k>, under RUNS_DIR
    runs_dir: Path | None = None  # RUNS_DIR as the gin config sets it (relative to the current directory)
    config: str = ""  # sha256 of gin.config_str()
    knowledge: str = ""  # hash of the knowledge settings (LLM, prompts, encoder, data); "" when it uses none
    from_base: bool = False  # starts from the Base checkpoint (UR4Rec rows): waits for the Base row of its plan
    error: str = ""  # why the gin config could not be read
    record: dict = field(default_factory=dict)

    @property
    def run_dir(self) -> Path | None:
        return self.folder_in()

    def folder_in(self, runs_dir: Path | None = None) -> Path | None:
        """The run's folder under ``runs_dir`` (default: the RUNS_DIR its config names); None if unresolved."""
        if self.relative is None:
            return None
        return (Path(runs_dir) if runs_dir is not None else self.runs_dir) / self.relative

    @property
    def all_bindings(self) -> list[str]:
        return [f"SEED={self.seed}", *self.bindings]

    def command(self, verb: str = "run") -> list[str]:
        """The arguments after ``ur4rec``: <verb> <gin> -b SEED=k -b ... (``encode`` prepares its knowledge)."""
        args = [verb, str(self.gin_file)]
        for b in self.all_bindings:
            args += ["-b", b]
        return args

    def status(self) -> str:
        """'no gin file', 'config error', 'done', 'changed' (done under another config), 'recheck' (finished
        before fingerprints were stamped) or 'todo'."""
        if not self.gin_file.is_file():
            return "no gin file"
        if self.error:
            return "config error"
        return self.status_in(self.run_dir)

    def status_in(self, folder: Path) -> str:
        """``status`` of the run's results in ``folder`` (its own run folder, or the copy under another runs dir)."""
        if not (folder / "metrics.json").is_file():
            return "todo"
        stamped = read_record(folder).get("config") or _metrics_config(folder)
        if stamped == self.config:
            return "done"
        return "changed" if stamped else "recheck"


def stale(runs: list[Run], runs_dir: Path | None = None) -> list[Run]:
    """The runs whose folder (under ``runs_dir``, default their own) holds results of another config."""
    return [r for r in runs if r.relative is not None and r.status_in(r.folder_in(runs_dir)) == "changed"]


def _metrics_config(folder: Path) -> str | None:
    """The config fingerprint ``ur4rec run`` wrote into metrics.json (runs made outside the bench have no record)."""
    try:
        return json.loads((folder / "metrics.json").read_text()).get("config")
    except (OSError, ValueError, AttributeError):
        return None


def read_record(folder: Path) -> dict:
    try:
        return json.loads((folder / RECORD).read_text())
    except (OSError, ValueError):
        return {}


def parse_seeds(text: str) -> list[int]:
    """'0', '0,1,2' or '0-2' -> [0, 1, 2]."""
    seeds: list[int] = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        match = re.fullmatch(r"(\d+)(?:-(\d+))?", part)
        if not match:
            raise ConfigError(f"--seeds {text!r}: use whole numbers like 0,1,2 or a range 0-2")
        lo, hi = int(match.group(1)), int(match.group(2) or match.group(1))
        seeds += range(lo, hi + 1)
    if not seeds:
        raise ConfigError(f"--seeds {text!r} names no seed")
    return sorted(set(seeds))


def split_list(text: str | None) -> list[str] | None:
    return None if text is None else [p.strip() for p in text.split(",") if p.strip()]


def available_datasets(spec: TableSpec, experiments: Path) -> list[str]:
    """Datasets with a folder under <experiments>/<table folder> (plus Table 2's, for Table 5's reused rows)."""
    folder = experiments / spec.folder
    return sorted(p.name for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else []


@dataclass(frozen=True)
class Quick:
    """A smaller, faster version of every run of a table, for smoke tests (``--limit-users``, ``--max-epochs``).

    Its bindings give each run another fingerprint and folder, so a quick run never counts as, or resumes, the
    full run of the same row.
    """
    users: int | None = None  # only the first N users of the dataset (datasets.FirstUsers)
    epochs: int | None = None  # every training phase (Base, pre-training, joint) stops after N epochs at most

    def __post_init__(self):
        for option, value in (("--limit-users", self.users), ("--max-epochs", self.epochs)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                raise ConfigError(f"{option} must be a whole number >= 1, not {value!r}")

    def bindings(self, gin_file: Path) -> list[str]:
        if self.users is None and self.epochs is None:
            return []
        from ur4rec.config import load

        load([gin_file], [])  # both helpers read the file's own config
        out = limit_bindings(self.users) if self.users is not None else []
        return out + ([f"{p} = {self.epochs}" for p in epoch_parameters()] if self.epochs is not None else [])

    def _parts(self) -> list[tuple[str, str]]:
        """(file-name part, description) of each cut in use."""
        return ([(f"first{self.users}users", f"the first {self.users} users only")] if self.users is not None else []) + \
               ([(f"max{self.epochs}epochs", f"every training phase stopped after {self.epochs} epoch(s) at most")]
                if self.epochs is not None else [])

    @property
    def caveat(self) -> str | None:
        """The header line a table made of quick runs carries: its numbers are not results."""
        parts = [text for _, text in self._parts()]
        return f"quick version (a smoke test, not a result): {'; '.join(parts)}" if parts else None

    @property
    def suffix(self) -> list[str]:
        """Parts of the output file name: first50users, max2epochs."""
        return [name for name, _ in self._parts()]


def plan(spec: TableSpec, datasets: list[str] | None = None, groups: list[str] | None = None,
         rows: list[str] | None = None, seeds: list[int] = (0,), quick: Quick = Quick(),
         experiments: Path | None = None) -> list[Run]:
    """Every run of ``spec`` for the chosen datasets, backbones, rows and seeds, resolved (see ``resolve``)."""
    experiments = Path(experiments) if experiments is not None else GIN_DIR / "experiments"
    datasets = datasets or available_datasets(spec, experiments)
    if not datasets:
        raise UserError(f"{spec.name}: no dataset folders under {experiments / spec.folder}; pass --datasets")
    groups = groups or list(spec.groups)
    unknown = [g for g in groups if g not in spec.groups]
    if unknown:
        raise ConfigError(f"{spec.name} has no backbone {', '.join(unknown)}; its backbones: "
                          f"{', '.join(g for g in spec.groups if g) or '(none: rows name their model)'}")
    chosen = [spec.row(r) for r in rows] if rows else list(spec.rows)
    runs = []
    for dataset in datasets:
        for group in groups:
            for seed in seeds:  # seed by seed: a bench stopped early leaves whole seeds (every row) behind it
                for row in chosen:
                    gin_file = experiments / (row.template.format(dataset=dataset, group=group) + ".gin")
                    runs.append(resolve(Run(spec.name, dataset, group, row.key, seed, gin_file), quick))
    return runs


def resolve(run: Run, quick: Quick = Quick()) -> Run:
    """Fill in the run's bindings, folder and fingerprint by reading its gin config (no data is read)."""
    if not run.gin_file.is_file():
        return run
    try:
        run.bindings = tuple(quick.bindings(run.gin_file))
        run.relative, run.runs_dir, run.config, run.knowledge, run.from_base = _read_config(
            run.gin_file, run.all_bindings, run.seed)
    except (UserError, RuntimeError, ValueError) as err:
        run.error = str(err).strip().splitlines()[0]
    if run.relative is not None:
        run.record = read_record(run.run_dir)
    return run


def limit_bindings(n_users: int) -> list[str]:
    """Bindings that wrap the loaded config's dataset in ``datasets.FirstUsers`` (see ur4rec/bench/subset.py)."""
    import gin

    selector = gin.query_parameter("prepare_data.dataset").selector
    return [f"datasets.FirstUsers.inner = @{selector}()", f"datasets.FirstUsers.n_users = {int(n_users)}",
            "prepare_data.dataset = @datasets.FirstUsers()"]


# Every phase's epoch bound as the experiment files bind it; a scoped one (the quickstart's joint phase) beats
# the unscoped one, so it is capped too.
EPOCH_PARAMETERS = ("trainers.Supervised.epochs", "joint/trainers.Supervised.epochs", "pretrainers.Retriever.epochs")


def epoch_parameters() -> list[str]:
    """The epoch bounds the loaded config binds (binding a macro instead would fail on files that never use it)."""
    import gin

    bound = []
    for name in EPOCH_PARAMETERS:
        try:
            gin.query_parameter(name)
        except ValueError:
            continue
        bound.append(name)
    return bound


def _read_config(gin_file: Path, bindings: list[str], seed: int) -> tuple[Path, Path, str, str, bool]:
    import gin

    from ur4rec.config import config_fingerprint, load
    from ur4rec.experiment import experiment_name

    files = load([gin_file], bindings)
    config = config_fingerprint()  # as `ur4rec run` computes it, before anything is built
    name = experiment_name(files, bindings)
    dataset = _value(gin.query_parameter("prepare_data.dataset"))  # builds the loader object; reads no file
    runs_dir = Path(str(_value(gin.query_parameter("experiment.runs_dir"))))
    text = gin.config_str()
    return (Path(name) / dataset.name / f"seed{seed}", runs_dir, config, knowledge_key(text, bindings),
            "start_from_base = True" in text)


# Config lines that can change a run's LLM texts or their vectors. Broader than needed is harmless (one more
# `ur4rec encode` that finds everything cached); see runner.py.
KNOWLEDGE_LINE = re.compile(r"(?i)^(# Parameters for )?[\w/.%]*(llm|knowledge|encode|prompt|history|data|core|"
                            r"protocol|split|users)")


def knowledge_key(config_text: str, bindings: list[str]) -> str:
    """"" for a config that uses no knowledge source, else a hash of its knowledge and data settings."""
    import hashlib

    if "knowledge_source.source" not in config_text:
        return ""
    lines = [line for line in config_text.splitlines() if KNOWLEDGE_LINE.match(line)]
    lines += [b for b in bindings if not b.startswith("SEED=")]
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()[:12]


def _value(value):
    """A bound gin value: references (``@x()``, ``%MACRO``) are evaluated."""
    import gin

    return value.scoped_configurable_fn() if isinstance(value, gin.config.ConfigurableReference) else value


def seeds_in(runs_dir: Path) -> list[int]:
    """Every seed that has a finished run anywhere under ``runs_dir``."""
    found = {int(p.parent.name[4:]) for p in Path(runs_dir).glob("**/seed*/metrics.json") if p.parent.name[4:].isdigit()}
    return sorted(found) or [0]
