"""Where learned styles live: a folder per style in the user styles folder.

``<styles>/<name>/`` (``$TUNESMITH_STYLES`` or ``~/.local/share/tunesmith/styles``) holds
``style.toml`` (the readable style, the format of the built-in ones), the small adapter
weights, the originality index of the musician's pieces and the card (``card.json``,
``card.md``: what it was learned from, with hashes). A style is built in a hidden
folder beside the others and renamed into place only when complete, so a failed or
interrupted ``tunesmith learn`` never leaves half a style behind; with ``--force`` the
old one is replaced only once the new one is ready.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import tempfile
import uuid
from pathlib import Path

from tunesmith.compose.style import BUILTIN_DIR, style_paths, user_styles_dir
from tunesmith.errors import UsageError

NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")
_BUILDING = ".building"


def check_name(name: str, force: bool) -> Path:
    """The folder a new style called ``name`` goes to.

    Raises
    ------
    UsageError
        A name that is not lower-case letters, digits, ``-`` and ``_`` (40 at most), the name of a
        built-in style, or of an existing style (without ``force``).
    """
    if not NAME_RE.match(name):
        raise UsageError(f"--name {name!r}: use lower-case letters, digits, '-' and '_' (at most 40), e.g. my-tunes")
    if (BUILTIN_DIR / f"{name}.toml").exists():
        raise UsageError(f"--name {name!r} is a built-in style; choose another name")
    target = user_styles_dir() / name
    existing = style_paths().get(name)
    if existing is not None and not force:
        raise UsageError(f"a style called {name!r} exists already ({existing}); give --force to replace it")
    if existing is not None and existing.parent != target and existing.name != "style.toml":
        raise UsageError(f"{existing} is a hand-written style called {name!r}; remove it or choose another name")
    return target


def building_dir(name: str) -> Path:
    """A fresh hidden folder to build a style in (beside the styles, so that it can be renamed into place)."""
    root = user_styles_dir() / _BUILDING
    root.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f"{name}.", dir=root))


def install(built: Path, target: Path) -> None:
    """Move a built style folder to ``target``, replacing what is there only once it is in place."""
    old = None
    if target.exists():
        old = target.with_name(f".{target.name}.old-{uuid.uuid4().hex[:8]}")
        os.replace(target, old)
    try:
        os.replace(built, target)
    except OSError:
        if old is not None:
            os.replace(old, target)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def discard(built: Path) -> None:
    """Remove a half-built style folder."""
    shutil.rmtree(built, ignore_errors=True)
    tidy()


def tidy() -> None:
    """Remove the hidden building folder when nothing is being built in it."""
    with contextlib.suppress(OSError):
        (user_styles_dir() / _BUILDING).rmdir()


def remove_style(name: str) -> Path:
    """Delete a user style (a learned style's folder, or a hand-written ``.toml`` in the user folder).

    Returns
    -------
    Path
        What was removed.

    Raises
    ------
    UsageError
        Built-in or unknown styles.
    """
    path = style_paths().get(name)
    if path is None:
        raise UsageError(f"unknown style {name!r}; `tunesmith styles list` shows the known ones")
    if path.parent == BUILTIN_DIR:
        raise UsageError(f"{name!r} is a built-in style and cannot be removed")
    if path.name == "style.toml" and path.parent.name == name:
        shutil.rmtree(path.parent)
        return path.parent
    path.unlink()
    return path
