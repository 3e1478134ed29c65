"""`make bench`: NS instantiate → terminate → delete cycles over RabbitMQ, the four services as
separate `magi serve` processes, next to the broker's own request/reply cost measured in the
same run, so MAGI's overhead reads as a ratio:

* raw aio-pika request/reply round trip: one connection, persistent messages, publisher
  confirms, a durable quorum queue (the queue type MAGI's services use) behind a topic
  exchange, manual ack after the reply is confirmed, direct reply-to;
* the same round trip through MAGI's `AmqpBus` (a catalogued request type, `lcmopocc.get`,
  answered by an echo handler on a bench-only service name), without and with the
  Mongo-backed `ProcessedMessages` de-duplication every MAGI consumer uses;
* N NS lifecycle cycles over SOL005 HTTP with concurrency C: per-cycle latency, p50/p99,
  throughput, and each service's peak RSS and CPU time.

Run by scripts/bench.sh (RabbitMQ, a temporary vhost, nx-27017). Alone:
`MAGI_AMQP_URL=… MAGI_MONGODB_URI=… .venv/bin/python -m tests.bench.bench_ns --cycles 20`.
Loopback only, bounded loops, no timing assertions; exit code 1 if a cycle failed.
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import sys
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import urlparse, urlunparse

import aio_pika

from magi.bus.amqp import REPLY_TO, AmqpBus
from magi.bus.catalog import message
from magi.bus.envelope import Envelope
from magi.runtime import SERVICES
from magi.store.mongo import MongoStore, ProcessedMessages
from tests.procs import delete_queues, isolated_amqp, process_suite

ROOT = Path(__file__).resolve().parents[2]
WARMUP = 50
OP_TIMEOUT = 120.0  # seconds one NS operation may take before the cycle counts as failed
POLL = 0.02
DELETE_RETRIES = 20


# -- statistics -----------------------------------------------------------------------------
def percentile(values: list[float], p: float) -> float:
    """Linear interpolation between closest ranks (numpy's default)."""
    if not values:
        return float("nan")
    xs = sorted(values)
    k = (len(xs) - 1) * p / 100
    lo = int(k)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


def summary(seconds: list[float]) -> dict[str, Any]:
    ms = [s * 1000 for s in seconds]
    if not ms:
        return {"n": 0}
    return {"n": len(ms), "p50_ms": round(percentile(ms, 50), 3), "p99_ms": round(percentile(ms, 99), 3),
            "mean_ms": round(sum(ms) / len(ms), 3), "min_ms": round(min(ms), 3), "max_ms": round(max(ms), 3)}


# -- round trips ----------------------------------------------------------------------------
def _sample_body() -> bytes:
    """A request the size and shape of a MAGI envelope, so both round trips carry the same bytes."""
    return message("lcmopocc.get", {"vnfLcmOpOccId": str(uuid.uuid4())}, source="bench").model_dump_json().encode()


async def raw_rtt(amqp_url: str, n: int, run: str) -> list[float]:
    conn = await aio_pika.connect(amqp_url, timeout=10)
    name = f"bench.raw.{run}"
    try:
        server = await conn.channel(publisher_confirms=True)
        await server.set_qos(prefetch_count=16)
        exchange = await server.declare_exchange(name, aio_pika.ExchangeType.TOPIC, durable=True)
        queue = await server.declare_queue(name, durable=True, arguments={"x-queue-type": "quorum"})
        await queue.bind(exchange, routing_key="bench.echo")

        async def on_request(msg: aio_pika.abc.AbstractIncomingMessage) -> None:
            await server.default_exchange.publish(
                aio_pika.Message(body=msg.body, content_type="application/json", correlation_id=msg.correlation_id,
                                 delivery_mode=aio_pika.DeliveryMode.PERSISTENT),
                routing_key=msg.reply_to)
            await msg.ack()

        consumer_tag = await queue.consume(on_request)
        client = await conn.channel(publisher_confirms=True)
        replies: dict[str, asyncio.Future[bytes]] = {}

        async def on_reply(msg: aio_pika.abc.AbstractIncomingMessage) -> None:
            fut = replies.pop(msg.correlation_id or "", None)
            if fut is not None and not fut.done():
                fut.set_result(msg.body)

        reply_queue = await client.get_queue(REPLY_TO, ensure=False)
        await reply_queue.consume(on_reply, no_ack=True)
        client_exchange = await client.get_exchange(name)
        body = _sample_body()
        loop = asyncio.get_running_loop()
        out: list[float] = []
        for i in range(WARMUP + n):
            cid = str(uuid.uuid4())
            fut = loop.create_future()
            replies[cid] = fut
            t0 = time.perf_counter()
            await client_exchange.publish(
                aio_pika.Message(body=body, content_type="application/json", correlation_id=cid, reply_to=REPLY_TO,
                                 delivery_mode=aio_pika.DeliveryMode.PERSISTENT),
                routing_key="bench.echo")
            await asyncio.wait_for(fut, 10)
            if i >= WARMUP:
                out.append(time.perf_counter() - t0)
        with contextlib.suppress(Exception):
            await queue.cancel(consumer_tag)
        with contextlib.suppress(Exception):
            await queue.delete(if_unused=False, if_empty=False)
        with contextlib.suppress(Exception):
            await exchange.delete()
        return out
    finally:
        await conn.close()


async def bus_rtt(amqp_url: str, n: int, run: str, mongo_uri: str | None = None) -> list[float]:
    """Round trips of `lcmopocc.get` through two AmqpBus instances (as between two services)."""
    service = f"bench_echo_{run}" + ("_dedupe" if mongo_uri else "")
    store = MongoStore(mongo_uri, f"bench{run}_echo") if mongo_uri else None
    server = AmqpBus(service, amqp_url, dedupe=ProcessedMessages(store) if store else None, default_timeout=10)
    client = AmqpBus(f"bench_client_{run}", amqp_url, default_timeout=10)  # binds nothing: no queue

    async def echo(env: Envelope) -> dict[str, Any]:
        return dict(env.payload)

    server.on("lcmopocc.get", echo)
    out: list[float] = []
    try:
        await server.start()
        await client.start()
        for i in range(WARMUP + n):
            env = message("lcmopocc.get", {"vnfLcmOpOccId": str(uuid.uuid4())}, source="bench")
            t0 = time.perf_counter()
            reply = await client.request(env)
            dt = time.perf_counter() - t0
            assert reply.get("vnfLcmOpOccId") == env.payload["vnfLcmOpOccId"], reply  # a correctness check, not timing
            if i >= WARMUP:
                out.append(dt)
    finally:
        await client.close()
        await server.close()
        await delete_queues(amqp_url, [f"magi.{service}"])
        if store is not None:
            with contextlib.suppress(Exception):
                await store.client.drop_database(store.name)
            await store.close()
    return out


# -- NS cycles ------------------------------------------------------------------------------
async def _wait(s: Any, href: str) -> dict[str, Any]:
    deadline = time.monotonic() + OP_TIMEOUT
    while True:
        _, op, _ = await s.req("GET", href, expect=200)
        if op["operationState"] in ("COMPLETED", "FAILED_TEMP", "FAILED", "ROLLED_BACK"):
            return op
        if time.monotonic() > deadline:
            raise TimeoutError(f"{href} still {op['operationState']} after {OP_TIMEOUT}s")
        await asyncio.sleep(POLL)


async def ns_cycle(s: Any, nsd_id: str, i: int) -> dict[str, float]:
    t0 = time.perf_counter()
    _, ns, _ = await s.req("POST", f"{s.nfvo}/nslcm/v2/ns_instances", json={"nsdId": nsd_id, "nsName": f"bench-{i}", "nsDescription": "bench"}, expect=201)
    _, _, h = await s.req("POST", f"{s.nfvo}/nslcm/v2/ns_instances/{ns['id']}/instantiate", json={"nsFlavourId": "default"}, expect=202)
    op = await _wait(s, h["Location"])
    if op["operationState"] != "COMPLETED":
        raise RuntimeError(f"instantiate {op['operationState']}: {(op.get('error') or {}).get('detail')}")
    t1 = time.perf_counter()
    _, _, h = await s.req("POST", f"{s.nfvo}/nslcm/v2/ns_instances/{ns['id']}/terminate", json={}, expect=202)
    op = await _wait(s, h["Location"])
    if op["operationState"] != "COMPLETED":
        raise RuntimeError(f"terminate {op['operationState']}: {(op.get('error') or {}).get('detail')}")
    t2 = time.perf_counter()
    # DELETE right after terminate COMPLETED can meet a 409 "changed while being deleted" (the
    # NFVO frees the instance just after writing the op occ COMPLETED): retried, bounded, and
    # counted so the race stays visible in the results.
    conflicts = 0
    while True:
        status, body, _ = await s.req("DELETE", f"{s.nfvo}/nslcm/v2/ns_instances/{ns['id']}")
        if status == 204:
            break
        if status != 409 or conflicts >= DELETE_RETRIES:
            raise RuntimeError(f"DELETE ns_instances/{ns['id']} → {status} {body} (after {conflicts} 409 retries)")
        conflicts += 1
        await asyncio.sleep(0.05)
    t3 = time.perf_counter()
    return {"cycle": t3 - t0, "instantiate": t1 - t0, "terminate": t2 - t1, "delete": t3 - t2, "delete_409": conflicts}


async def run_cycles(s: Any, nsd_id: str, cycles: int, concurrency: int) -> tuple[list[dict[str, float]], list[str], float]:
    results: list[dict[str, float]] = []
    errors: list[str] = []
    todo = iter(range(cycles))

    async def worker() -> None:
        for i in todo:
            try:
                results.append(await ns_cycle(s, nsd_id, i))
            except Exception as exc:  # counted and reported; the run goes on
                errors.append(f"cycle {i}: {exc!r}"[:500])

    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(max(1, min(concurrency, cycles)))))
    return results, errors, time.perf_counter() - t0


