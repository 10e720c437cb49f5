"""`python -m app`: serve Setroom with uvicorn (the Makefile's `make run` adds --demo)."""

from __future__ import annotations

import argparse
import os
import sys

import uvicorn

from app import cli, logs
from app.db.database import migrate
from app.settings import Settings


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] in cli.COMMANDS:
        sys.exit(cli.COMMANDS[sys.argv[1]](sys.argv[2:]))
    parser = argparse.ArgumentParser(
        prog="python -m app",
        description="Serve Setroom. Administration: python -m app create-lead --help",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument(
        "--demo",
        action="store_true",
        help="create the demo set on first start and print its join links",
    )
    parser.add_argument(
        "--migrate-only",
        action="store_true",
        help="bring the database to the newest schema and exit (run it once before replicas)",
    )
    parser.add_argument("--log-level", default="info", choices=["debug", "info", "warning"])
    args = parser.parse_args()
    settings = Settings()
    if args.migrate_only:
        migrate(settings.database_url)
        return
    if args.workers > 1 and settings.broker_url.startswith("memory://"):
        # Each worker would be a room of its own: members on different workers would not see
        # each other's changes, and each worker would sweep the others' connections at start.
        parser.error("several workers need a shared broker: set SETROOM_BROKER_URL=redis://...")
    if args.demo:
        os.environ["SETROOM_DEMO"] = "true"
    uvicorn.run(
        "app.main:create_app",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        ws_max_size=64 * 1024,
        ws_per_message_deflate=False,
        ws_ping_interval=settings.ws_ping_interval,  # reaps sockets whose peer has gone
        ws_ping_timeout=settings.ws_ping_timeout,
        proxy_headers=True,
        log_config=logs.config(args.log_level.upper()),
        log_level=args.log_level,
    )


if __name__ == "__main__":
    main()
