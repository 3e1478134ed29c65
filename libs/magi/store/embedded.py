"""The embedded MongoDB-wire store of `magi up` and the tests: nx-27017 as a subprocess."""
from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _nx_binary() -> str:
    local = Path(sys.executable).parent / "nx-27017"
    return str(local) if local.exists() else (shutil.which("nx-27017") or "nx-27017")


class EmbeddedMongo:
    """nx-27017 serving `data_dir` on a free (or given) loopback port."""

    def __init__(self, data_dir: str | os.PathLike[str], port: int | None = None):
        self.data_dir = Path(data_dir).resolve()
        self.port = port or free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def uri(self) -> str:
        return f"mongodb://127.0.0.1:{self.port}/"

    def start(self, timeout: float = 15.0) -> str:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        pid_file = self.data_dir / "nx.pid"
        pid_file.unlink(missing_ok=True)  # a stale pid file after a kill -9 blocks the restart
        self.proc = subprocess.Popen(
            [_nx_binary(), "--data-dir", str(self.data_dir), "-p", str(self.port), "--host", "127.0.0.1",
             "--pid-file", str(pid_file), "--log-file", str(self.data_dir / "nx.log")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"nx-27017 exited with {self.proc.returncode}; see {self.data_dir / 'nx.log'}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return self.uri
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"nx-27017 did not listen on {self.port} within {timeout}s")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None

    async def astart(self) -> str:
        return await asyncio.to_thread(self.start)
