"""A table laid out like the paper's: our number beside the paper's, marks, floor, dataset statistics.

Markdown (one section per dataset), CSV (one line per cell and metric, for scripts) and a rich
table for the terminal; Figure 4 also as a PNG (matplotlib, optional: ``pip install matplotlib``;
without it the figure's numbers are still written as CSV and the Markdown says so).
"""
from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np
from rich.table import Table

from ur4rec.bench.results import CellGroup, PValues
from ur4rec.device import machine_description
from ur4rec.bench.tables import GROUP_LABELS, TableSpec
from ur4rec.evaluation import paper_numbers
from ur4rec.evaluation.metrics import random_floor

SHORT = {"MAP@": "M@", "NDCG@": "N@"}
MISSING = "—"


def short(metric: str) -> str:
    for long, brief in SHORT.items():
        metric = metric.replace(long, brief)
    return metric


def p_text(p: float | None) -> str:
    if p is None:
        return ""
    return ("<1e-16" if p < 1e-16 else f"{p:.1e}" if p < 0.001 else f"{p:.3f}") + ("*" if p < 0.05 else "")


class Layout:
    """The cells of one table, grouped the way it is printed."""

    def __init__(self, spec: TableSpec, cells: dict[tuple, CellGroup]):
        self.spec, self.cells = spec, cells
        self.datasets = list(dict.fromkeys(d for d, _, _ in cells))
        self.groups = [g for g in spec.groups if any(k[1] == g for k in cells)]
        self.rows = [r for r in spec.rows if any(k[2] == r.key for k in cells)]

    def cell(self, dataset: str, group: str, row: str) -> CellGroup | None:
        return self.cells.get((dataset, group, row))

    def paper(self, dataset: str, group: str, row_key: str, metric: str):
        if self.spec.paper_table is None:
            return None
        return paper_numbers.lookup(self.spec.paper_table, dataset, group, self.spec.row(row_key).paper_row, metric)

    def has_paper(self, dataset: str) -> bool:
        return self.spec.paper_table is not None and paper_numbers.has_dataset(self.spec.paper_table, dataset)

    def value_text(self, dataset: str, group: str, row: str, metric: str) -> str:
        """'0.403*' ours (with the mark), then ' / 0.271' the paper's when the paper has this dataset."""
        cell = self.cell(dataset, group, row)
        mean = cell.mean(metric) if cell is not None else None
        ours = MISSING if mean is None else self._number(cell, metric, mean) + ("*" if metric in cell.marks else "")
        if not self.has_paper(dataset):
            return ours
        paper = self.paper(dataset, group, row, metric)
        return f"{ours} / {paper if paper is not None else MISSING}"

    def plain(self, value: float) -> str:
        return f"{value:.4f}" if self.spec.spread else f"{value:.3f}"

    def _number(self, cell: CellGroup, metric: str, mean: float) -> str:
        sd = cell.sd(metric) if self.spec.spread else None
        return self.plain(mean) + ("" if sd is None else f" ± {sd:.4f}")

    def versus_run(self) -> tuple:
        """The rows every row is tested against that have finished runs: a control not run yet adds no empty column."""
        return tuple(key for key in self.spec.versus
                     if any(r == key and c.results for (_, _, r), c in self.cells.items()))

    def test_columns(self) -> list[str]:
        """Columns after the metrics: p-values (and for tables that ask for it, how the runs stopped)."""
        cols = []
        if self.spec.base_row:
            cols.append(f"p vs {self.spec.row(self.spec.base_row).label}")
        cols += [f"p vs {self.spec.row(key).label}" for key in self.versus_run()]
        if self.spec.method_row:
            cols.append("p vs best baseline")
        if self.spec.convergence:
            cols += [f"valid {short(self.spec.key_metric)}", "early stopping"]
        return cols

    def test_texts(self, dataset: str, group: str, row: str) -> list[str]:
        cell = self.cell(dataset, group, row)
        out = []
        if self.spec.base_row:
            out.append("" if cell is None else _tests(cell.p_base))
        out += ["" if cell is None else _tests(cell.p_versus.get(key, PValues())) for key in self.versus_run()]
        if self.spec.method_row:
            best = "" if cell is None or cell.best_row is None else \
                f"{_tests(cell.p_best)} ({self.spec.row(cell.best_row).label})"
            out.append(best)
        if self.spec.convergence:
            out += ["", ""] if cell is None or not cell.results else [_valid(cell), _stopping(cell)]
        return out

    # ---- the reference lines under every dataset ---------------------------------------------
    def references(self, dataset: str) -> dict:
        """Popularity values, random floor, dataset statistics and caption from any finished run."""
        found = [r for (d, _, _), c in self.cells.items() if d == dataset for r in c.results]
        if not found:
            return {}
        first = found[0]
        n_candidates = first.payload["protocol"].get("n_candidates", 100)
        return {"baseline": first.baseline, "baseline_values": first.baseline_values,
                "floor": random_floor(n_candidates), "stats": first.payload.get("dataset_stats", {}),
                "caption": first.payload["splits"]["test"]["caption"], "seeds": sorted({r.run.seed for r in found})}


