"""Small factories with sequences; tests set what they are about and leave the rest."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import factory
from django.contrib.auth import get_user_model
from django.utils import timezone

from checks.models import Category, Check, CheckResult, ReadinessRun
from releases.models import Deployment, Environment, Membership, Project, Release


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    password = factory.PostGenerationMethodCall("set_password", "pw")


class ProjectFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Project

    slug = factory.Sequence(lambda n: f"project-{n}")
    name = factory.LazyAttribute(lambda o: o.slug.replace("-", " ").title())


class EnvironmentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Environment

    project = factory.SubFactory(ProjectFactory)
    slug = factory.Sequence(lambda n: f"env-{n}")
    name = factory.LazyAttribute(lambda o: o.slug.title())
    position = factory.Sequence(lambda n: n)
    min_score = Decimal("80.0")
    required_approvals = 1


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    project = factory.SubFactory(ProjectFactory)
    user = factory.SubFactory(UserFactory)
    role = "viewer"


class ReleaseFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Release

    project = factory.SubFactory(ProjectFactory)
    version = factory.Sequence(lambda n: f"1.0.{n}")
    git_sha = factory.Sequence(lambda n: f"{n:07x}abcdef")


class DeploymentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Deployment

    release = factory.SubFactory(ReleaseFactory)
    environment = factory.SubFactory(
        EnvironmentFactory, project=factory.SelfAttribute("..release.project")
    )
    status = "verified"
    started_at = factory.LazyFunction(lambda: timezone.now() - timedelta(hours=1))


class CategoryFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Category

    project = factory.SubFactory(ProjectFactory)
    key = factory.Sequence(lambda n: f"category-{n}")
    name = factory.LazyAttribute(lambda o: o.key.title())
    weight = 100


class CheckFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Check

    project = factory.SubFactory(ProjectFactory)
    category = factory.SubFactory(CategoryFactory, project=factory.SelfAttribute("..project"))
    code = factory.Sequence(lambda n: f"CHK-{n:03d}")
    title = factory.LazyAttribute(lambda o: f"Check {o.code}")
    severity = "medium"
    phase = "pre-deploy-week"
    kind = "ci"


class RunFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ReadinessRun

    release = factory.SubFactory(ReleaseFactory)
    environment = factory.SubFactory(
        EnvironmentFactory, project=factory.SelfAttribute("..release.project")
    )
    status = "finished"
    finished_at = factory.LazyFunction(timezone.now)


class ResultFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = CheckResult

    run = factory.SubFactory(RunFactory)
    check_item = factory.SubFactory(
        CheckFactory, project=factory.SelfAttribute("..run.release.project")
    )
    category = factory.SelfAttribute("check_item.category")
    severity = factory.SelfAttribute("check_item.severity")
    status = "pass"
