"""Every JSON POST endpoint (found by walking the URLconf) answers bad JSON with 400 parse_error —
lone surrogates, NUL characters, deep nesting, duplicate members, numbers past 64 bits, bytes that
are not UTF-8 — and odd but valid values with a 4xx or a success, never a 5xx; with and without
an Idempotency-Key."""

from __future__ import annotations

import json
from itertools import count

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

from backups.models import Database
from releases.models import Release

from ..factories import DeploymentFactory
from .conftest import bearer, user_token

pytestmark = pytest.mark.django_db

# A body each endpoint accepts; every bad value is tried in each of its members in turn.
VALID = {
    "projects/<str:project>/releases/": {"version": "3.0.0", "git_sha": "abcdef1", "notes": "n"},
    "projects/<str:project>/releases/<str:version>/runs/": {"environment": "development"},
    "projects/<str:project>/releases/<str:version>/approvals/": {
        "environment": "production",
        "decision": "approve",
        "comment": "Looks good.",
    },
    "projects/<str:project>/check-results/": {
        "version": "1.0.0",
        "environment": "development",
        "check": "CI-001",
        "status": "pass",
        "detail": "412 tests",
        "url": "https://ci.example.com/runs/7",
    },
    "projects/<str:project>/deployments/": {
        "version": "1.0.0",
        "environment": "development",
        "strategy": "rolling",
    },
    "deployments/<int:id>/finish/": {"status": "succeeded", "detail": "Done."},
    "deployments/<int:id>/rollback/": {"reason": "Payments failing."},
    "projects/<str:project>/backups/": {
        "database": "pos",
        "kind": "full",
        "started_at": "2026-11-30T02:00:00Z",
        "finished_at": "2026-11-30T02:05:00Z",
        "size_bytes": 1024,
        "sha256": "a" * 64,
        "location": "s3://backups/pos.dump",
        "encrypted": True,
    },
    "projects/<str:project>/databases/<str:database>/drills/": {"backup": None},
}
PATH_VALUES = {"project": "shop", "version": "1.0.0", "database": "pos"}

# JSON texts that are not I-JSON: refused by the parser, whatever the endpoint.
NOT_I_JSON = [
    '"\\ud800"',  # a lone high surrogate
    '"\\udfff"',  # a lone low surrogate
    '"a\\u0000b"',  # NUL
    "9223372036854775808",  # 2**63
    "-9223372036854775809",
    "1" * 5000,  # past Python's own digit limit
    "1e400",  # not a finite double
    "NaN",
    "-Infinity",
    "[" * 33 + "]" * 33,  # deeper than the limit
    "[" * 100_000,  # deeper than Python's recursion
]
# Valid JSON the endpoint should judge, not choke on.
ODD = [
    "9223372036854775807",
    "2147483648",
    "-1",
    "1e308",
    "0.1",
    '"' + "x" * 100_000 + '"',
    '"\\ud83d\\ude80"',  # a surrogate pair: one character, fine
    '"é\\t\\n"',
    "true",
    "null",
    "[]",
    "{}",
    "[" * 31 + "]" * 31,
]
WHOLE_BODIES = [
    b"[" * 100_000,
    b'{"a": ' * 40 + b"1" + b"}" * 40,
    b'{"x": "\xe9"}',  # Latin-1, not UTF-8
    b"\xff\xfe{\x00}\x00",  # UTF-16
    b"\xef\xbb\xbf{}",  # a BOM
    b"",
    b"null",
    b"[]",
    b'"text"',
]


def _with(valid: dict, member: str, text: str) -> bytes:
    """The valid body as JSON text, with ``text`` (JSON or not) as the value of ``member``."""
    members = (
        f"{json.dumps(name)}: {text if name == member else json.dumps(value)}"
        for name, value in valid.items()
    )
    return ("{" + ", ".join(members) + "}").encode()


def json_post_routes() -> list[str]:
    """The route of every API endpoint that takes a POST."""
    found: list[str] = []

    def walk(patterns, prefix: str) -> None:
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns, prefix + str(pattern.pattern))
            elif isinstance(pattern, URLPattern):
                view = getattr(pattern.callback, "view_class", None)
                route = str(pattern.pattern)
                if prefix == "api/v1/" and view is not None and hasattr(view, "post"):
                    found.append(route)

    walk(get_resolver().url_patterns, "")
    return found


ROUTES = sorted(json_post_routes())


