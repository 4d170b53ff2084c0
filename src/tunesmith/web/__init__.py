"""The local web studio (``tunesmith serve``): FastAPI app, job workers and a static front-end.

>>> from tunesmith.web import create_app  # doctest: +SKIP
>>> app = create_app("~/.local/share/tunesmith/studio")  # doctest: +SKIP
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from tunesmith.web.app import create_app


def __getattr__(name: str) -> Any:
    # FastAPI is imported only when the studio is used, so `import tunesmith.web.worker` (in every
    # job process) stays light.
    if name == "create_app":
        from tunesmith.web.app import create_app

        return create_app
    raise AttributeError(f"module 'tunesmith.web' has no attribute {name!r}")


__all__ = ["create_app"]
