"""Run a studio on 127.0.0.1 in a background thread: for browser tests and the benchmark."""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def running_studio(data_dir: str | os.PathLike[str], **options: Any) -> Iterator[str]:
    """Serve ``create_app(data_dir, **options)`` with uvicorn on a free 127.0.0.1 port; yield its URL.

    The server (and its job workers) stops when the block ends.

    Raises
    ------
    RuntimeError
        The server did not start within 30 s.
    """
    import uvicorn

    from tunesmith.web.app import create_app

    port = free_port()
    config = uvicorn.Config(
        create_app(data_dir, **options), host="127.0.0.1", port=port, log_level="warning", access_log=False
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="tunesmith-studio", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30.0
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            raise RuntimeError("the studio did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