def test_every_json_post_endpoint_has_a_valid_body_here():
    assert set(ROUTES) == set(VALID)


@pytest.fixture
def world(project, admin, release, environments, passing_run, ci_check):
    Database.objects.create(project=project, name="pos")
    deployment = DeploymentFactory(release=release, environment=environments["staging"])
    values = {**PATH_VALUES, "id": str(deployment.pk)}

    def path(route: str) -> str:
        for name, value in values.items():
            route = route.replace(f"<str:{name}>", value).replace(f"<int:{name}>", value)
        return "/api/v1/" + route

    return bearer(user_token(admin)), path


KEYS = count()


def _send(client, path: str, body: bytes, keyed: bool):
    headers = {"HTTP_IDEMPOTENCY_KEY": f"k-{next(KEYS)}"} if keyed else {}
    return client.post(path, data=body, content_type="application/json", **headers)


def _problem(answer, what: str, parse_error: bool) -> str:
    if answer["Content-Type"] != "application/json":
        return f"{what}: {answer.status_code} {answer['Content-Type']}"
    body = answer.json()
    if not isinstance(body, dict) and answer.status_code >= 400:
        return f"{what}: {answer.status_code} without the error body"
    if parse_error and (answer.status_code, body.get("code")) != (400, "parse_error"):
        return f"{what}: {answer.status_code} {body}, expected 400 parse_error"
    if answer.status_code >= 500:
        return f"{what}: {answer.status_code} {body}"
    if answer.status_code >= 400 and not (
        isinstance(body.get("code"), str) and isinstance(body.get("detail"), str)
    ):
        return f"{what}: {answer.status_code} {body}"
    return ""


@pytest.mark.parametrize("keyed", [False, True], ids=["no key", "Idempotency-Key"])
def test_bad_json_in_any_member_of_any_endpoint_is_a_parse_error(world, keyed):
    client, path = world
    problems = []
    for route in ROUTES:
        for member in VALID[route]:
            for value in NOT_I_JSON:
                answer = _send(client, path(route), _with(VALID[route], member, value), keyed)
                problems.append(_problem(answer, f"{route} {member}={value[:30]}", True))
    assert not [p for p in problems if p], "\n".join(p for p in problems if p)
    assert not Release.objects.filter(version="3.0.0").exists()


@pytest.mark.parametrize("keyed", [False, True], ids=["no key", "Idempotency-Key"])
def test_odd_values_in_any_member_of_any_endpoint_are_judged_not_choked_on(world, keyed):
    client, path = world
    problems = []
    for route in ROUTES:
        for member in VALID[route]:
            for value in ODD:
                body = {**VALID[route], member: json.loads(value)}
                answer = _send(client, path(route), json.dumps(body).encode(), keyed)
                problems.append(_problem(answer, f"{route} {member}={value[:30]}", False))
    assert not [p for p in problems if p], "\n".join(p for p in problems if p)


@pytest.mark.parametrize("keyed", [False, True], ids=["no key", "Idempotency-Key"])
def test_bodies_that_are_not_json_objects_are_4xx_on_every_endpoint(world, keyed):
    client, path = world
    problems = [
        _problem(_send(client, path(route), body, keyed), f"{route} {body[:20]!r}", False)
        for route in ROUTES
        for body in WHOLE_BODIES
    ]
    assert not [p for p in problems if p], "\n".join(p for p in problems if p)


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ('{"status": "\\ud800"}', "The text at $.status contains a lone surrogate"),
        ('{"status": "a\\u0000"}', "The text at $.status contains a NUL character"),
        ('{"status": "a", "status": "b"}', 'JSON names the member "status" twice'),
        ('{"\\ud800": 1}', "The member name at $ contains a lone surrogate"),
        ('{"n": 9223372036854775808}', "The number 9223372036854775808 is out of range"),
        ("[" * 100_000, "JSON nested deeper than 32 levels"),
        (b'{"status": "\xe9"}', "The body is not UTF-8 (byte 12 is invalid)"),
    ],
)
def test_a_parse_error_says_what_and_where(world, body, says):
    client, path = world
    data = body if isinstance(body, bytes) else body.encode()
    answer = _send(client, path("deployments/<int:id>/finish/"), data, keyed=False)
    assert answer.status_code == 400
    assert answer.json()["code"] == "parse_error"
    assert answer.json()["detail"].startswith(says)