# -- the run --------------------------------------------------------------------------------
def _safe_url(url: str) -> str:
    u = urlparse(url)
    host = u.hostname or ""
    if u.port:
        host += f":{u.port}"
    return urlunparse(u._replace(netloc=host))


async def bench(args: argparse.Namespace, amqp_url: str, mongo_uri: str) -> tuple[dict[str, Any], int]:
    # A vhost of the bench's own (or, failing that, no stale `magi.*` queues: they would also be
    # bound to lcmopocc.get and answer the echo requests).
    async with isolated_amqp(amqp_url) as url:
        return await _bench(args, url, mongo_uri)


async def _bench(args: argparse.Namespace, amqp_url: str, mongo_uri: str) -> tuple[dict[str, Any], int]:
    run = uuid.uuid4().hex[:8]
    print(f"round trips: {args.rtt} each (after {WARMUP} warm-up) …", file=sys.stderr, flush=True)
    raw = await raw_rtt(amqp_url, args.rtt, run)
    bus = await bus_rtt(amqp_url, args.rtt, run)
    bus_dd = await bus_rtt(amqp_url, args.rtt, run, mongo_uri)

    overrides: dict[str, Any] = {"log_level": args.log_level}
    if args.sim_latency_ms:
        overrides["sim_latency_ms"] = args.sim_latency_ms
    print(f"NS cycles: {args.cycles} with concurrency {args.concurrency} …", file=sys.stderr, flush=True)
    async with process_suite(mongo_uri, amqp_url, f"bench{run}", **overrides) as s:
        vnfd_id, nsd_id = str(uuid.uuid4()), str(uuid.uuid4())
        await s.onboard(vnfd_id, nsd_id)
        idle = s.rss.peaks_mb()
        s.rss.reset()
        cpu0 = {n: p.cpu_seconds() for n, p in s.procs.items()}
        results, errors, wall = await run_cycles(s, nsd_id, args.cycles, args.concurrency)
        cpu = {n: round(p.cpu_seconds() - cpu0[n], 2) for n, p in s.procs.items()}
        peak = s.rss.peaks_mb()
        _, left, _ = await s.req("GET", f"{s.vim}/magi/v1/vim_resources", expect=200)
        _, ns_left, _ = await s.req("GET", f"{s.nfvo}/nslcm/v2/ns_instances", expect=200)

    raw_s, bus_s, dd_s = summary(raw), summary(bus), summary(bus_dd)
    cyc = {k: summary([r[k] for r in results]) for k in ("cycle", "instantiate", "terminate", "delete")}
    def ratio(a: float | None, b: float | None) -> float | None:
        return round(a / b, 2) if a is not None and b else None

    report = {
        "time": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "config": {"cycles": args.cycles, "concurrency": args.concurrency, "rtt_round_trips": args.rtt, "warmup": WARMUP,
                   "sim_latency_ms": args.sim_latency_ms, "amqp_url": _safe_url(amqp_url), "mongodb_uri": _safe_url(mongo_uri),
                   "services": list(SERVICES), "topology": "4 `magi serve` processes, RabbitMQ, nx-27017",
                   "python": platform.python_version(), "aio_pika": aio_pika.__version__, "cpus": os.cpu_count(),
                   "platform": platform.platform()},
        "rtt": {"raw_aio_pika": raw_s, "amqpbus": bus_s, "amqpbus_dedupe": dd_s},
        "ns": {**cyc, "ok": len(results), "failed": len(errors),
               "delete_409_retries": sum(int(r["delete_409"]) for r in results),
               "cycles_with_delete_409": sum(1 for r in results if r["delete_409"]), "errors": errors[:20], "wall_s": round(wall, 3),
               "throughput_cycles_per_s": round(len(results) / wall, 3) if wall else None,
               "leftover_vim_resources": len(left or []), "leftover_ns_instances": len(ns_left or [])},
        "services": {n: {"rss_idle_mb": idle[n], "rss_peak_mb": peak[n], "cpu_s_during_cycles": cpu[n]} for n in SERVICES},
        "overhead": {"amqpbus_p50_over_raw_p50": ratio(bus_s.get("p50_ms"), raw_s.get("p50_ms")),
                     "amqpbus_dedupe_p50_over_raw_p50": ratio(dd_s.get("p50_ms"), raw_s.get("p50_ms")),
                     "ns_cycle_p50_over_raw_p50": ratio(cyc["cycle"].get("p50_ms"), raw_s.get("p50_ms"))},
    }
    return report, (1 if errors else 0)


