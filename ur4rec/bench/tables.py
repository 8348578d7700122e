"""Which gin rows make each of the paper's tables, and how the table is laid out.

A row's gin file is ``<experiments>/<template>.gin`` with ``{dataset}`` and ``{group}`` (the
backbone) filled in. Tables 2 and 6 are the same runs shown with different metrics; Table 5 reuses
the SASRec Base and UR4Rec runs of Table 2. ``paper_row`` names the row in the paper's table
(``ur4rec.evaluation.paper_numbers``); None = the paper has no such row.
"""
from __future__ import annotations

from dataclasses import dataclass

from ur4rec.errors import ConfigError


@dataclass(frozen=True)
class Row:
    key: str  # short name on the command line (--rows) and in CSV files
    label: str  # shown in the table
    template: str  # gin file under gin/experiments, without .gin
    paper_row: str | None = None


@dataclass(frozen=True)
class TableSpec:
    name: str
    title: str
    rows: tuple[Row, ...]
    groups: tuple[str, ...]  # backbones in the paper's order; ("",) when rows do not depend on one
    metrics: tuple[str, ...]
    base_row: str | None = None  # every other row gets a paired t-test against it
    method_row: str | None = None  # gets the test against the best other row, and the paper's "*"
    groups_as_columns: bool = False  # Table 3: backbones side by side, variants down
    paper_table: str | None = None  # key of the paper's numbers (None: the paper only has a figure)
    plot: bool = False  # Figure 4: also draw the key metric against the row order
    versus: tuple[str, ...] = ()  # more rows every other row is tested against, beside base_row
    spread: bool = False  # cells show mean ± standard deviation over seeds (4 decimals)
    convergence: bool = False  # a column saying how many of the row's runs early stopping ended

    def row(self, key: str) -> Row:
        for r in self.rows:
            if r.key == key:
                return r
        raise ConfigError(f"{self.name} has no row {key!r}; rows: {', '.join(r.key for r in self.rows)}")

    @property
    def key_metric(self) -> str:
        return "NDCG@10"

    @property
    def folder(self) -> str:
        """The gin/experiments folder whose sub-folders name the datasets this table exists for: the table's own
        folder; rows borrowed from Table 2 (Table 3's full model, Table 5's SASRec) do not decide it."""
        own = [r.template.split("/")[0] for r in self.rows if not r.template.startswith("table2/")]
        return own[0] if own else "table2"


BACKBONES = ("dlcm", "prm", "setrank", "sasrec", "gru4rec")  # the paper's order (Tables 2 and 6)
GROUP_LABELS = {"dlcm": "DLCM", "prm": "PRM", "setrank": "SetRank", "sasrec": "SASRec", "gru4rec": "GRU4Rec", "": ""}

TABLE2_ROWS = (
    Row("base", "Base", "table2/{dataset}/{group}/base", "Base"),
    Row("bert", "+BERT", "table2/{dataset}/{group}/bert", "+BERT"),
    Row("llm", "+LLM", "table2/{dataset}/{group}/llm", "+Llama2"),
    Row("kar", "KAR", "table2/{dataset}/{group}/kar", "KAR"),
    Row("ur4rec", "UR4Rec", "table2/{dataset}/{group}/ur4rec", "UR4Rec"),
)

TABLE3_ROWS = (
    # table3/<dataset>/<backbone>/full.gin only includes the Table 2 UR4Rec row: the bench runs and reads that
    # row's folder, so the full model is trained once for both tables
    Row("full", "UR4Rec", "table2/{dataset}/{group}/ur4rec", "UR4Rec"),
    Row("wo-retr", "w/o Retr", "table3/{dataset}/{group}/wo-retr", "w/o Retr"),
    Row("wo-proxy", "w/o proxy", "table3/{dataset}/{group}/wo-proxy", "w/o proxy"),
    Row("proxy-random", "proxy random", "table3/{dataset}/{group}/proxy-random", "proxy random"),
    Row("wo-cl", "w/o CL", "table3/{dataset}/{group}/wo-cl", "w/o CL"),
    Row("wo-pim", "w/o PIM", "table3/{dataset}/{group}/wo-pim", "w/o PIM"),
    Row("wo-llm", "w/o LLM", "table3/{dataset}/{group}/wo-llm", "w/o LLM"),
    Row("wo-pretrain", "w/o pretrain", "table3/{dataset}/{group}/wo-pretrain", "w/o pretrain"),
)

