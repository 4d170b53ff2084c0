"""Recommendations from listening histories and a local music library.

``history`` imports Last.fm, Spotify and generic exports into SQLite; ``collaborative``,
``content`` and ``hybrid`` rank; ``playlist`` re-ranks for variety and writes playlists;
``library`` indexes a folder of audio; ``split`` and ``metrics`` evaluate offline.
Entry points: :func:`recommend` and ``make_playlist`` (the ``playlist`` name is the module).

Examples
--------
>>> from tunesmith.recommend import import_history, recommend  # doctest: +SKIP
>>> import_history("scrobbles.csv", user="anna")  # doctest: +SKIP
>>> [r.label for r in recommend("anna", n=5).items]  # doctest: +SKIP
"""

from __future__ import annotations

import importlib
import os
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "import_history": "tunesmith.recommend.history",
    "Recommender": "tunesmith.recommend.hybrid",
    "scan_library": "tunesmith.recommend.library",
    "make_playlist": "tunesmith.recommend.playlist",
    "write_playlist": "tunesmith.recommend.playlist",
}

if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs
    from tunesmith.recommend.history import import_history
    from tunesmith.recommend.hybrid import Recommender, RecommendReport
    from tunesmith.recommend.library import scan_library
    from tunesmith.recommend.playlist import make_playlist, write_playlist


def recommend(user: str, n: int = 30, db: str | os.PathLike[str] | None = None, **options: Any) -> RecommendReport:
    """Recommendations for ``user`` from the database ``db`` (default: the user data dir).

    ``options`` go to :meth:`tunesmith.recommend.hybrid.Recommender.recommend`
    (``explain``, ``diversity``, ``per_artist``).
    """
    from tunesmith.recommend.hybrid import Recommender

    return Recommender(db).recommend(user, n=n, **options)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'tunesmith.recommend' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])


__all__ = ["Recommender", "import_history", "make_playlist", "recommend", "scan_library", "write_playlist"]
