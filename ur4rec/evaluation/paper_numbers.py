"""The paper's reported numbers (UR4Rec, Tables 1, 2, 3, 5 and 6), printed beside ours by ``ur4rec bench``.

Copied verbatim from the paper's tables (``*`` = the paper's significance mark: better than all
baselines, paired t-test p < 0.05). Figure 4 is only a plot in the paper, so it has no numbers here.
The paper reports MovieLens-1M, Amazon-Book and Steam; it has no MovieLens-100K results.

``lookup(table, dataset, group, row, metric)`` answers with a ``PaperNumber`` or None; ``dataset`` is
our dataset name (``ml-1m``, ``amazon-book``, ``steam``), ``group`` the backbone (``dlcm`` ...) or ""
for Table 5, ``row`` the paper's row name (``Base``, ``+Llama2``, ``w/o Retr``, ...).
"""
from __future__ import annotations

from dataclasses import dataclass

DATASETS = {"ml-1m": "MovieLens-1M", "amazon-book": "Amazon-Book", "steam": "Steam"}  # ours -> the paper's columns
BACKBONES = {"DLCM": "dlcm", "PRM": "prm", "SetRank": "setrank", "SASRec": "sasrec", "GRU4Rec": "gru4rec"}

# Table 1: users, items, interactions after the paper's k-core filtering
TABLE1 = {"ml-1m": (6040, 3883, 1000209), "amazon-book": (11906, 17332, 1585172), "steam": (6959, 2889, 717862)}

# Tables 2 and 6: backbone, variant, then 4 metrics for each of MovieLens-1M, Amazon-Book, Steam

TABLE2_METRICS = ("MAP@1", "MAP@5", "NDCG@1", "NDCG@5")
TABLE2 = """
    DLCM Base 0.158 0.235 0.158 0.271 0.024 0.047 0.024 0.058 0.139 0.206 0.139 0.238
    DLCM +BERT 0.215 0.324 0.215 0.371 0.108 0.185 0.108 0.222 0.145 0.216 0.145 0.249
    DLCM +Llama2 0.229 0.341 0.229 0.387 0.127 0.207 0.127 0.245 0.156 0.231 0.156 0.265
    DLCM KAR 0.257 0.388 0.257 0.424 0.176 0.250 0.176 0.286 0.180 0.253 0.180 0.287
    DLCM UR4Rec 0.484* 0.588* 0.484* 0.631* 0.262* 0.379* 0.262* 0.428* 0.215* 0.307* 0.215* 0.348*
    PRM Base 0.156 0.242 0.156 0.283 0.025 0.048 0.025 0.060 0.141 0.209 0.141 0.241
    PRM +BERT 0.210 0.307 0.210 0.349 0.078 0.144 0.078 0.175 0.145 0.214 0.145 0.245
    PRM +Llama2 0.223 0.328 0.223 0.374 0.101 0.169 0.101 0.202 0.156 0.224 0.156 0.256
    PRM KAR 0.269 0.369 0.269 0.424 0.141 0.201 0.141 0.245 0.177 0.255 0.177 0.276
    PRM UR4Rec 0.501* 0.606* 0.501* 0.649* 0.280* 0.387* 0.280* 0.433* 0.214* 0.304* 0.214* 0.345*
    SetRank Base 0.154 0.239 0.154 0.279 0.024 0.047 0.024 0.059 0.128 0.203 0.128 0.236
    SetRank +BERT 0.212 0.305 0.212 0.346 0.104 0.184 0.104 0.223 0.144 0.215 0.144 0.248
    SetRank +Llama2 0.238 0.344 0.238 0.366 0.119 0.201 0.119 0.238 0.157 0.229 0.157 0.261
    SetRank KAR 0.283 0.407 0.283 0.425 0.172 0.241 0.172 0.276 0.173 0.250 0.173 0.284
    SetRank UR4Rec 0.509* 0.614* 0.509* 0.655* 0.313* 0.425* 0.313* 0.471* 0.190* 0.286* 0.190* 0.329*
    SASRec Base 0.345 0.505 0.345 0.555 0.428 0.539 0.428 0.584 0.206 0.304 0.206 0.348
    SASRec +BERT 0.348 0.510 0.348 0.557 0.437 0.545 0.437 0.593 0.222 0.318 0.222 0.361
    SASRec +Llama2 0.354 0.517 0.354 0.565 0.454 0.552 0.454 0.609 0.228 0.321 0.228 0.369
    SASRec KAR 0.363 0.525 0.363 0.579 0.484 0.584 0.484 0.630 0.235 0.330 0.235 0.377
    SASRec UR4Rec 0.400* 0.546* 0.400* 0.606* 0.537* 0.622* 0.537* 0.661* 0.259* 0.348 0.259* 0.388
    GRU4Rec Base 0.240 0.340 0.240 0.383 0.325 0.407 0.325 0.441 0.180 0.267 0.180 0.306
    GRU4Rec +BERT 0.254 0.355 0.254 0.401 0.351 0.463 0.351 0.512 0.192 0.280 0.192 0.320
    GRU4Rec +Llama2 0.263 0.366 0.263 0.410 0.366 0.481 0.366 0.530 0.213 0.305 0.213 0.346
    GRU4Rec KAR 0.302 0.381 0.302 0.439 0.437 0.538 0.437 0.580 0.219 0.312 0.219 0.353
    GRU4Rec UR4Rec 0.335* 0.417* 0.335* 0.468* 0.476* 0.573* 0.476* 0.613* 0.242* 0.334* 0.242* 0.375*
"""

