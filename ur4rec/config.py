"""Load gin files and bindings with errors that name the file and line; save the operative config.

gin's search path is rooted at the repository's ``gin/`` folder, so ``include 'datasets/ml-100k.gin'``
works from any experiment file and from the command line.
"""
from __future__ import annotations

import importlib.util  # noqa: F401  gin 0.5 uses importlib.util without importing it
import logging
import re
import tokenize
from pathlib import Path
from typing import Sequence

import gin

from ur4rec.errors import ConfigError
from ur4rec.paths import GIN_DIR

class _QuietSearch(logging.Filter):
    """gin logs 'Path not found' for every search-path miss before it finds a file; hide that noise."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("Path not found")


logging.getLogger().addFilter(_QuietSearch())

_INCLUDE = re.compile(r"""^\s*include\s+['"]([^'"]+)['"]""")


def resolve_gin_file(name: str | Path, relative_to: Path | None = None) -> Path:
    """Find a gin file as given, relative to ``relative_to`` or under ``gin/``; None if absent."""
    path = Path(name)
    candidates = [path] if path.is_absolute() else [Path.cwd() / path, GIN_DIR / path, GIN_DIR / "experiments" / path]
    if relative_to is not None and not path.is_absolute():
        candidates.insert(0, relative_to / path)
    for cand in candidates:
        if cand.is_file():
            return cand.resolve()
    raise FileNotFoundError(str(name))


def _check_includes(path: Path, seen: set[Path]) -> None:
    """Fail with file and line when an ``include`` names a file that does not exist."""
    if path in seen:
        return
    seen.add(path)
    for lineno, line in enumerate(path.read_text().splitlines(), start=1):
        match = _INCLUDE.match(line)
        if not match:
            continue
        try:
            target = resolve_gin_file(match.group(1), relative_to=path.parent)
        except FileNotFoundError:
            raise ConfigError(
                f'In file "{path}", line {lineno}: included file {match.group(1)!r} was not found '
                f"(searched next to the file, the current directory and {GIN_DIR})."
            ) from None
        _check_includes(target, seen)


def _describe(err: Exception, source: str) -> str:
    if isinstance(err, SyntaxError):
        loc = err.args[1] if len(err.args) > 1 and hasattr(err.args[1], "line_num") else None
        line = getattr(loc, "line_num", None) or err.lineno
        text = getattr(loc, "line_content", None) or err.text or ""
        file = getattr(loc, "filename", None) or err.filename or source
        return f'In file "{file}", line {line}: gin syntax error: {err.args[0]}\n    {text.strip()}'
    if isinstance(err, tokenize.TokenError):
        message, (line, _) = err.args
        return f'In file "{source}", line {line}: gin syntax error: {message} (an unclosed bracket or quote?)'
    return str(err).strip()


def load(files: Sequence[str | Path], bindings: Sequence[str] = ()) -> list[Path]:
    """Parse ``files`` then ``bindings`` (in that order) into a fresh gin config; return resolved paths."""
    import ur4rec.components  # noqa: F401  every registration must exist before parsing

    gin.clear_config()
    gin.add_config_file_search_path(str(GIN_DIR))
    resolved: list[Path] = []
    for name in files:
        try:
            path = resolve_gin_file(name)
        except FileNotFoundError:
            raise ConfigError(f"gin file {str(name)!r} was not found (looked in the current directory, {GIN_DIR} and its experiments/ folder).") from None
        _check_includes(path, set())
        resolved.append(path)
        _parse(lambda: gin.parse_config_file(str(path)), str(path))
    for binding in bindings:
        _parse(lambda: gin.parse_config(binding), f"binding -b {binding!r}")
    _parse(gin.finalize, "the combined config")
    return resolved


def _parse(step, source: str) -> None:
    try:
        with gin.unlock_config():
            step()
    except ConfigError:
        raise
    except (ValueError, SyntaxError, tokenize.TokenError, OSError, ImportError, AttributeError) as err:
        raise ConfigError(f"{_describe(err, source)}\n(while reading {source})") from err


def required_error(err: Exception, files: Sequence[Path]) -> ConfigError | None:
    """Turn gin's 'Required bindings ... not provided' into a ConfigError; None for other errors."""
    text = str(err)
    if "Required bindings" not in text and "REQUIRED" not in text:
        return None
    first = text.strip().splitlines()[0]
    shown = ", ".join(str(f) for f in files) or "no gin files"
    return ConfigError(f"{first}. Set it in a gin file or with -b 'name.param = value' (config: {shown}).")


def save_operative(run_dir: Path) -> Path:
    """Write the operative config (what was actually used) into the run directory."""
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / "operative_config.gin"
    path.write_text(gin.operative_config_str())
    return path
