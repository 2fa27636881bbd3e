from __future__ import annotations

from django.conf import settings

from preflight.celery import app


def test_every_beat_schedule_entry_names_a_registered_task():
    app.loader.import_default_modules()
    scheduled = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert scheduled, "the beat schedule is empty"
    assert scheduled - set(app.tasks) == set()


def test_tasks_are_acknowledged_after_they_ran_and_requeued_when_their_worker_dies():
    # Tasks are written to be safe to run twice; losing one to a crashed worker is the worse risk.
    assert app.conf.task_acks_late is True
    assert app.conf.task_reject_on_worker_lost is True
    assert app.conf.task_time_limit > app.conf.task_soft_time_limit
    assert app.conf.broker_transport_options["visibility_timeout"] > app.conf.task_time_limit
