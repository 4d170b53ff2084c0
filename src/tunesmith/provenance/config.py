"""The user's tunesmith settings: a small JSON file in the user's config folder.

Only settings that change what tunesmith writes live here (today: the signing certificate
and key). The folder is ``$TUNESMITH_CONFIG_DIR`` when set (tests point it at a temporary
folder), else the platform's config folder (``~/.config/tunesmith`` on Linux).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from tunesmith.atomic import write_text_atomic
from tunesmith.errors import InputFileError, UsageError

CONFIG_NAME = "config.json"

# Every setting the user can change, with what it means; `tunesmith config show` lists them.
SETTINGS: dict[str, str] = {
    "signing.cert": "PEM certificate chain (signer first) used to sign content credentials and recipes",
    "signing.key": "PEM private key matching signing.cert (keep it readable by you only)",
}
_PATH_SETTINGS = {"signing.cert", "signing.key"}


def config_dir() -> Path:
    """The folder holding ``config.json`` and the local signing key (not created here)."""
    explicit = os.environ.get("TUNESMITH_CONFIG_DIR")
    if explicit:
        return Path(explicit).expanduser()
    try:
        from platformdirs import user_config_dir

        return Path(user_config_dir("tunesmith", appauthor=False))
    except ImportError:  # platformdirs is a dependency, but the XDG rule is all it does on Linux
        base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
        return Path(base) / "tunesmith"


def config_path() -> Path:
    """The settings file, ``<config dir>/config.json``."""
    return config_dir() / CONFIG_NAME


def load_config() -> dict[str, Any]:
    """The saved settings as a flat ``{"signing.cert": ...}`` mapping (empty when none are saved).

    Raises
    ------
    InputFileError
        If the file exists but is not a JSON object.
    """
    path = config_path()
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputFileError(
            f"not a valid tunesmith config ({exc.__class__.__name__}); fix or delete it", path
        ) from None
    if not isinstance(data, dict):
        raise InputFileError("not a valid tunesmith config (expected a JSON object); fix or delete it", path)
    return {str(k): v for k, v in data.items()}


def get_setting(key: str) -> Any:
    """One setting's value, or ``None`` when it is not set.

    Raises
    ------
    UsageError
        If ``key`` is not a known setting.
    """
    _check_key(key)
    return load_config().get(key)


def set_setting(key: str, value: str | None) -> Any:
    """Save one setting (``None`` removes it) and return the stored value.

    Paths are stored absolute and must name an existing file, so a later run from
    another folder finds them.

    Raises
    ------
    UsageError
        If the key is unknown or a path setting names no file.
    """
    _check_key(key)
    config = load_config()
    if value is None:
        config.pop(key, None)
        stored: Any = None
    else:
        stored = value
        if key in _PATH_SETTINGS:
            path = Path(value).expanduser().resolve()
            if not path.is_file():
                raise UsageError(f"{key}: no such file", value)
            stored = str(path)
        config[key] = stored
    folder = config_dir()
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    write_text_atomic(config_path(), json.dumps(config, indent=2, sort_keys=True) + "\n")
    return stored


def _check_key(key: str) -> None:
    if key not in SETTINGS:
        raise UsageError(f"unknown setting {key!r}; known: {', '.join(sorted(SETTINGS))}")