def _valid(cell: CellGroup) -> str:
    """Mean ± sd over seeds of the best validation score each run selected its epoch by."""
    scores = [r.training["best_score"] for r in cell.results if "best_score" in r.training]
    if not scores:
        return ""
    return f"{np.mean(scores):.4f}" + (f" ± {np.std(scores, ddof=1):.4f}" if len(scores) > 1 else "")


def _stopping(cell: CellGroup) -> str:
    """'3 of 3 (best epoch 14/16, 12/14, 15/17)': runs ended by early stopping, and where each one's best was."""
    epochs = ", ".join(f"{r.training['best_epoch'] + 1}/{r.training['epoch']}" if "best_epoch" in r.training else "?"
                       for r in cell.results)
    return f"{sum(cell.early_stopped())} of {len(cell.results)} (best epoch {epochs})"


def _tests(p: PValues) -> str:
    """'0.002* / users 0.03* / seeds 0.27': over samples, then users and seeds where those tests exist."""
    if p.samples is None:
        return ""
    return (p_text(p.samples) + (f" / users {p_text(p.users)}" if p.users is not None else "")
            + (f" / seeds {p_text(p.seeds)}" if p.seeds is not None else ""))


# ---- Markdown ---------------------------------------------------------------------------------------
def markdown(spec: TableSpec, cells: dict[tuple, CellGroup], header: list[str]) -> str:
    layout = Layout(spec, cells)
    out = [f"# {spec.title}", "", *header, ""]
    for dataset in layout.datasets:
        out += [f"## {dataset}", ""]
        out += _md_columns(layout, dataset) if spec.groups_as_columns else _md_rows(layout, dataset)
        out += ["", *_notes(layout, dataset), ""]
        out += _md_per_seed(layout, dataset) if spec.spread else []
    out += _legend(layout)
    out += _provenance(cells)
    return "\n".join(out) + "\n"


def _provenance(cells: dict[tuple, CellGroup]) -> list[str]:
    """One line per run read: its folder, the commit it ran at and the command that made it."""
    lines = [f"- `{r.run.relative}`: commit {r.payload.get('commit', '?')}, `{r.payload.get('command', '')}`"
             for c in cells.values() for r in c.results]
    return ["", "Runs read:", "", *lines] if lines else []


def _md_rows(layout: Layout, dataset: str) -> list[str]:
    spec = layout.spec
    head = (["Backbone"] if spec.groups != ("",) else []) + ["Variant", *map(short, spec.metrics), *layout.test_columns()]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for group in layout.groups:
        for i, row in enumerate(layout.rows):
            lead = ([GROUP_LABELS.get(group, group) if i == 0 else ""] if spec.groups != ("",) else [])
            cells = [layout.value_text(dataset, group, row.key, m) for m in spec.metrics]
            lines.append("| " + " | ".join(lead + [row.label, *cells, *layout.test_texts(dataset, group, row.key)]) + " |")
    lines += _md_reference_rows(layout, dataset, spec.groups != ("",), spec.metrics)
    return lines


def _md_per_seed(layout: Layout, dataset: str) -> list[str]:
    """Per backbone, the per-seed numbers behind the mean ± sd cells: test key metric / best validation score."""
    key = layout.spec.key_metric
    out = []
    for group in layout.groups:
        cells = {row.key: layout.cell(dataset, group, row.key) for row in layout.rows}
        seeds = sorted({s for c in cells.values() if c is not None for s in c.seeds})
        if not seeds:
            continue
        out += [f"Per seed, {GROUP_LABELS.get(group, group) or dataset}: test {short(key)} / best validation score",
                "", "| Variant | " + " | ".join(f"seed {s}" for s in seeds) + " |", "|" + "---|" * (len(seeds) + 1)]
        for row in layout.rows:
            by_seed = {r.run.seed: r for r in (cells[row.key].results if cells[row.key] is not None else [])}
            out.append(f"| {row.label} | " + " | ".join(_seed_text(by_seed.get(s), key) for s in seeds) + " |")
        out.append("")
    return out


