"""Typed, duplicate-safe component registries; each registry's kind is also its gin module.

A class registered in ``backbones`` under ``PRM`` is reachable from gin as ``@backbones.PRM()``.
Registration goes through ``gin.register`` (which leaves the Python class untouched), so plain
Python calls stay gin-free and subclasses never inherit another class's bindings.
"""
from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any, Callable, Iterator

import gin

from ur4rec.errors import UserError


class RegistryError(UserError, KeyError):
    """A lookup of an unknown name or a second registration under a taken name."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0]) if self.args else ""


@dataclass(frozen=True)
class Entry:
    kind: str
    name: str
    obj: Any

    @property
    def doc(self) -> str:
        text = inspect.getdoc(self.obj) or ""
        return text.strip().splitlines()[0] if text.strip() else ""

    @property
    def params(self) -> list[tuple[str, str]]:
        """(name, default) for each configurable parameter, in signature order."""
        target = self.obj.__init__ if inspect.isclass(self.obj) else self.obj
        out = []
        for p in list(inspect.signature(target).parameters.values()):
            if p.name == "self" or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
                continue
            default = "REQUIRED" if p.default is p.empty else repr(p.default)
            out.append((p.name, default))
        return out


class Registry:
    """One kind of swappable component (``datasets``, ``backbones``, ...)."""

    def __init__(self, kind: str, base: type | None = None):
        self.kind = kind
        self.base = base
        self._entries: dict[str, Entry] = {}

    def register(self, name: str | None = None) -> Callable[[Any], Any]:
        def decorate(obj: Any) -> Any:
            self.add(obj, name)
            return obj

        return decorate

    def add(self, obj: Any, name: str | None = None) -> None:
        key = name or obj.__name__
        if key in self._entries:
            taken = self._entries[key].obj
            raise RegistryError(
                f"{self.kind}: the name {key!r} is taken by {taken.__module__}.{taken.__qualname__}; "
                f"pick another name for {obj.__module__}.{obj.__qualname__}"
            )
        if self.base is not None and inspect.isclass(obj) and not issubclass(obj, self.base):
            raise TypeError(f"{self.kind}: {obj.__qualname__} must subclass {self.base.__qualname__}")
        gin.register(key, module=self.kind)(obj)
        if inspect.isclass(obj):
            obj.registry_name = key  # lets instances report the name they are selected by
        self._entries[key] = Entry(self.kind, key, obj)

    def get(self, name: str) -> Any:
        try:
            return self._entries[name].obj
        except KeyError:
            raise RegistryError(
                f"no {self.kind} component named {name!r}; known: {', '.join(self.names()) or 'none'}"
            ) from None

    def names(self) -> list[str]:
        return sorted(self._entries)

    def entries(self) -> list[Entry]:
        return [self._entries[n] for n in self.names()]

    def __contains__(self, name: str) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())


_REGISTRIES: dict[str, Registry] = {}


def registry(kind: str, base: type | None = None) -> Registry:
    """The registry for ``kind``, created on first use (a base class can be set once)."""
    reg = _REGISTRIES.get(kind)
    if reg is None:
        reg = _REGISTRIES[kind] = Registry(kind, base)
    elif base is not None and reg.base is None:
        reg.base = base
    return reg


def kinds() -> list[str]:
    return sorted(_REGISTRIES)


def all_entries(kind: str | None = None) -> list[Entry]:
    chosen = [kind] if kind else kinds()
    for k in chosen:
        if k not in _REGISTRIES:
            raise RegistryError(f"no component kind {k!r}; known kinds: {', '.join(kinds())}")
    return [e for k in chosen for e in _REGISTRIES[k].entries()]
