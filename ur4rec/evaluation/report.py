"""Result tables: a rich table for the terminal and Markdown/CSV for files, always with the floor."""
from __future__ import annotations

from rich.table import Table

from ur4rec.evaluation.harness import EvalResult
from ur4rec.evaluation.metrics import random_floor
from ur4rec.evaluation.significance import clustered_users, paired_t_test, paired_t_test_over_users

SHOWN = ("MAP@1", "MAP@5", "MAP@10", "MAP@20", "NDCG@1", "NDCG@5", "NDCG@10", "NDCG@20", "HR@10", "MRR")
TERMINAL = SHOWN[:8]  # the paper's columns; files keep all of SHOWN
TEST_METRIC = "NDCG@10"
P_COLUMNS = ("p vs ", "p/users vs ")  # over samples (the paper's test), over users (see evaluation.significance)


def format_p(p: float) -> str:
    """p-value of the paired t-test on NDCG@10; * marks p < 0.05."""
    text = "<1e-16" if p < 1e-16 else f"{p:.1e}"
    return text + ("*" if p < 0.05 else "")


def rows(results: list[EvalResult], n_candidates: int, baseline: str | None) -> list[dict]:
    """One dict per ranker plus the analytic random floor; p-value vs ``baseline`` on NDCG@10."""
    base = next((r for r in results if r.ranker == baseline), None)
    out = []
    for res in results:
        row = {"ranker": res.ranker, **{m: res.means()[m] for m in SHOWN}}
        if base is not None and res is not base:
            a, b = res.values[TEST_METRIC], base.values[TEST_METRIC]
            row[f"p vs {baseline}"] = paired_t_test(a, b)
            users = clustered_users(res.users, base.users)
            if users is not None:
                row[f"p/users vs {baseline}"] = paired_t_test_over_users(a, b, users)
        out.append(row)
    floor = random_floor(n_candidates)
    out.append({"ranker": "random floor", **{m: floor[m] for m in SHOWN}})
    return out


def rich_table(table_rows: list[dict], title: str, caption: str) -> Table:
    table = Table(title=title, caption=caption, header_style="bold", padding=(0, 1))
    columns = ["ranker", *TERMINAL] + _p_columns(table_rows)
    for col in columns:
        header = (col.replace("MAP@", "M@").replace("NDCG@", "N@").replace("p vs ", f"p({TEST_METRIC}) vs ")
                  .replace("p/users vs ", f"p({TEST_METRIC}, users) vs "))
        table.add_column(header, justify="left" if col == "ranker" else "right", no_wrap=True)
    best = {m: max(r[m] for r in table_rows) for m in SHOWN}
    for r in table_rows:
        cells = [r["ranker"]]
        for col in columns[1:]:
            v = r.get(col)
            if v is None:
                cells.append("")
            elif col.startswith(P_COLUMNS):
                cells.append(format_p(v))
            else:
                cells.append(f"[bold]{v:.3f}[/bold]" if v == best[col] else f"{v:.3f}")
        table.add_row(*cells, style="dim" if r["ranker"].startswith("random floor") else None)
    return table


def markdown(table_rows: list[dict], caption: str) -> str:
    columns = ["ranker", *SHOWN] + _p_columns(table_rows)
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for r in table_rows:
        cells = [r["ranker"]] + [("" if r.get(c) is None else (format_p(r[c]) if c.startswith(P_COLUMNS) else f"{r[c]:.4f}"))
                                 for c in columns[1:]]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + f"\n\n{caption}\n"


def _p_columns(table_rows: list[dict]) -> list[str]:
    """The p-value columns, each baseline's test over samples first, then its test over users."""
    keys = {k for r in table_rows for k in r if k.startswith(P_COLUMNS)}
    return sorted(keys, key=lambda k: (k.split(" vs ", 1)[1], k.startswith("p/users")))