TABLE6_METRICS = ("MAP@10", "MAP@20", "NDCG@10", "NDCG@20")
TABLE6 = """
    DLCM Base 0.253 0.265 0.315 0.359 0.056 0.063 0.080 0.106 0.224 0.234 0.282 0.318
    DLCM +BERT 0.344 0.354 0.421 0.458 0.206 0.217 0.271 0.313 0.234 0.244 0.293 0.329
    DLCM +Llama2 0.361 0.371 0.435 0.473 0.228 0.239 0.295 0.338 0.248 0.258 0.307 0.346
    DLCM KAR 0.404 0.421 0.477 0.516 0.284 0.298 0.337 0.384 0.280 0.291 0.332 0.378
    DLCM UR4Rec 0.601* 0.606* 0.661* 0.678* 0.396* 0.405* 0.471* 0.502* 0.327* 0.336* 0.396* 0.431*
    PRM Base 0.262 0.273 0.330 0.372 0.057 0.064 0.081 0.109 0.227 0.237 0.284 0.322
    PRM +BERT 0.327 0.337 0.399 0.435 0.164 0.177 0.224 0.271 0.231 0.241 0.289 0.327
    PRM +Llama2 0.348 0.368 0.421 0.460 0.189 0.191 0.250 0.296 0.242 0.252 0.300 0.338
    PRM KAR 0.409 0.440 0.462 0.509 0.231 0.254 0.293 0.332 0.276 0.283 0.310 0.358
    PRM UR4Rec 0.618* 0.622* 0.676* 0.692* 0.404* 0.415* 0.473* 0.501* 0.324* 0.334* 0.391* 0.430*
    SetRank Base 0.258 0.270 0.324 0.369 0.055 0.061 0.076 0.098 0.220 0.231 0.279 0.316
    SetRank +BERT 0.325 0.336 0.396 0.435 0.206 0.218 0.274 0.317 0.233 0.244 0.291 0.331
    SetRank +Llama2 0.364 0.374 0.414 0.452 0.221 0.233 0.289 0.334 0.245 0.256 0.300 0.341
    SetRank KAR 0.438 0.458 0.456 0.496 0.264 0.277 0.324 0.371 0.276 0.288 0.325 0.365
    SetRank UR4Rec 0.624* 0.629* 0.681* 0.697* 0.440* 0.447* 0.507* 0.532* 0.306* 0.317* 0.378* 0.417*
    SASRec Base 0.525 0.532 0.588 0.608 0.551 0.556 0.613 0.630 0.324 0.334 0.397 0.435
    SASRec +BERT 0.529 0.537 0.591 0.613 0.560 0.568 0.623 0.648 0.337 0.348 0.408 0.447
    SASRec +Llama2 0.532 0.545 0.608 0.621 0.567 0.575 0.631 0.659 0.342 0.355 0.414 0.452
    SASRec KAR 0.543 0.556 0.618 0.638 0.593 0.609 0.653 0.681 0.351 0.362 0.424 0.460
    SASRec UR4Rec 0.559* 0.564* 0.639* 0.658 0.634* 0.648* 0.678 0.714* 0.367 0.377* 0.434* 0.470
    GRU4Rec Base 0.356 0.368 0.421 0.450 0.421 0.429 0.475 0.505 0.285 0.296 0.350 0.389
    GRU4Rec +BERT 0.371 0.381 0.438 0.467 0.482 0.490 0.545 0.571 0.299 0.309 0.369 0.402
    GRU4Rec +Llama2 0.380 0.388 0.446 0.475 0.508 0.517 0.564 0.592 0.323 0.334 0.391 0.429
    GRU4Rec KAR 0.398 0.409 0.461 0.488 0.551 0.558 0.602 0.625 0.331 0.341 0.399 0.437
    GRU4Rec UR4Rec 0.434* 0.442* 0.495* 0.515* 0.585* 0.591* 0.642* 0.662* 0.353* 0.363* 0.422* 0.456*
"""

