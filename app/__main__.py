"""`python -m app`: serve Setroom with uvicorn (the Makefile's `make run` adds --demo)."""

from __future__ import annotations

import argparse
import os

import uvicorn


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m app", description="Serve Setroom.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument(
        "--demo",
        action="store_true",
        help="create the demo set on first start and print its join links",
    )
    args = parser.parse_args()
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
        proxy_headers=True,
        log_level="info",
    )


if __name__ == "__main__":
    main()
