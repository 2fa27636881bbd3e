from celery import shared_task

from checks.services.deployments import deployments_fail_timed_out

from .announcements import announce_if_opened
from .services.rechecks import result_recheck
from .services.runs import run_ended, run_execute, runs_reap


@shared_task(name="checks.tasks.execute_run")
def execute_run(run_id: int) -> None:
    """Execute a readiness or verification run. Safe to deliver twice: the run is claimed in the
    database, and a run that is taken or done is left alone."""
    run_execute(run_id)


@shared_task(name="checks.tasks.reap_runs")
def reap_runs() -> int:
    return len(runs_reap())


@shared_task(name="checks.tasks.recheck_result")
def recheck_result(run_id: int, result_id: int, lease: str, tick: int) -> None:
    """One more evaluation of a check that asked for it (a verification watching metrics).
    Safe to deliver twice: only the evaluation the result waits for writes it."""
    result_recheck(run_id=run_id, result_id=result_id, lease=lease, tick=tick)


@shared_task(name="checks.tasks.run_ended")
def end_run(run_id: int) -> None:
    """After a run ended: conclude its deployment's verification, announce an opened gate."""
    run_ended(run_id)


@shared_task(name="checks.tasks.announce_gate")
def announce_gate(release_id: int, environment_id: int) -> None:
    """Emit ``gate.opened`` if something (an approval) opened the gate. Safe to run twice."""
    announce_if_opened(release_id, environment_id)


# Named in the releases namespace, where it was first scheduled: the name is what beat's stored
# schedules and queued messages carry. It lives beside the deployment flow it calls.
@shared_task(name="releases.tasks.fail_timed_out_deployments")
def fail_timed_out_deployments() -> int:
    return len(deployments_fail_timed_out())
