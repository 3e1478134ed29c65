"""Run the four MAGI services as separate OS processes (`magi serve <service>`) over RabbitMQ,
the way a deployment runs them, and talk to them over real HTTP through a `tests.suite.Suite`.

Each service is its own process group with its log in a file; a failure prints the logs' tails.
A background task samples each process's resident memory (psutil) every 0.2 s for the bench.

The services' AMQP queues are durable and named `magi.<service>`, so runs sharing a vhost
would consume each other's messages: `isolated_amqp` gives each suite a temporary vhost when
it is pointed at the default vhost of a local broker (rabbitmqctl), and otherwise (the per-run
vhost of `make test`, or no rabbitmqctl) deletes those queues before and after the run.
"""
from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlparse, urlunparse

import aiohttp
import psutil

from magi.config import MagiSettings
from magi.runtime import SERVICES
from tests.conftest import ports
from tests.suite import Suite

ROOT = Path(__file__).resolve().parent.parent
MAGI = str(Path(sys.executable).parent / "magi")
RSS_INTERVAL = 0.2


class ServiceProcess:
    """One `magi serve <service>` process: started in its own process group, logging to a file."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], log_path: Path, url: str):
        self.name, self.argv, self.env, self.log_path, self.url = name, argv, env, log_path, url
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0
        self.peak_rss = 0  # bytes, over every incarnation of the process
        self._ps: psutil.Process | None = None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self) -> None:
        assert not self.running(), f"{self.name} is already running"
        self.starts += 1
        with open(self.log_path, "ab") as log:
            log.write(f"\n=== start #{self.starts}: {' '.join(self.argv)}\n".encode())
            log.flush()
            # start_new_session: a process group (and session) of its own, signalled as a whole.
            self.proc = subprocess.Popen(self.argv, env=self.env, cwd=ROOT, stdin=subprocess.DEVNULL, stdout=log,
                                         stderr=subprocess.STDOUT, start_new_session=True)
        try:
            self._ps = psutil.Process(self.proc.pid)
        except psutil.Error:
            self._ps = None

    def signal(self, sig: int) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, sig)

    async def wait_exit(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while self.proc is not None and self.proc.poll() is None:
            if time.monotonic() >= deadline:
                return False
            await asyncio.sleep(0.05)
        return True

    async def kill(self) -> None:
        """kill -9 the process group: a crash, nothing is flushed or closed."""
        self.signal(signal.SIGKILL)
        await self.wait_exit(10)

    async def stop(self, timeout: float = 15.0) -> int | None:
        """SIGTERM (graceful stop), then SIGKILL after `timeout`. Returns the exit code."""
        if self.proc is None:
            return None
        self.signal(signal.SIGTERM)
        if not await self.wait_exit(timeout):
            self.signal(signal.SIGKILL)
            await self.wait_exit(10)
        return self.proc.poll()

    async def wait_ready(self, http: aiohttp.ClientSession, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        last = "no answer"
        while True:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode} before it was ready\n{self.tail()}")
            try:
                async with http.get(f"{self.url}/health/ready", timeout=aiohttp.ClientTimeout(total=2)) as r:
                    if r.status == 200:
                        return
                    last = f"{r.status} {(await r.text())[:300]}"
            except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
                last = repr(exc)
            if time.monotonic() >= deadline:
                raise RuntimeError(f"{self.name} not ready within {timeout}s (last: {last})\n{self.tail()}")
            await asyncio.sleep(0.1)

    def sample_rss(self) -> int:
        """Current RSS of the process and its children (bytes); updates the peak."""
        if self._ps is None or not self.running():
            return 0
        try:
            procs = [self._ps, *self._ps.children(recursive=True)]
            rss = 0
            for p in procs:
                with contextlib.suppress(psutil.Error):
                    rss += p.memory_info().rss
        except psutil.Error:
            return 0
        self.peak_rss = max(self.peak_rss, rss)
        return rss

    def cpu_seconds(self) -> float:
        """User + system CPU time of the current incarnation (0 when not running)."""
        if self._ps is None or not self.running():
            return 0.0
        try:
            t = self._ps.cpu_times()
            return t.user + t.system
        except psutil.Error:
            return 0.0

    def tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return f"--- {self.name}: no log at {self.log_path}"
        return f"--- {self.name} ({self.log_path}), last {min(lines, len(text))} lines:\n" + "\n".join(text[-lines:])


class RssSampler:
    """Samples the processes' RSS every `interval` seconds in a background task."""

    def __init__(self, procs: Iterable[ServiceProcess], interval: float = RSS_INTERVAL):
        self.procs, self.interval = list(procs), interval
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="rss-sampler")

    async def _loop(self) -> None:
        while True:
            for p in self.procs:
                p.sample_rss()
            await asyncio.sleep(self.interval)

    def reset(self) -> None:
        for p in self.procs:
            p.peak_rss = 0

    def peaks_mb(self) -> dict[str, float]:
        for p in self.procs:
            p.sample_rss()
        return {p.name: round(p.peak_rss / 2**20, 1) for p in self.procs}

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None


class ProcessSuite(Suite):
    """A `Suite` whose services are OS processes: `units` is empty, `procs` has the processes."""

    def __init__(self, settings: MagiSettings, procs: dict[str, ServiceProcess], log_dir: Path, rss: RssSampler):
        super().__init__(settings, units=[], broker=None)
        self.procs, self.log_dir, self.rss = procs, log_dir, rss

    def proc(self, name: str) -> ServiceProcess:
        return self.procs[name]

    async def kill(self, name: str) -> None:
        await self.procs[name].kill()

    async def restart(self, name: str, timeout: float = 60.0) -> None:
        """Start `name` again with the same command line and environment, and wait until ready."""
        p = self.procs[name]
        if p.running():
            await p.stop()
        p.start()
        await p.wait_ready(self.http, timeout)

    def tails(self, lines: int = 40) -> str:
        return "\n".join(p.tail(lines) for p in self.procs.values())


