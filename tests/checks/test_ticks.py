"""The state of a checklist item is its newest tick; the database picks it out of the history."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from checks.models import ManualTick

from ..factories import CheckFactory, ReleaseFactory

pytestmark = pytest.mark.django_db


def _tick(release, environment, check, person, ticked: bool, minutes_ago: int) -> ManualTick:  # type: ignore[no-untyped-def]
    return ManualTick.objects.create(
        release=release,
        environment=environment,
        check_item=check,
        ticked=ticked,
        ticked_by=person,
        created_at=timezone.now() - timedelta(minutes=minutes_ago),
    )


def test_the_newest_tick_of_each_check_is_its_state(project, release, environments, approver):
    staging, production = environments["staging"], environments["production"]
    backups, smoke = CheckFactory(project=project), CheckFactory(project=project)
    other_release = ReleaseFactory(project=project, version="2.0.0", created_by=approver)
    for minutes_ago in range(30, 0, -1):  # a long history, ticked on and off
        _tick(release, staging, backups, approver, minutes_ago % 2 == 0, minutes_ago)
    _tick(release, staging, smoke, approver, True, 50)
    unticked = _tick(release, staging, smoke, approver, False, 40)
    _tick(release, production, backups, approver, True, 0)  # another environment ...
    _tick(other_release, staging, smoke, approver, True, 0)  # ... and another release

    with CaptureQueriesContext(connection) as queries:
        latest = {
            t.check_item_id: (t.ticked, t.pk)
            for t in ManualTick.objects.filter(
                release=release, environment=staging
            ).latest_per_check()
        }
    assert len(queries) == 1
    newest_backups = ManualTick.objects.filter(check_item=backups, environment=staging).first()
    assert newest_backups is not None
    assert latest == {
        backups.pk: (False, newest_backups.pk),  # 1 minute ago: odd, so unticked
        smoke.pk: (False, unticked.pk),
    }
