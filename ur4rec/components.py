"""Import every module under ``ur4rec`` so each registration exists before a gin file is parsed.

Auto-discovery means a new backbone, dataset or ranker is one new file with a decorator: no list
to edit. Heavy third-party libraries (transformers, faiss, lmdb) are imported lazily inside
functions, so this stays cheap. ``UR4REC_PLUGINS`` (comma-separated module names) adds user modules.
"""
from __future__ import annotations

import importlib
import os
import pkgutil

import ur4rec

_SKIP = {"ur4rec.components"}


def import_all() -> list[str]:
    names = []
    for info in pkgutil.walk_packages(ur4rec.__path__, prefix="ur4rec."):
        if info.name in _SKIP or info.name.split(".")[-1].startswith("_"):
            continue
        importlib.import_module(info.name)
        names.append(info.name)
    for plugin in filter(None, (p.strip() for p in os.environ.get("UR4REC_PLUGINS", "").split(","))):
        importlib.import_module(plugin)
        names.append(plugin)
    return names


MODULES = import_all()
