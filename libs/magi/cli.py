"""`magi` command line: `up` runs the whole suite, `serve` one service; `vnfpkg validate|onboard`
and `nsd onboard` handle packages (see `magi.cli_packages`).

`magi up` on embedded defaults: the four services in one process, an in-process bus, and an
nx-27017 MongoDB-wire server under `.magi/` (data survives restarts). Give `--amqp-url` and
`--mongodb-uri` (or MAGI_AMQP_URL / MAGI_MONGODB_URI) to use a real RabbitMQ and MongoDB.
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import sys

from magi.config import MagiSettings
from magi.runtime import SERVICES, ServiceUnit, build_unit
from magi.telemetry import setup_logging, setup_tracing


def _settings(args: argparse.Namespace) -> MagiSettings:
    overrides = {}
    if getattr(args, "amqp_url", None):
        overrides["amqp_url"] = args.amqp_url
    if getattr(args, "mongodb_uri", None):
        overrides["mongodb_uri"] = args.mongodb_uri
    if getattr(args, "data_dir", None):
        overrides["data_dir"] = args.data_dir
    return MagiSettings(**overrides)


async def _run(units: list[ServiceUnit], banner: bool) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    started: list[ServiceUnit] = []
    try:
        for u in units:
            await u.start()
            started.append(u)
        if banner:
            print("\nMAGI is up:", file=sys.stderr)
            names = {"nfvo": "NFVO  (SOL005 nslcm/vnfpkgm/nsd, SOL003 grant)", "vnfm": "VNFM  (SOL003 vnflcm)",
                     "vim_adapter": "VIM adapter (inventory)", "monitoring": "Monitoring (inventory)"}
            for u in started:
                print(f"  {names.get(u.name, u.name):50s} {u.url}", file=sys.stderr)
            print("  Ctrl-C stops it.\n", file=sys.stderr, flush=True)
        await stop.wait()
    finally:
        for u in reversed(started):
            await u.stop()


def cmd_up(args: argparse.Namespace) -> int:
    settings = _settings(args)
    setup_logging(settings.log_level)
    setup_tracing()
    embedded = None
    if not settings.mongodb_uri:
        from magi.store.embedded import EmbeddedMongo

        embedded = EmbeddedMongo(os.path.join(settings.data_dir, "mongo"), port=args.mongo_port)
        settings.mongodb_uri = embedded.start()
        print(f"embedded MongoDB-wire store (nx-27017) at {settings.mongodb_uri} with data in {embedded.data_dir}", file=sys.stderr)
    broker = None
    if not settings.amqp_url:
        from magi.bus.memory import InMemoryBroker

        broker = InMemoryBroker(max_redeliveries=settings.delivery_limit)
    try:
        units = []
        for name in SERVICES:
            if name == "nfvo":
                import nfvo.bootstrap as nb

                from magi.runtime import make_context

                units.append(nb.build(make_context("nfvo", settings, list(nb.APIS), broker), register_default_vim=not args.no_default_vim))
            else:
                units.append(build_unit(name, settings, broker))
        asyncio.run(_run(units, banner=True))
    except KeyboardInterrupt:
        pass
    finally:
        if embedded:
            embedded.stop()
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    settings = _settings(args)
    if not settings.amqp_url or not settings.mongodb_uri:
        print("magi serve needs MAGI_AMQP_URL and MAGI_MONGODB_URI (a service alone cannot use the in-process bus)", file=sys.stderr)
        return 2
    setup_logging(settings.log_level)
    setup_tracing()
    if args.service == "nfvo":
        import nfvo.bootstrap as nb

        from magi.runtime import make_context

        unit = nb.build(make_context("nfvo", settings, list(nb.APIS)), register_default_vim=args.default_vim)
    else:
        unit = build_unit(args.service, settings)
    asyncio.run(_run([unit], banner=False))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="magi", description="MAGI: an event-driven ETSI NFV MANO")
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="run the whole suite (embedded defaults unless told otherwise)")
    up.add_argument("--amqp-url", help="RabbitMQ URL (default: in-process bus)")
    up.add_argument("--mongodb-uri", help="MongoDB URI (default: embedded nx-27017 under --data-dir)")
    up.add_argument("--data-dir", help="where embedded data lives (default .magi)")
    up.add_argument("--mongo-port", type=int, default=None, help="port of the embedded store (default: a free one)")
    up.add_argument("--no-default-vim", action="store_true", help="do not register the simulated VIM 'sim-default'")
    up.set_defaults(func=cmd_up)
    serve = sub.add_parser("serve", help="run one service (needs RabbitMQ and MongoDB)")
    serve.add_argument("service", choices=SERVICES)
    serve.add_argument("--amqp-url")
    serve.add_argument("--mongodb-uri")
    serve.add_argument("--default-vim", action="store_true", help="nfvo only: register the simulated VIM 'sim-default'")
    serve.set_defaults(func=cmd_serve)
    from magi import cli_packages

    cli_packages.register(sub)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    raise SystemExit(main())
