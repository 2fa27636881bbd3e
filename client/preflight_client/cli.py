"""The ``preflight`` command line: parse, configure the client, run the command, and turn what
went wrong into one clear line and an exit code (exitcodes.py)."""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TextIO

from .arguments import build_parser
from .console import Console
from .exitcodes import Exit, for_status
from .render import error_lines
from .transport import ApiError, Client, Unavailable, UsageError

__all__ = ["build_parser", "main"]


def main(
    argv: Sequence[str] | None = None,
    *,
    env: Mapping[str, str] | None = None,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> int:
    env = os.environ if env is None else env
    stdout = stdout or sys.stdout
    stderr = stderr or sys.stderr
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse: 0 for --help/--version, 2 for bad usage
        return int(exc.code or 0)
    console = Console(stdout, stderr, sleep, clock, as_json=args.json, quiet=args.quiet)
    try:
        client = Client(
            args.url or env.get("PREFLIGHT_URL", ""),
            args.token or env.get("PREFLIGHT_TOKEN", ""),
            timeout=args.request_timeout,
            attempts=args.retries + 1,
            sleep=sleep,
            on_retry=lambda message: console.note(f"preflight: {message}"),
        )
        return int(args.handler(client, args, console))
    except UsageError as exc:
        console.error(f"preflight: {exc}")
        return Exit.USAGE
    except ApiError as exc:
        if console.as_json:
            console.out(json.dumps(exc.body, sort_keys=True))
        console.error(*error_lines(exc))
        return for_status(exc.status, exc.code)
    except Unavailable as exc:
        console.error(f"preflight: {exc}")
        return Exit.UNAVAILABLE
    except KeyboardInterrupt:
        console.error("preflight: interrupted")
        return 130
