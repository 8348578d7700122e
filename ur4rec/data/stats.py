"""The ``ur4rec data stats`` table: counts before and after filtering, splits, and what was dropped why."""
from __future__ import annotations

from rich.table import Table

from ur4rec.data.prepared import PreparedDataset


def stats_rows(data: PreparedDataset) -> list[tuple[str, str, str]]:
    s = data.stats
    raw, flt = s["raw"], s["filtered"]
    hist = s["history_length"]
    rows = [
        ("before filtering", "users / items / interactions", f"{raw['users']:,} / {raw['items']:,} / {raw['interactions']:,}"),
        ("after filtering", "users / items / interactions", f"{flt['users']:,} / {flt['items']:,} / {flt['interactions']:,}"),
        ("after filtering", "density", f"{flt['density']:.4%}"),
        ("after filtering", "interactions per user (min / median / mean / max)",
         f"{hist['min']} / {hist['median']:.0f} / {hist['mean']:.1f} / {hist['max']}"),
    ]
    split = s["split_interactions"]
    fractions = ":".join(f"{x:g}" for x in data.params["split"])  # the bound split, not the default
    rows.append((f"split ({fractions} per user, by time)", "train / valid / test targets",
                 f"{split['train']:,} / {split['valid']:,} / {split['test']:,}"))
    ev = s["eval_samples"]
    cap = ev["targets_per_user_cap"]
    rows.append(("evaluation", f"samples valid / test (targets per user: {'all' if cap is None else cap})",
                 f"{ev['valid']:,} / {ev['test']:,} × {s['n_candidates']} candidates"))
    for reason, n in s["load_report"].items():
        rows.append(("loading", reason, f"{n:,}"))
    for reason, n in s["dropped"].items():
        rows.append(("protocol", reason, f"{n:,}"))
    return rows


def stats_table(data: PreparedDataset) -> Table:
    p = data.params
    table = Table(title=f"{data.name} ({data.domain})", header_style="bold",
                  caption=f"protocol {p['class']}: {p['k_core']}-core, split {p['split']}, seed {p['seed']}; "
                          f"cache {data.stats.get('cache', {}).get('path', '?')}")
    for col in ("stage", "what", "value"):
        table.add_column(col, justify="right" if col == "value" else "left")
    for row in stats_rows(data):
        table.add_row(*row)
    return table
