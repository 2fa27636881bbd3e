"""The ``preflight`` command line. Answers go to stdout (ids alone where a script captures them,
raw JSON with --json), progress and errors to stderr, and the outcome is the exit code
(exitcodes.py)."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TextIO

from . import __version__
from .exitcodes import Exit, for_status
from .render import error_lines, gate_lines, release_lines, run_line
from .transport import ApiError, Client, Unavailable, UsageError, path
from .waiting import wait_for

REPORT_STATUSES = {"pass": "pass", "passed": "pass", "warn": "warn", "fail": "fail"}
REPORT_STATUSES |= {"failed": "fail", "error": "error"}
STRATEGIES = ("rolling", "blue-green", "canary", "recreate")
RUN_DONE = ("finished", "error")


@dataclass
class Console:
    """Where the command writes, and how it waits; tests swap all of it."""

    stdout: TextIO
    stderr: TextIO
    sleep: Callable[[float], None]
    clock: Callable[[], float]
    as_json: bool = False
    quiet: bool = False

    def out(self, *lines: str) -> None:
        for line in lines:
            self.stdout.write(line + "\n")
        self.stdout.flush()

    def answer(self, body: Any, *lines: str) -> None:
        """The command's answer: the raw body with --json, else the human lines."""
        if self.as_json:
            self.out(json.dumps(body, sort_keys=True))
        else:
            self.out(*lines)

    def note(self, line: str) -> None:
        if not self.quiet:
            self.stderr.write(line + "\n")
            self.stderr.flush()

    def error(self, *lines: str) -> None:
        for line in lines:
            self.stderr.write(line + "\n")
        self.stderr.flush()


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


