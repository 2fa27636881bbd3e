from celery import shared_task

from .services.runs import run_execute, runs_reap


@shared_task(name="checks.tasks.execute_run")
def execute_run(run_id: int) -> None:
    """Execute a readiness or verification run. Safe to deliver twice: the run is claimed in the
    database, and a run that is taken or done is left alone."""
    run_execute(run_id)


@shared_task(name="checks.tasks.reap_runs")
def reap_runs() -> int:
    return len(runs_reap())
