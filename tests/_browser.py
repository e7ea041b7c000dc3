"""Headless Chromium for the end-to-end tests: Debian's browser driven by Playwright.

`make test` installs Debian's ``chromium`` first (the ``browser`` target in the Makefile);
Playwright's own browser download is not used. Tests that need the browser are skipped, with
the reason, only where it still cannot be found or started.
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"

# Flags this machine needs: no sandbox as root, no GPU, and no background connections
# (Chromium's calls home are refused here and slow every start).
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]


def chromium_path() -> str | None:
    """Debian's Chromium (or ``$CHROMIUM``), or None if it is not installed."""
    for candidate in (os.environ.get("CHROMIUM"), "/usr/bin/chromium", shutil.which("chromium")):
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
    return None


@contextmanager
def browser() -> Iterator[object]:
    """A headless Chromium browser, or skip the test with the reason it cannot run."""
    sync_api = pytest.importorskip(
        "playwright.sync_api",
        reason="the playwright package is not installed (pip install -e '.[dev]')",
    )
    path = chromium_path()
    if path is None:
        pytest.skip(
            "Chromium is not installed at /usr/bin/chromium and could not be installed: run "
            "`make browser` as root on Debian (apt-get install chromium), or set CHROMIUM"
        )
    with sync_api.sync_playwright() as p:
        try:
            b = p.chromium.launch(executable_path=path, args=CHROMIUM_FLAGS, timeout=60_000)
        except Exception as exc:  # a browser that is there but cannot start
            pytest.skip(f"Chromium at {path} did not start: {str(exc).splitlines()[0]}")
        try:
            yield b
        finally:
            b.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def running_server(app) -> Iterator[str]:
    """Serve ``app`` with uvicorn on a free local port in a thread; yield its base URL."""
    import uvicorn

    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the web app did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
