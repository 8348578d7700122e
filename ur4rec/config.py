"""Load gin files and bindings with errors that name the file and line; save the operative config.

gin's search path is rooted at the repository's ``gin/`` folder, so ``include 'datasets/ml-100k.gin'``
works from any experiment file and from the command line.
"""
from __future__ import annotations

import contextlib
import difflib
import hashlib
import importlib.util  # noqa: F401  gin 0.5 uses importlib.util without importing it
import io
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

_INCLUDE = re.compile(r"""^(\s*include\s+['"])([^'"]+)(['"])""")
_MACRO_SET = re.compile(r"^\s*([A-Za-z_]\w*)\s*=", re.MULTILINE)  # NAME = ... (no dot: a macro, not a parameter)
_MACRO_USE = re.compile(r"%([A-Za-z_]\w*)")
# Includes are rewritten to this prefix plus the absolute path the pre-check resolved, and a gin file
# reader registered below serves them: gin itself only searches the current directory and gin/, so
# without it an include the pre-check accepts (a file next to the including one) could not be opened.
_RESOLVED = "ur4rec-gin:"
_TEXTS: dict[Path, str] = {}  # resolved gin file -> its text with includes rewritten


def resolve_gin_file(name: str | Path, relative_to: Path | None = None) -> Path:
    """Find a gin file as given, relative to ``relative_to`` or under ``gin/``; FileNotFoundError if absent."""
    path = Path(name)
    candidates = [path] if path.is_absolute() else [Path.cwd() / path, GIN_DIR / path, GIN_DIR / "experiments" / path]
    if relative_to is not None and not path.is_absolute():
        candidates.insert(0, relative_to / path)
    for cand in candidates:
        if cand.is_file():
            return cand.resolve()
    raise FileNotFoundError(str(name))


def _read_gin(path: Path) -> str:
    try:
        data = path.read_bytes()
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        line = data[:err.start].count(b"\n") + 1
        raise ConfigError(f'In file "{path}", line {line}: not UTF-8 text (byte {data[err.start]:#04x}); '
                          "save the gin file as UTF-8") from None
    except OSError as err:
        raise ConfigError(f'gin file "{path}" cannot be read ({err.strerror or err})') from None


def _check_includes(path: Path, stack: tuple[Path, ...] = ()) -> None:
    """Read ``path`` and every file it includes into _TEXTS, includes rewritten to resolved paths;
    fail with file and line when an include is missing or leads back to a file being read."""
    if path in stack:
        chain = " -> ".join(str(p) for p in stack + (path,))
        raise ConfigError(f'In file "{stack[-1]}": the includes form a loop ({chain}); remove one of them.')
    if path in _TEXTS:
        return
    text = _read_gin(path)
    _check_brackets(path, text)
    lines = text.splitlines(keepends=True)
    for lineno, line in enumerate(lines, start=1):
        match = _INCLUDE.match(line)
        if not match:
            continue
        try:
            target = resolve_gin_file(match.group(2), relative_to=path.parent)
        except FileNotFoundError:
            raise ConfigError(
                f'In file "{path}", line {lineno}: included file {match.group(2)!r} was not found '
                f"(searched next to the file, the current directory and {GIN_DIR})."
            ) from None
        _check_includes(target, stack + (path,))
        lines[lineno - 1] = f"{match.group(1)}{_RESOLVED}{target}{match.group(3)}{line[match.end():]}"
    _TEXTS[path] = "".join(lines)


def _check_brackets(path: Path, text: str) -> None:
    """An unclosed bracket or string, reported with this file's name (gin would name only the includer)."""
    try:
        for _ in tokenize.generate_tokens(io.StringIO(text).readline):
            pass
    except tokenize.TokenError as err:
        message, (line, _) = err.args
        raise ConfigError(f'In file "{path}", line {line}: gin syntax error: {message} '
                          "(an unclosed bracket or quote?)") from None
    except (SyntaxError, ValueError):
        pass  # other tokenizer complaints (e.g. a stray dedent) are gin's to report, with its own message


@contextlib.contextmanager
def _open_resolved(name: str):
    path = Path(name[len(_RESOLVED):])
    if path not in _TEXTS:
        _check_includes(path)
    text = io.StringIO(_TEXTS[path])
    text.name = str(path)  # gin names this file (and its line numbers) in its errors
    yield text


gin.config.register_file_reader(_open_resolved, lambda name: name.startswith(_RESOLVED))


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
    return str(err).strip().replace(_RESOLVED, "")


def load(files: Sequence[str | Path], bindings: Sequence[str] = ()) -> list[Path]:
    """Parse ``files`` then ``bindings`` (in that order) into a fresh gin config; return resolved paths."""
    import ur4rec.components  # noqa: F401  every registration must exist before parsing

    gin.clear_config()
    gin.add_config_file_search_path(str(GIN_DIR))
    _TEXTS.clear()  # re-read: a file may have changed since the last load in this process
    resolved: list[Path] = []
    for name in files:
        try:
            path = resolve_gin_file(name)
        except FileNotFoundError:
            raise ConfigError(f"gin file {str(name)!r} was not found (looked in the current directory, {GIN_DIR} and its experiments/ folder).") from None
        _check_includes(path)
        resolved.append(path)
        _parse(lambda: gin.parse_config_file(_RESOLVED + str(path)), str(path))
    # a macro a -b binding sets must appear in a file, or be used (%NAME) by another binding
    known = _macro_names(_TEXTS.values()) | set(_MACRO_USE.findall("\n".join(bindings)))
    for binding in bindings:
        _check_macro_binding(binding, known, resolved)
        _parse(lambda: gin.parse_config(binding), f"binding -b {binding!r}")
    _parse(gin.finalize, "the combined config")
    return resolved


def _macro_names(texts) -> set[str]:
    """Every macro a text defines (``NAME = ...``) or uses (``%NAME``)."""
    names: set[str] = set()
    for text in texts:
        names.update(_MACRO_SET.findall(text))
        names.update(_MACRO_USE.findall(text))
    return names


def _check_macro_binding(binding: str, known: set[str], files: Sequence[Path]) -> None:
    """A ``-b NAME=value`` for a macro that no file defines or uses would be silently ignored: refuse it."""
    for name in _MACRO_SET.findall(binding):
        if name in known:
            continue
        close = difflib.get_close_matches(name, sorted(known), n=1)
        hint = f" Did you mean {close[0]}?" if close else ""
        shown = ", ".join(str(f) for f in files) or "no gin files"
        raise ConfigError(f"binding -b {binding!r}: no gin file defines or uses the macro {name}, so the binding "
                          f"would change nothing (config: {shown}).{hint}")


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


_AUTO_DTYPE = re.compile(r"(?im)^[\w/.]*dtype\s*=\s*'auto'\s*$")


def config_fingerprint() -> str:
    """sha256 (16 hex) of the whole parsed config: every file and binding, called or not. ``ur4rec run`` stores it
    in metrics.json and ``ur4rec bench`` compares it, so a run made either way is skipped until its config changes.
    A dtype of 'auto' reads the same on every CPU but means bf16 on some and fp32 on others (different LLM texts),
    so where the config has one, what it resolves to here is hashed too."""
    from ur4rec.device import resolve_dtype

    text = gin.config_str()
    if _AUTO_DTYPE.search(text):
        text += f"\n# dtype 'auto' on this machine: {resolve_dtype('auto')}\n"
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def save_operative(run_dir: Path) -> Path:
    """Write the operative config (what was actually used) into the run directory."""
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / "operative_config.gin"
    path.write_text(gin.operative_config_str())
    return path
