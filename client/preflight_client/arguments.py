"""The command line's grammar: commands, their arguments and the connection options."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from . import __version__
from .commands import (
    REPORT_STATUSES,
    cmd_deploy,
    cmd_finish,
    cmd_gate,
    cmd_release,
    cmd_report,
    cmd_rollback,
    cmd_run,
    cmd_status,
)

STRATEGIES = ("rolling", "blue-green", "canary", "recreate")


def positive(value: str) -> float:
    number = float(value)
    if number <= 0:
        raise argparse.ArgumentTypeError("must be more than 0")
    return number


def build_parser() -> argparse.ArgumentParser:
    # The connection options are accepted before and after the command. On the subcommands
    # they default to SUPPRESS, so an option given before the command is not reset by them.
    def connection(parser: argparse.ArgumentParser, default: Callable[[Any], Any]) -> None:
        group = parser.add_argument_group("connection")
        group.add_argument(
            "--url", default=default(None), help="Preflight's address (default: $PREFLIGHT_URL)"
        )
        group.add_argument(
            "--token", default=default(None), help="API token (default: $PREFLIGHT_TOKEN)"
        )
        group.add_argument(
            "--json",
            action="store_true",
            default=default(False),
            help="print the API's JSON answer instead of text",
        )
        group.add_argument(
            "-q",
            "--quiet",
            action="store_true",
            default=default(False),
            help="no progress messages on stderr",
        )
        group.add_argument(
            "--request-timeout",
            type=positive,
            default=default(30.0),
            metavar="S",
            help="seconds to wait for one HTTP answer (default 30)",
        )
        group.add_argument(
            "--retries",
            type=int,
            default=default(4),
            metavar="N",
            help="retries after a connection error, 429 or 5xx (default 4)",
        )

    def given(value: Any) -> Any:
        return value

    def suppressed(_value: Any) -> Any:
        return argparse.SUPPRESS

    parser = argparse.ArgumentParser(
        prog="preflight",
        description="Ask Preflight's release gate and record releases and deployments from CI.",
        epilog="Exit codes: 0 ok/open, 1 gate closed, 2 usage, 3 invalid input, 4 auth, "
        "5 not found, 6 conflict, 7 environment busy, 8 gate closed at deploy, "
        "9 server unavailable, 10 timed out. See docs/ci.md.",
    )
    parser.add_argument("--version", action="version", version=f"preflight {__version__}")
    connection(parser, given)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, help_text: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text, description=help_text)
        connection(sub, suppressed)
        return sub

    def target(sub: argparse.ArgumentParser, *, environment: bool = True) -> None:
        sub.add_argument("project", help="the project's slug, e.g. liquor-pos")
        sub.add_argument("version", help="the release's version, e.g. 2.4.0")
        if environment:
            sub.add_argument("environment", help="the environment's slug, e.g. production")

    def keyed(sub: argparse.ArgumentParser) -> None:
        sub.add_argument(
            "--idempotency-key",
            default="",
            metavar="KEY",
            help="send this key instead of a fresh one, so a re-run CI job repeats the same "
            "request (e.g. $GITHUB_RUN_ID-deploy)",
        )

    def waiting(sub: argparse.ArgumentParser, what: str, timeout: float) -> None:
        sub.add_argument("--wait", action="store_true", help=f"poll until {what}")
        sub.add_argument(
            "--timeout",
            type=positive,
            default=timeout,
            metavar="S",
            help=f"give up waiting after S seconds (default {timeout:g})",
        )
        sub.add_argument(
            "--interval",
            type=positive,
            default=2.0,
            metavar="S",
            help="first pause between polls; doubles each time (default 2)",
        )
        sub.add_argument(
            "--max-interval",
            type=positive,
            default=30.0,
            metavar="S",
            help="longest pause between polls (default 30)",
        )

    sub = command("release", "register a release (safe to repeat with the same commit)")
    target(sub, environment=False)
    sub.add_argument("--git-sha", required=True, help="the commit the release is built from")
    sub.add_argument("--notes", default="", help="release notes")
    keyed(sub)
    sub.set_defaults(handler=cmd_release)

    sub = command("run", "start a readiness run of every applicable check")
    target(sub)
    waiting(sub, "the run has finished", 900)
    keyed(sub)
    sub.set_defaults(handler=cmd_run)

    sub = command("report", "report the result of a ci check")
    target(sub)
    sub.add_argument("check", help="the check's code, e.g. CI-003")
    sub.add_argument("--status", required=True, choices=sorted(REPORT_STATUSES))
    sub.add_argument("--detail", default="", help="what the check found")
    # --url names the server on every command, so the evidence link has its own name.
    sub.add_argument(
        "--evidence-url", "--link", default="", metavar="URL", help="link to the evidence"
    )
    keyed(sub)
    sub.set_defaults(handler=cmd_report)

    sub = command("gate", "may this release go to this environment now? exit 0 if so")
    target(sub)
    waiting(sub, "the gate opens", 600)
    sub.set_defaults(handler=cmd_gate)

    sub = command("status", "a release's latest run and deployment in each environment")
    target(sub, environment=False)
    sub.add_argument("environment", nargs="?", default="", help="only this environment")
    sub.set_defaults(handler=cmd_status)

    sub = command("deploy", "record the start of a deployment; prints its id")
    target(sub)
    sub.add_argument("--strategy", choices=STRATEGIES, default="rolling")
    sub.add_argument(
        "--override-reason",
        default="",
        help="admins only: deploy through a closed gate (break glass), audited",
    )
    keyed(sub)
    sub.set_defaults(handler=cmd_deploy)

    sub = command("finish", "record how a deployment ended")
    sub.add_argument("deployment", type=int, help="the id printed by preflight deploy")
    sub.add_argument("status", choices=("succeeded", "failed"))
    sub.add_argument("--detail", default="", help="what happened")
    keyed(sub)
    sub.set_defaults(handler=cmd_finish)

    sub = command("rollback", "roll back to the last good earlier release; prints the new id")
    sub.add_argument("deployment", type=int, help="the deployment to roll back")
    sub.add_argument("--reason", required=True, help="why (recorded, and the lock's reason)")
    keyed(sub)
    sub.set_defaults(handler=cmd_rollback)
    return parser