# Table 5: model, then 4 metrics for each dataset (UR4Rec = SASRec + UR4Rec, as in Table 6)
TABLE5_METRICS = ("MAP@1", "MAP@10", "NDCG@1", "NDCG@10")
TABLE5 = """
    LRURec 0.378 0.545 0.378 0.612 0.491 0.589 0.491 0.655 0.209 0.322 0.209 0.391
    Recformer 0.388 0.551 0.388 0.624 0.513 0.602 0.513 0.663 0.231 0.346 0.231 0.405
    UR4Rec 0.400* 0.559* 0.400* 0.639* 0.537* 0.634* 0.537* 0.678* 0.259* 0.367* 0.259* 0.434*
"""

# Table 3: per dataset, variant then PRM M@10, N@10, GRU4Rec M@10, N@10
TABLE3_METRICS = ("MAP@10", "NDCG@10")
TABLE3 = """
    MovieLens-1M
    UR4Rec 0.618 0.676 0.434 0.495
    w/o Retr 0.348 0.421 0.380 0.446
    w/o proxy 0.545 0.615 0.409 0.464
    proxy random 0.570 0.632 0.422 0.481
    w/o CL 0.554 0.616 0.418 0.472
    w/o PIM 0.527 0.597 0.401 0.451
    w/o LLM 0.521 0.590 0.380 0.448
    w/o pretrain 0.524 0.592 0.396 0.449
    Amazon-book
    UR4Rec 0.404 0.473 0.585 0.642
    w/o Retr 0.189 0.250 0.508 0.564
    w/o proxy 0.284 0.368 0.570 0.627
    proxy random 0.330 0.416 0.579 0.635
    w/o CL 0.364 0.437 0.572 0.630
    w/o PIM 0.359 0.428 0.567 0.624
    w/o LLM 0.323 0.411 0.548 0.603
    w/o pretrain 0.278 0.353 0.556 0.609
    Steam
    UR4Rec 0.324 0.391 0.353 0.422
    w/o Retr 0.242 0.300 0.323 0.391
    w/o proxy 0.290 0.356 0.335 0.407
    proxy random 0.305 0.361 0.343 0.411
    w/o CL 0.306 0.373 0.334 0.409
    w/o PIM 0.301 0.366 0.329 0.398
    w/o LLM 0.278 0.341 0.317 0.383
    w/o pretrain 0.295 0.359 0.328 0.392
"""



@dataclass(frozen=True)
class PaperNumber:
    value: float
    significant: bool  # the paper's "*"

    def __str__(self) -> str:
        return f"{self.value:.3f}" + ("*" if self.significant else "")


def _number(text: str) -> PaperNumber:
    return PaperNumber(float(text.rstrip("*")), text.endswith("*"))


def _backbone_tables() -> dict:
    """{(table, dataset, backbone, row, metric): PaperNumber} for Tables 2 and 6."""
    out = {}
    for table, text, metrics in (("table2", TABLE2, TABLE2_METRICS), ("table6", TABLE6, TABLE6_METRICS)):
        for line in text.strip().splitlines():
            backbone, row, *cells = line.split()
            for d, dataset in enumerate(DATASETS):
                for m, metric in enumerate(metrics):
                    out[(table, dataset, BACKBONES[backbone], row, metric)] = _number(cells[4 * d + m])
    return out


def _table5() -> dict:
    out = {}
    for line in TABLE5.strip().splitlines():
        row, *cells = line.split()
        for d, dataset in enumerate(DATASETS):
            for m, metric in enumerate(TABLE5_METRICS):
                out[("table5", dataset, "", row, metric)] = _number(cells[4 * d + m])
    return out


def _table3() -> dict:
    out, names, dataset = {}, {v.lower(): k for k, v in DATASETS.items()}, None
    for line in TABLE3.strip().splitlines():
        words = line.split()
        if len(words) == 1:  # a dataset heading
            dataset = names[words[0].lower()]
            continue
        row, cells = " ".join(words[:-4]), words[-4:]
        for b, backbone in enumerate(("prm", "gru4rec")):
            for m, metric in enumerate(TABLE3_METRICS):
                out[("table3", dataset, backbone, row, metric)] = _number(cells[2 * b + m])
    return out


NUMBERS = {**_backbone_tables(), **_table5(), **_table3()}


def lookup(table: str, dataset: str, group: str, row: str | None, metric: str) -> PaperNumber | None:
    """The paper's number for one cell, or None (no such dataset, row or metric in that table)."""
    if row is None:
        return None
    return NUMBERS.get((table, dataset, group, row, metric))


def has_dataset(table: str, dataset: str) -> bool:
    return any(key[0] == table and key[1] == dataset for key in NUMBERS)