def table(r: dict[str, Any]) -> str:
    c = r["config"]
    lines = [f"MAGI bench {r['time']}: {c['cycles']} NS cycles (create→instantiate→terminate→delete), concurrency {c['concurrency']}",
             f"  {c['topology']}; {c['amqp_url']}; {c['cpus']} CPUs; Python {c['python']}, aio-pika {c['aio_pika']}",
             "", f"  {'measure':34s} {'n':>5s} {'p50 ms':>9s} {'p99 ms':>9s} {'mean ms':>9s} {'max ms':>9s}"]

    def row(label: str, s: dict[str, Any]) -> None:
        if not s.get("n"):
            lines.append(f"  {label:34s} {0:5d}")
            return
        lines.append(f"  {label:34s} {s['n']:5d} {s['p50_ms']:9.2f} {s['p99_ms']:9.2f} {s['mean_ms']:9.2f} {s['max_ms']:9.2f}")

    row("raw aio-pika request/reply RTT", r["rtt"]["raw_aio_pika"])
    row("AmqpBus request/reply RTT", r["rtt"]["amqpbus"])
    row("AmqpBus RTT + dedupe (Mongo)", r["rtt"]["amqpbus_dedupe"])
    row("NS cycle", r["ns"]["cycle"])
    row("  instantiate (POST→COMPLETED)", r["ns"]["instantiate"])
    row("  terminate (POST→COMPLETED)", r["ns"]["terminate"])
    row("  delete", r["ns"]["delete"])
    ns = r["ns"]
    o = {k: ("n/a" if v is None else v) for k, v in r["overhead"].items()}
    lines += ["", f"  throughput {ns['throughput_cycles_per_s']} cycles/s ({ns['ok']} ok, {ns['failed']} failed in {ns['wall_s']} s);"
                  f" left over: {ns['leftover_vim_resources']} VIM resources, {ns['leftover_ns_instances']} NS instances",
              f"  DELETE after terminate answered 409 (then retried) in {ns['cycles_with_delete_409']} cycles"
              f" ({ns['delete_409_retries']} retries)",
              f"  overhead: AmqpBus p50 / raw p50 = {o['amqpbus_p50_over_raw_p50']}x, with dedupe {o['amqpbus_dedupe_p50_over_raw_p50']}x;"
              f" NS cycle p50 / raw RTT p50 = {o['ns_cycle_p50_over_raw_p50']}x",
              "", f"  {'service':14s} {'RSS idle MB':>12s} {'RSS peak MB':>12s} {'CPU s (cycles)':>15s}"]
    for n, v in r["services"].items():
        lines.append(f"  {n:14s} {v['rss_idle_mb']:12.1f} {v['rss_peak_mb']:12.1f} {v['cpu_s_during_cycles']:15.2f}")
    for e in ns["errors"]:
        lines.append(f"  error: {e}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="bench_ns", description=__doc__.split("\n\n")[0])
    p.add_argument("--cycles", type=int, default=int(os.environ.get("BENCH_CYCLES", 20)), help="NS cycles (default 20)")
    p.add_argument("--concurrency", type=int, default=int(os.environ.get("BENCH_CONCURRENCY", 5)), help="cycles at once (default 5)")
    p.add_argument("--rtt", type=int, default=1000, help="round trips of each RTT measure (default 1000)")
    p.add_argument("--sim-latency-ms", type=float, default=0.0, help="simulated VIM latency per resource call (default 0)")
    p.add_argument("--log-level", default="WARNING", help="the services' log level (default WARNING)")
    p.add_argument("--out", default=str(ROOT / "bench-results"), help="where the JSON goes (default bench-results/)")
    args = p.parse_args(argv)
    if args.cycles < 1 or args.concurrency < 1 or args.rtt < 1:
        p.error("--cycles, --concurrency and --rtt must be >= 1")

    amqp_url = os.environ.get("MAGI_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
    mongo_uri = os.environ.get("MAGI_MONGODB_URI")
    embedded = None
    if not mongo_uri:
        import tempfile

        from magi.store.embedded import EmbeddedMongo

        embedded = EmbeddedMongo(tempfile.mkdtemp(prefix="magi-bench-nx-"))
        mongo_uri = embedded.start()
    try:
        report, code = asyncio.run(bench(args, amqp_url, mongo_uri))
    finally:
        if embedded is not None:
            embedded.stop()
            import shutil

            shutil.rmtree(embedded.data_dir, ignore_errors=True)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    text = json.dumps(report, indent=2)
    (out / f"bench-{stamp}.json").write_text(text + "\n")
    (out / "latest.json").write_text(text + "\n")
    print(table(report))
    print(f"\n  JSON: {out / f'bench-{stamp}.json'} (and {out / 'latest.json'})")
    return code


if __name__ == "__main__":
    raise SystemExit(main())
