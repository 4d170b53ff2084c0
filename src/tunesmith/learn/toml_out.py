"""Writing a learned style as TOML, readable like the hand-written styles.

Python reads TOML (``tomllib``) but does not write it, and a learned style needs only a
small part of the language: strings, numbers, booleans, lists of those, inline tables of
those, and nested tables. :func:`dumps` writes exactly that; ``tomllib`` reading the text
back gives the same document (checked in the tests).
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

_BARE = re.compile(r"^[A-Za-z0-9_-]+$")


def _key(k: str) -> str:
    return k if _BARE.match(k) else json.dumps(k, ensure_ascii=False)


def _scalar(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if not math.isfinite(v):
            raise ValueError(f"TOML has no {v}")
        return repr(round(v, 6))
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)  # a JSON string is a TOML basic string
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_scalar(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{_key(str(k))} = {_scalar(x)}" for k, x in v.items()) + " }"
    raise TypeError(f"cannot write {type(v).__name__} as TOML")


def _is_table(v: Any, depth: int) -> bool:
    """Whether a value is written as a ``[table]`` of its own rather than inline: a dict holding
    another dict; at the top level one of more than three entries; one level down, every dict
    (``[parts.bass]``, ``[sections.verse]``, as the hand-written styles have them)."""
    if not isinstance(v, dict):
        return False
    return any(isinstance(x, dict) for x in v.values()) or (depth == 0 and len(v) > 3) or depth == 1


def dumps(doc: dict[str, Any], comments: dict[str, str] | None = None) -> str:
    """A document as TOML text.

    Parameters
    ----------
    doc : dict
        Nested dicts of strings, numbers, booleans and lists (see :func:`_is_table` for which
        dicts become ``[tables]`` and which are written inline, ``{ a = 1 }``).
    comments : dict of str to str, optional
        A comment line written above a table, by its dotted name (``"harmony"``); ``""`` for
        the top of the file.
    """
    comments = comments or {}
    lines: list[str] = [f"# {line}".rstrip() for line in comments.get("", "").splitlines()]

    def table(path: list[str], body: dict[str, Any]) -> None:
        name = ".".join(_key(p) for p in path)
        note = comments.get(".".join(path), "")
        # A table holding only tables needs no header of its own (TOML defines it implicitly).
        if path and (note or any(not _is_table(v, len(path)) for v in body.values()) or not body):
            lines.append("")
            lines.extend(f"# {c}".rstrip() for c in note.splitlines())
            lines.append(f"[{name}]")
        for k, v in body.items():
            if not _is_table(v, len(path)):
                lines.append(f"{_key(str(k))} = {_scalar(v)}")
        for k, v in body.items():
            if _is_table(v, len(path)):
                table([*path, str(k)], v)

    table([], doc)
    return "\n".join(lines).lstrip("\n") + "\n"
