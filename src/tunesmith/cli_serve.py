"""``tunesmith serve``: the local web studio in the browser.

Kept apart from :mod:`tunesmith.cli` and added to its app by :func:`register`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from tunesmith.errors import UsageError


def default_data_dir() -> Path:
    """Where the studio keeps uploads and jobs: ``$TUNESMITH_STUDIO`` or ``<user data dir>/tunesmith/studio``."""
    if os.environ.get("TUNESMITH_STUDIO"):
        return Path(os.environ["TUNESMITH_STUDIO"]).expanduser()
    base = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return base / "tunesmith" / "studio"


def serve_cmd(
    port: Annotated[int, typer.Option("--port", help="TCP port.")] = 8765,
    host: Annotated[
        str, typer.Option("--host", help="Address to listen on; anything but 127.0.0.1 needs a token.")
    ] = "127.0.0.1",
    open_browser: Annotated[bool, typer.Option("--open", help="Open the studio in the web browser.")] = False,
    data_dir: Annotated[
        Path | None,
        typer.Option(
            "--data-dir",
            help="Folder for uploads and jobs (default: $TUNESMITH_STUDIO, else ~/.local/share/tunesmith/studio).",
        ),
    ] = None,
    token: Annotated[
        str | None,
        typer.Option("--token", help="Access token (one is generated and printed when serving beyond this machine)."),
    ] = None,
    workers: Annotated[
        int | None, typer.Option("--workers", help="Jobs run at once (default: one per core, 2 to 4).")
    ] = None,
    max_upload_mb: Annotated[int, typer.Option("--max-upload-mb", help="Largest upload, MB.")] = 2048,
) -> None:
    """Start the local studio: master, mix, compose, hum and discover in the browser (offline)."""
    import uvicorn

    from tunesmith.web.app import create_app
    from tunesmith.web.security import is_loopback, new_token

    if not 1 <= port <= 65535:
        raise UsageError(f"--port must be 1..65535, got {port}")
    if workers is not None and not 1 <= workers <= 64:
        raise UsageError(f"--workers must be 1..64, got {workers}")
    if max_upload_mb < 1:
        raise UsageError(f"--max-upload-mb must be at least 1, got {max_upload_mb}")
    if not is_loopback(host) and token is None:
        token = new_token()  # another machine could reach the studio: it must not without this
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    folder = data_dir if data_dir is not None else default_data_dir()
    _check_port_free(host, port)
    _check_folder_free(Path(folder).expanduser())
    app = create_app(folder, token=token, workers=workers, max_upload_bytes=max_upload_mb * 1024 * 1024)
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    shown = f"[{shown}]" if ":" in shown else shown
    url = f"http://{shown}:{port}/" + (f"?token={token}" if token else "")
    print(f"tunesmith studio: {url}", flush=True)
    print(f"  data in {Path(folder).expanduser().resolve()} · Ctrl-C stops it", flush=True)
    if token and not is_loopback(host):
        print("  others on the network need the token in the URL above", flush=True)
    if open_browser:
        import threading
        import webbrowser

        threading.Timer(1.0, lambda: webbrowser.open(url)).start()
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)


def _check_port_free(host: str, port: int) -> None:
    """One line now, rather than a server log later, when the port is taken."""
    import socket

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError as exc:
            raise UsageError(f"cannot listen on {host}:{port} ({exc.strerror}); choose another --port") from None


def _check_folder_free(folder: Path) -> None:
    """Refuse a data folder another running studio holds (its lock is released at once here)."""
    import fcntl

    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "studio.lock", "a+") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise UsageError("another tunesmith studio is using this data folder", folder) from None
        fcntl.flock(fh, fcntl.LOCK_UN)


def register(app: typer.Typer) -> None:
    """Add ``serve`` to the ``tunesmith`` app."""
    app.command("serve")(serve_cmd)