class Patient:
    """GETs while waiting. A server that is unreachable or failing (5xx, 429) even after the
    transport's retries is a reason to keep waiting, not to give up early; a refusal (401,
    403, 404, …) ends the wait at once."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self.error: Unavailable | ApiError | None = None

    def get(self, api_path: str, query: Mapping[str, str] | None = None) -> Any:
        try:
            return self.client.get(api_path, query).body
        except Unavailable as exc:
            self.error = exc
        except ApiError as exc:
            if for_status(exc.status, exc.code) != Exit.UNAVAILABLE:
                raise
            self.error = exc
        return None

    def unless_lost(self, answer: Any) -> Any:
        """The last answer; if the server was lost at the end, its error."""
        if answer is None and self.error is not None:
            raise self.error
        return answer


def cmd_release(client: Client, args: argparse.Namespace, console: Console) -> Exit:
    body = {"version": args.version, "git_sha": args.git_sha, "notes": args.notes}
    response = client.post(
        path("projects", args.project, "releases"), body, idempotency_key=args.idempotency_key
    )
    release = response.body or {}
    sha = str(release.get("git_sha", args.git_sha))[:12]
    if response.status == 201:
        line = f"Registered {args.project} {args.version} ({sha})."
    else:
        line = f"{args.project} {args.version} was already registered for {sha}."
    console.answer(release, line)
    return Exit.OK


def cmd_run(client: Client, args: argparse.Namespace, console: Console) -> Exit:
    response = client.post(
        path("projects", args.project, "releases", args.version, "runs"),
        {"environment": args.environment},
        idempotency_key=args.idempotency_key,
    )
    run = response.body or {}
    if not args.wait:
        console.answer(run, str(run.get("id", "")))
        return Exit.OK
    run_id = run["id"]
    console.note(f"Readiness run {run_id} is {run.get('status', 'queued')}; waiting for it.")
    patient = Patient(client)

    def progress(body: Mapping[str, Any] | None, wait: float) -> None:
        state = "unreachable" if body is None else body.get("status")
        console.note(f"Run {run_id} is {state}; checking again in {wait:.0f}s.")

    answer, finished = wait_for(
        lambda: patient.get(path("runs", run_id)),
        lambda body: bool(body and body.get("status") in RUN_DONE),
        timeout=args.timeout,
        interval=args.interval,
        max_interval=args.max_interval,
        sleep=console.sleep,
        clock=console.clock,
        progress=progress,
    )
    run = patient.unless_lost(answer)
    console.answer(run, run_line(run))
    if not finished:
        console.error(f"preflight: run {run_id} still {run.get('status')} after {args.timeout:g}s")
        return Exit.TIMEOUT
    return Exit.OK if run.get("status") == "finished" else Exit.CLOSED


def cmd_report(client: Client, args: argparse.Namespace, console: Console) -> Exit:
    status = REPORT_STATUSES[args.status]
    body = {
        "version": args.version,
        "environment": args.environment,
        "check": args.check,
        "status": status,
        "detail": args.detail,
        "url": args.evidence_url,
    }
    response = client.post(
        path("projects", args.project, "check-results"),
        body,
        idempotency_key=args.idempotency_key,
    )
    console.answer(
        response.body,
        f"Reported {args.check} {status} for {args.project} {args.version} in {args.environment}.",
    )
    return Exit.OK


def cmd_gate(client: Client, args: argparse.Namespace, console: Console) -> Exit:
    gate_path = path("projects", args.project, "releases", args.version, "gate")
    query = {"environment": args.environment}
    title = f"{args.project} {args.version} → {args.environment}"
    if not args.wait:
        gate = client.get(gate_path, query).body
    else:
        patient = Patient(client)

        def progress(body: Mapping[str, Any] | None, wait: float) -> None:
            if body is None:
                console.note(f"Preflight is unreachable; asking again in {wait:.0f}s.")
            else:
                count = len(body.get("reasons") or [])
                console.note(f"Gate closed ({count} reason(s)); asking again in {wait:.0f}s.")

        answer, _ = wait_for(
            lambda: patient.get(gate_path, query),
            lambda body: bool(body and body.get("allowed")),
            timeout=args.timeout,
            interval=args.interval,
            max_interval=args.max_interval,
            sleep=console.sleep,
            clock=console.clock,
            progress=progress,
        )
        gate = patient.unless_lost(answer)
    console.answer(gate, *gate_lines(gate, title))
    if gate.get("allowed"):
        return Exit.OK
    if args.wait:
        console.error(f"preflight: the gate stayed closed for {args.timeout:g}s")
    return Exit.CLOSED


def cmd_status(client: Client, args: argparse.Namespace, console: Console) -> Exit:
    release = client.get(path("projects", args.project, "releases", args.version)).body
    console.answer(release, *release_lines(release, args.environment))
    return Exit.OK


def cmd_deploy(client: Client, args: argparse.Namespace, console: Console) -> Exit:
    body = {"version": args.version, "environment": args.environment, "strategy": args.strategy}
    if args.override_reason:
        body["override_reason"] = args.override_reason
    response = client.post(
        path("projects", args.project, "deployments"), body, idempotency_key=args.idempotency_key
    )
    deployment = response.body or {}
    console.answer(deployment, str(deployment.get("id", "")))
    console.note(
        f"Deployment {deployment.get('id')} of {args.project} {args.version} to "
        f"{args.environment} is {deployment.get('status', 'in_progress')}."
    )
    return Exit.OK


def cmd_finish(client: Client, args: argparse.Namespace, console: Console) -> Exit:
    body = {"status": args.status}
    if args.detail:
        body["detail"] = args.detail
    response = client.post(
        path("deployments", args.deployment, "finish"), body, idempotency_key=args.idempotency_key
    )
    deployment = response.body or {}
    line = f"Deployment {args.deployment} {deployment.get('status', args.status)}."
    if args.status == "succeeded":
        line += " Post-deploy verification has started."
    console.answer(deployment, line)
    return Exit.OK


def cmd_rollback(client: Client, args: argparse.Namespace, console: Console) -> Exit:
    response = client.post(
        path("deployments", args.deployment, "rollback"),
        {"reason": args.reason},
        idempotency_key=args.idempotency_key,
    )
    deployment = response.body or {}
    console.answer(deployment, str(deployment.get("id", "")))
    console.note(
        f"Rollback of deployment {args.deployment} started as deployment {deployment.get('id')}."
    )
    return Exit.OK


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