def _seed_text(result, key: str) -> str:
    if result is None:
        return "—"
    valid = result.training.get("best_score")
    return f"{result.values[key].mean():.4f}" + (f" / {valid:.4f}" if valid is not None else "")


def _md_columns(layout: Layout, dataset: str) -> list[str]:
    spec = layout.spec
    metric_cols = [(g, m) for g in layout.groups for m in spec.metrics]
    tests = [f"{c} ({GROUP_LABELS.get(g, g)} {short(spec.key_metric)})" for g in layout.groups for c in layout.test_columns()]
    head = ["Variant", *[f"{GROUP_LABELS.get(g, g)} {short(m)}" for g, m in metric_cols], *tests]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in layout.rows:
        cells = [layout.value_text(dataset, g, row.key, m) for g, m in metric_cols]
        texts = [t for g in layout.groups for t in layout.test_texts(dataset, g, row.key)]
        lines.append("| " + " | ".join([row.label, *cells, *texts]) + " |")
    ref = layout.references(dataset)
    if ref:
        for name, values in _reference_values(ref):
            cells = [layout.plain(values[m]) if values is not None else "" for _, m in metric_cols]
            lines.append("| " + " | ".join([name, *cells, *[""] * len(tests)]) + " |")
    return lines


def _md_reference_rows(layout: Layout, dataset: str, group_column: bool, metrics) -> list[str]:
    ref = layout.references(dataset)
    lines = []
    for name, values in _reference_values(ref) if ref else []:
        pad = [""] if group_column else []
        cells = [layout.plain(values[m]) for m in metrics]
        lines.append("| " + " | ".join(pad + [name, *cells] + [""] * len(layout.test_columns())) + " |")
    return lines


def _reference_values(ref: dict) -> list[tuple[str, dict]]:
    out = []
    if ref.get("baseline_values") is not None:
        out.append((f"{ref['baseline']} (reference)", {k: float(v.mean()) for k, v in ref["baseline_values"].items()}))
    out.append(("random floor", ref["floor"]))
    return out


def _notes(layout: Layout, dataset: str) -> list[str]:
    ref = layout.references(dataset)
    if not ref:
        return [f"No finished runs for {dataset} yet."]
    s = ref["stats"]
    notes = [f"Ours: {s.get('users', '?'):,} users, {s.get('items', '?'):,} items, {s.get('interactions', '?'):,} "
             f"interactions after filtering; {ref['caption']}. Seeds: {', '.join(map(str, ref['seeds']))}."]
    if dataset in paper_numbers.TABLE1:
        u, i, n = paper_numbers.TABLE1[dataset]
        notes.append(f"Paper (Table 1): {u:,} users, {i:,} items, {n:,} interactions.")
    if not layout.has_paper(dataset) and layout.spec.paper_table is not None:
        notes.append(f"The paper reports no {dataset} results, so cells show ours only.")
    return notes


def _legend(layout: Layout) -> list[str]:
    spec = layout.spec
    text = ["Cells: ours (mean over the seeds run" + (" ± standard deviation of the per-seed means, ddof 1"
                                                         if spec.spread else "") + ")"
            + (" / the paper's number" if spec.paper_table else "") + f"; {MISSING} = not run (or not in the paper)."]
    if spec.method_row:
        text.append(f"`*` after our number: {spec.row(spec.method_row).label} beats every other row of the same "
                    "backbone on that metric, paired t-test over samples p < 0.05 (the paper's `*` is kept on its numbers).")
    if layout.test_columns():
        text.append(f"p-values: paired t-test on {spec.key_metric}, over samples (per-sample values averaged over "
                    "common seeds), then over users (each user's differences averaged first, since a user's targets are not "
                    "independent samples; shown where the runs recorded each sample's user), "
                    "then over seeds when there are two or more; `*` marks p < 0.05.")
    if spec.convergence:
        text.append(f"valid {short(spec.key_metric)}: the best validation score of the last training phase (what "
                    "the epoch was selected by), mean ± sd over seeds; the metric columns are test.")
        text.append("early stopping: how many of the row's runs early stopping ended (not the epoch cap), and per "
                    "seed the best validation epoch of the last training phase / epochs trained (UR4Rec's joint "
                    "phase, the control's continuation).")
    if spec.plot:
        text.append("The paper gives Figure 4 only as a plot; no paper numbers to compare.")
    return ["", *(f"- {t}" for t in text)]