async def delete_queues(amqp_url: str, names: Iterable[str]) -> None:
    """Delete durable queues (ignoring those that do not exist)."""
    import aio_pika

    conn = await aio_pika.connect(amqp_url, timeout=10)
    try:
        for name in names:
            channel = await conn.channel()
            try:
                queue = await channel.get_queue(name, ensure=True)  # passive declare: raises if absent
                await queue.delete(if_unused=False, if_empty=False)
            except Exception:
                pass  # never declared (the failed passive declare closed this channel)
            finally:
                with contextlib.suppress(Exception):
                    if not channel.is_closed:
                        await channel.close()
    finally:
        await conn.close()


def service_queues(services: Iterable[str] = SERVICES) -> list[str]:
    return [f"magi.{s}" for s in services]


async def _rabbitmqctl(*args: str, timeout: float = 60.0) -> bool:
    if not shutil.which("rabbitmqctl"):
        return False
    try:
        proc = await asyncio.create_subprocess_exec("rabbitmqctl", *args, stdin=subprocess.DEVNULL,
                                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    except OSError:
        return False
    try:
        return await asyncio.wait_for(proc.wait(), timeout) == 0
    except asyncio.TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await proc.wait()
        return False


def _default_vhost(url: str) -> bool:
    u = urlparse(url)
    return unquote(u.path or "/") in ("", "/", "//") and (u.hostname or "127.0.0.1") in ("127.0.0.1", "localhost", "::1")


@asynccontextmanager
async def isolated_amqp(amqp_url: str, queues: Iterable[str] | None = None) -> AsyncIterator[str]:
    """A broker namespace of the caller's own; yields the AMQP URL to use.

    On the default vhost of a local broker with a working `rabbitmqctl`: a temporary vhost,
    deleted afterwards, so runs that share the default vhost (two engineers' pytest, a
    `magi up --amqp-url`) never consume each other's `magi.<service>` messages. Otherwise (a
    per-run vhost from `make test`, or no rabbitmqctl): the same URL, and the services' durable
    queues are deleted before and after, so no run inherits stale messages."""
    names = list(queues) if queues is not None else service_queues()
    if _default_vhost(amqp_url):
        vhost = f"magi-procs-{uuid.uuid4().hex[:10]}"
        user = urlparse(amqp_url).username or "guest"
        if await _rabbitmqctl("add_vhost", vhost):
            try:
                if await _rabbitmqctl("set_permissions", "-p", vhost, unquote(user), ".*", ".*", ".*"):
                    yield urlunparse(urlparse(amqp_url)._replace(path="/" + quote(vhost, safe="")))
                    return
            finally:
                await _rabbitmqctl("delete_vhost", vhost)
    await delete_queues(amqp_url, names)
    try:
        yield amqp_url
    finally:
        with contextlib.suppress(Exception):
            await delete_queues(amqp_url, names)


def _argv(service: str) -> list[str]:
    argv = [MAGI, "serve", service]
    if service == "nfvo":
        argv.append("--default-vim")
    return argv


@asynccontextmanager
async def process_suite(mongo_uri: str, amqp_url: str, db_prefix: str, *, log_dir: str | os.PathLike[str] | None = None,
                        ready_timeout: float = 60.0, **env_overrides: Any) -> AsyncIterator[ProcessSuite]:
    """The four services as separate `magi serve` processes; yields a ProcessSuite.

    `env_overrides` are MagiSettings fields (e.g. `sim_latency_ms=300`), given to every process
    as MAGI_<FIELD>. The broker side is `isolated_amqp(amqp_url)` (a temporary vhost on a local
    default vhost, else the services' queues deleted before and after). On exit: SIGTERM, then
    SIGKILL after 15 s; the logs are kept (and their tails printed) only on failure."""
    async with isolated_amqp(amqp_url) as url:
        port_map = ports()
        fields: dict[str, Any] = {"amqp_url": url, "mongodb_uri": mongo_uri, "db_prefix": db_prefix,
                                  "public_host": "127.0.0.1", "host": "127.0.0.1", "notification_backoff": 0.05,
                                  **port_map, **env_overrides}
        settings = MagiSettings(**fields)
        env = {k: v for k, v in os.environ.items() if not k.startswith("MAGI_")}
        env.update({f"MAGI_{k.upper()}": str(v) for k, v in fields.items()})
        env["PYTHONUNBUFFERED"] = "1"
        own_dir = log_dir is None
        logs = Path(tempfile.mkdtemp(prefix="magi-procs-")) if own_dir else Path(log_dir)
        logs.mkdir(parents=True, exist_ok=True)
        procs = {s: ServiceProcess(s, _argv(s), env, logs / f"{s}.log", settings.url(s)) for s in SERVICES}
        rss = RssSampler(procs.values())
        suite = ProcessSuite(settings, procs, logs, rss)
        failed = False
        try:
            async with aiohttp.ClientSession() as http:
                suite.http = http
                for p in procs.values():
                    p.start()
                rss.start()
                for p in procs.values():
                    await p.wait_ready(http, ready_timeout)
                yield suite
        except BaseException:
            failed = True
            raise
        finally:
            await rss.stop()
            for p in reversed(list(procs.values())):
                await p.stop()
            if failed:
                print(f"\n=== MAGI service logs (kept in {logs}) ===\n{suite.tails()}", file=sys.stderr, flush=True)
            elif own_dir:
                shutil.rmtree(logs, ignore_errors=True)