TABLE5_ROWS = (
    Row("lrurec", "LRURec", "table5/{dataset}/lrurec", "LRURec"),
    Row("recformer", "Recformer-MiniLM (not Longformer)", "table5/{dataset}/recformer", "Recformer"),
    Row("sasrec", "SASRec (Base)", "table2/{dataset}/sasrec/base", None),
    Row("ur4rec", "UR4Rec (SASRec)", "table2/{dataset}/sasrec/ur4rec", "UR4Rec"),
)

# Issue 8's question as one table: does UR4Rec beat Base and +LLM over seeds, and beat more training alone?
HEADLINE_ROWS = (
    Row("base", "Base", "table2/{dataset}/{group}/base"),
    Row("llm", "+LLM", "table2/{dataset}/{group}/llm"),
    Row("ur4rec", "UR4Rec", "table2/{dataset}/{group}/ur4rec"),
    Row("continued", "Base continued (control)", "controls/{dataset}/{group}/base-continued"),
    Row("decay", "Base, lr decay on plateau (control)", "controls/{dataset}/{group}/base-decay"),
)

FIG4_ROWS = tuple(Row(f"k{k}", f"K={k}", f"fig4/{{dataset}}/{{group}}/k{k}") for k in (2, 4, 8, 16, 32))

TABLES = {
    "table2": TableSpec("table2", "Table 2: MAP@1,5 and NDCG@1,5 on five backbones", TABLE2_ROWS, BACKBONES,
                        ("MAP@1", "MAP@5", "NDCG@1", "NDCG@5"), base_row="base", method_row="ur4rec",
                        paper_table="table2"),
    "table6": TableSpec("table6", "Table 6: MAP@10,20 and NDCG@10,20 on five backbones", TABLE2_ROWS, BACKBONES,
                        ("MAP@10", "MAP@20", "NDCG@10", "NDCG@20"), base_row="base", method_row="ur4rec",
                        paper_table="table6"),
    "table3": TableSpec("table3", "Table 3: ablations (MAP@10, NDCG@10) with PRM and GRU4Rec", TABLE3_ROWS,
                        ("prm", "gru4rec"), ("MAP@10", "NDCG@10"), base_row="full", groups_as_columns=True,
                        paper_table="table3"),
    "table5": TableSpec("table5", "Table 5: against state-of-the-art recommenders (MAP and NDCG@1,10)", TABLE5_ROWS,
                        ("",), ("MAP@1", "MAP@10", "NDCG@1", "NDCG@10"), base_row="sasrec", method_row="ur4rec",
                        paper_table="table5"),
    "headline": TableSpec("headline", "UR4Rec against Base, +LLM and more training, over seeds (MAP@10, NDCG@10)",
                          HEADLINE_ROWS, ("prm", "gru4rec"), ("MAP@10", "NDCG@10"), base_row="base",
                          versus=("llm", "continued", "decay"), spread=True, convergence=True),
    "fig4": TableSpec("fig4", "Figure 4: NDCG@10 of UR4Rec against the number of proxies K", FIG4_ROWS,
                      ("prm", "gru4rec"), ("NDCG@10",), groups_as_columns=True, plot=True),
}


def get_table(name: str) -> TableSpec:
    if name not in TABLES:
        raise ConfigError(f"unknown table {name!r}; choose one of {', '.join(TABLES)}")
    return TABLES[name]