# ---- CSV ----------------------------------------------------------------------------------------------
CSV_FIELDS = ("table", "dataset", "group", "row", "label", "metric", "ours", "paper", "mark", "seeds",
              "p_vs_base", "p_vs_base_seeds", "p_vs_best", "p_vs_best_seeds", "best_row", "runs", "sd",
              "p_vs_others", "early_stopped", "p_vs_base_users", "p_vs_best_users")


def csv_text(spec: TableSpec, cells: dict[tuple, CellGroup]) -> str:
    layout = Layout(spec, cells)
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=CSV_FIELDS, lineterminator="\n")
    writer.writeheader()
    for (dataset, group, row), cell in cells.items():
        for metric in spec.metrics:
            paper = layout.paper(dataset, group, row, metric)
            mean = cell.mean(metric)
            writer.writerow({
                "table": spec.name, "dataset": dataset, "group": group, "row": row, "label": spec.row(row).label,
                "metric": metric, "ours": "" if mean is None else f"{mean:.6f}",
                "paper": "" if paper is None else str(paper), "mark": "*" if metric in cell.marks else "",
                "seeds": " ".join(map(str, cell.seeds)), "p_vs_base": _num(cell.p_base.samples),
                "p_vs_base_seeds": _num(cell.p_base.seeds), "p_vs_best": _num(cell.p_best.samples),
                "p_vs_best_seeds": _num(cell.p_best.seeds), "best_row": cell.best_row or "",
                "runs": " ".join(str(r.run.relative) for r in cell.results), "sd": _num(cell.sd(metric)),
                "p_vs_others": " ".join(f"{k}={_num(p.samples)}/{_num(p.seeds)}/{_num(p.users)}"
                                        for k, p in cell.p_versus.items()),
                "early_stopped": f"{sum(cell.early_stopped())}/{len(cell.results)}",
                "p_vs_base_users": _num(cell.p_base.users), "p_vs_best_users": _num(cell.p_best.users)})
    return buf.getvalue()


def _num(p: float | None) -> str:
    return "" if p is None else f"{p:.3g}"


# ---- terminal -------------------------------------------------------------------------------------------
def rich_tables(spec: TableSpec, cells: dict[tuple, CellGroup]) -> list[Table]:
    """The Markdown tables as rich tables (one per dataset)."""
    layout = Layout(spec, cells)
    tables = []
    for dataset in layout.datasets:
        lines = _md_columns(layout, dataset) if spec.groups_as_columns else _md_rows(layout, dataset)
        head = [c.strip() for c in lines[0].strip("|").split("|")]
        table = Table(title=f"{spec.title} — {dataset}", caption="\n".join(_notes(layout, dataset)), header_style="bold")
        rows = [[c.strip() for c in line.strip().strip("|").split("|")] for line in lines[2:]]
        for i, col in enumerate(head):
            # a narrow console squeezes the widest columns first; the labels must survive whole, numbers may wrap
            label = i < 2
            width = min(36, max([len(col), *(len(r[i]) for r in rows if i < len(r))])) if label else None
            table.add_column(col, justify="left" if label else "right", no_wrap=label, min_width=width,
                             overflow="ellipsis" if label else "fold")
        for cells_ in rows:
            reference = any(c.endswith("(reference)") or c == "random floor" for c in cells_)
            table.add_row(*cells_, style="dim" if reference else None)
        tables.append(table)
    return tables


# ---- Figure 4 -------------------------------------------------------------------------------------------
def plot(spec: TableSpec, cells: dict[tuple, CellGroup], path: Path) -> bool:
    """Draw the key metric against the rows (K) per backbone, one panel per dataset; False without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    layout = Layout(spec, cells)
    metric = spec.metrics[0]
    fig, axes = plt.subplots(1, max(len(layout.datasets), 1), figsize=(4.5 * max(len(layout.datasets), 1), 3.4),
                             squeeze=False)
    for ax, dataset in zip(axes[0], layout.datasets):
        for group in layout.groups:
            points = [(r.label, layout.cell(dataset, group, r.key).mean(metric)) for r in layout.rows
                      if layout.cell(dataset, group, r.key) is not None]
            xs = [i for i, (_, y) in enumerate(points) if y is not None]
            ax.plot(xs, [points[i][1] for i in xs], marker="o", label=GROUP_LABELS.get(group, group))
        ax.set_xticks(range(len(layout.rows)), [r.label.replace("K=", "") for r in layout.rows])
        ax.set_xlabel("number of proxies K")
        ax.set_ylabel(metric)
        ax.set_title(dataset)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return True


def header_lines(command: str) -> list[str]:
    from ur4rec.experiment import git_commit

    return [f"- command: `{command}`", f"- machine: {machine_description()}",
            f"- commit: {git_commit()}"]
