"""What each command does: the request it sends and what it prints. Each returns an exit code;
API errors propagate to ``cli.main``, which prints them."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Mapping
from typing import Any

from .console import Console
from .exitcodes import Exit, for_status
from .render import gate_lines, release_lines, run_line
from .transport import ApiError, Client, Unavailable, path
from .waiting import wait_for

REPORT_STATUSES = {"pass": "pass", "passed": "pass", "warn": "warn", "fail": "fail"}
REPORT_STATUSES |= {"failed": "fail", "error": "error"}
RUN_DONE = ("finished", "error")


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


def poll(
    client: Client,
    args: argparse.Namespace,
    console: Console,
    api_path: str,
    done: Callable[[Any], bool],
    progress: Callable[[Any, float], None],
    query: Mapping[str, str] | None = None,
) -> tuple[Any, bool]:
    """GET ``api_path`` until ``done`` or the command's ``--timeout``, backing off from
    ``--interval`` up to ``--max-interval``: (the last answer, whether it was done)."""
    patient = Patient(client)
    answer, finished = wait_for(
        lambda: patient.get(api_path, query),
        done,
        timeout=args.timeout,
        interval=args.interval,
        max_interval=args.max_interval,
        sleep=console.sleep,
        clock=console.clock,
        progress=progress,
    )
    return patient.unless_lost(answer), finished


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

    def progress(body: Mapping[str, Any] | None, wait: float) -> None:
        state = "unreachable" if body is None else body.get("status")
        console.note(f"Run {run_id} is {state}; checking again in {wait:.0f}s.")

    run, finished = poll(
        client,
        args,
        console,
        path("runs", run_id),
        lambda body: bool(body and body.get("status") in RUN_DONE),
        progress,
    )
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

        def progress(body: Mapping[str, Any] | None, wait: float) -> None:
            if body is None:
                console.note(f"Preflight is unreachable; asking again in {wait:.0f}s.")
            else:
                count = len(body.get("reasons") or [])
                console.note(f"Gate closed ({count} reason(s)); asking again in {wait:.0f}s.")

        gate, _ = poll(
            client,
            args,
            console,
            gate_path,
            lambda body: bool(body and body.get("allowed")),
            progress,
            query,
        )
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
