from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from audit.actors import Actor
from releases.access import CI_ROLE, role_of
from releases.models import ApiToken
from releases.services.tokens import token_authenticate, token_issue, token_revoke

pytestmark = pytest.mark.django_db
OPERATOR = Actor.of_system("test")


def test_only_the_hash_is_stored(approver):
    token, raw = token_issue(actor=OPERATOR, name="laptop", user=approver)
    stored = ApiToken.objects.get(pk=token.pk)
    assert stored.key_hash == hashlib.sha256(raw.encode()).hexdigest()
    assert raw not in str(ApiToken.objects.values().get(pk=token.pk))
    assert raw.startswith(stored.prefix)


def test_a_token_authenticates_until_revoked(approver):
    token, raw = token_issue(actor=OPERATOR, name="laptop", user=approver)
    assert token_authenticate(raw) == token
    assert ApiToken.objects.get(pk=token.pk).last_used_at is not None
    token_revoke(actor=OPERATOR, token=token)
    assert token_authenticate(raw) is None


def test_an_expired_token_does_not_authenticate(approver):
    token, raw = token_issue(
        actor=OPERATOR, name="t", user=approver, expires_at=timezone.now() + timedelta(seconds=1)
    )
    ApiToken.objects.filter(pk=token.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert token_authenticate(raw) is None


def test_a_token_of_an_inactive_user_does_not_authenticate(approver):
    _, raw = token_issue(actor=OPERATOR, name="t", user=approver)
    approver.is_active = False
    approver.save()
    assert token_authenticate(raw) is None


@pytest.mark.parametrize("raw", ["", "pf_", "pf_nonsense", "Bearer x", "x" * 500])
def test_garbage_does_not_authenticate(raw):
    assert token_authenticate(raw) is None


def test_a_service_token_has_the_ci_role_in_its_project_only(project):
    from ..factories import ProjectFactory

    token, _ = token_issue(actor=OPERATOR, name="pipeline", project=project)
    assert role_of(Actor.of_token(token), project) == CI_ROLE
    assert role_of(Actor.of_token(token), ProjectFactory()) is None


def test_a_token_is_for_a_user_or_a_project(project, approver):
    with pytest.raises(ValidationError):
        token_issue(actor=OPERATOR, name="both", user=approver, project=project)
    with pytest.raises(ValidationError):
        token_issue(actor=OPERATOR, name="neither")
