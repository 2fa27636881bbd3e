"""dockerfile_best_practices on Dockerfiles of real stacks: multi-stage, a non-root final stage,
pinned base images (build arguments substituted), a HEALTHCHECK."""

from __future__ import annotations

from pathlib import Path

import pytest

from checks.kinds import ConfigError, get_kind
from checks.kinds.repository.rules.dockerfile import is_dockerfile, pin

from .source_trees import judge, write


@pytest.fixture
def tree(tmp_path, settings) -> Path:  # type: ignore[no-untyped-def]
    settings.PREFLIGHT_REPOSITORY_ROOT = tmp_path
    root = tmp_path / "shop" / "1.0.0"
    root.mkdir(parents=True)
    return root


NODE = """
# syntax=docker/dockerfile:1.7
ARG NODE_VERSION=20.11.1

FROM node:${NODE_VERSION}-alpine AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN --mount=type=cache,target=/root/.npm npm ci

FROM node:${NODE_VERSION}-alpine AS build
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY . .
RUN npm run build && npm prune --omit=dev

FROM node:${NODE_VERSION}-alpine AS runtime
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build --chown=node:node /app/dist ./dist
COPY --from=build --chown=node:node /app/node_modules ./node_modules
USER node
EXPOSE 3000
HEALTHCHECK --interval=30s --timeout=3s --start-period=10s \\
  CMD wget -qO- http://127.0.0.1:3000/health || exit 1
CMD ["node", "dist/server.js"]
"""

GO_DISTROLESS = """
FROM golang:1.22.1-bookworm@sha256:7ed10ea3b6a3e1c5b6e7e1c9a9f1c8b5d6f3a2e1c0b9a8f7e6d5c4b3a2f1e0d9 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/api ./cmd/api

FROM gcr.io/distroless/static-debian12:nonroot@sha256:6ec5aa99dc335666e79dc64e4a6c8b89c33a543a1967f20d360922a80dd21f02
COPY --from=build /out/api /api
HEALTHCHECK CMD ["/api", "healthcheck"]
ENTRYPOINT ["/api"]
"""

PYTHON_SINGLE = """
FROM python:latest
WORKDIR /app
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt
COPY . .
CMD ["gunicorn", "-b", "0.0.0.0:8000", "shop.wsgi"]
"""


def test_a_multi_stage_non_root_pinned_checked_build_passes_and_says_a_digest_is_better(tree):
    write(tree, {"Dockerfile": NODE})
    outcome = judge("dockerfile_best_practices")
    assert outcome.status == "pass"
    assert outcome.detail == (
        "Dockerfile: multi-stage, non-root, pinned, healthcheck. Dockerfile: node:20.11.1-alpine "
        "pinned by tag; a digest (image@sha256:…) is better, a tag can be moved."
    )


def test_images_pinned_by_digest_need_no_note(tree):
    write(tree, {"Dockerfile": GO_DISTROLESS})
    outcome = judge("dockerfile_best_practices")
    assert outcome.status == "pass"
    assert outcome.detail == "Dockerfile: multi-stage, non-root, pinned, healthcheck."


def test_a_single_stage_root_unpinned_unchecked_build_fails_on_each_practice(tree):
    write(tree, {"Dockerfile": PYTHON_SINGLE})
    outcome = judge("dockerfile_best_practices")
    assert outcome.status == "fail"
    assert outcome.detail == (
        "Dockerfile practices missing: "
        "Dockerfile:1: single-stage build: build tools ship in the image; "
        "Dockerfile:1: the final stage sets no USER: it runs as root; "
        "Dockerfile:1: the final stage has no HEALTHCHECK; "
        "Dockerfile:1: FROM python:latest is not pinned (no tag, or latest)."
    )
    assert [f["line"] for f in outcome.data["findings"]] == [1, 1, 1, 1]


def test_an_image_without_a_tag_is_not_pinned_and_a_registry_port_is_not_a_tag(tree):
    write(
        tree,
        {
            "Dockerfile": """
                FROM registry.internal:5000/base/python AS build
                RUN pip wheel -w /wheels .
                FROM registry.internal:5000/base/python:3.12.2-slim
                COPY --from=build /wheels /wheels
                USER 10001:10001
                HEALTHCHECK CMD python -c "import urllib.request as u; u.urlopen('http://127.0.0.1:8000/health')"
            """
        },
    )
    outcome = judge("dockerfile_best_practices")
    assert outcome.status == "fail"
    assert outcome.detail == (
        "Dockerfile practices missing: Dockerfile:1: FROM registry.internal:5000/base/python is "
        "not pinned (no tag, or latest). Dockerfile: registry.internal:5000/base/python:3.12.2-slim "
        "pinned by tag; a digest (image@sha256:…) is better, a tag can be moved."
    )


def test_a_build_argument_without_a_default_leaves_the_image_unpinned(tree):
    write(
        tree,
        {
            "Dockerfile": """
                ARG PYTHON_VERSION
                ARG BASE=python:${PYTHON_VERSION}-slim
                FROM ${BASE} AS build
                RUN pip wheel -w /wheels .
                FROM python:${PYTHON_VERSION:-3.12}-slim
                USER app
                HEALTHCHECK CMD curl -f http://localhost:8000/ || exit 1
            """
        },
    )
    outcome = judge("dockerfile_best_practices")
    assert outcome.status == "fail"
    assert (
        "Dockerfile:3: FROM ${BASE}: build argument PYTHON_VERSION has no default, so the image "
        "is not pinned here" in outcome.detail
    )
    assert "python:3.12-slim pinned by tag" in outcome.detail


def test_the_final_stage_must_not_run_as_root(tree):
    write(
        tree,
        {
            "Dockerfile": """
                FROM maven:3.9.6-eclipse-temurin-21 AS build
                USER nobody
                RUN mvn -q package -DskipTests
                FROM eclipse-temurin:21.0.2_13-jre-jammy
                COPY --from=build /build/target/app.jar /app.jar
                RUN useradd --system app
                USER app
                USER root
                HEALTHCHECK CMD curl -f http://localhost:8080/actuator/health || exit 1
                ENTRYPOINT ["java", "-jar", "/app.jar"]
            """
        },
    )
    outcome = judge("dockerfile_best_practices")
    assert outcome.status == "fail"
    assert "Dockerfile:8: the final stage runs as root (USER root)" in outcome.detail


def test_a_final_stage_built_from_an_earlier_stage_inherits_its_user_and_healthcheck(tree):
    write(
        tree,
        {
            "Dockerfile": """
                FROM python:3.12.2-slim-bookworm AS base
                RUN useradd --create-home --uid 10001 app
                USER app
                HEALTHCHECK CMD python -m shop.healthcheck

                FROM base AS dev
                RUN pip install -r requirements-dev.txt

                FROM base AS production
                COPY --chown=app:app . /home/app/shop
                CMD ["gunicorn", "shop.wsgi"]
            """
        },
    )
    assert judge("dockerfile_best_practices").status == "pass"


def test_known_non_root_base_images_need_no_user(tree):
    write(tree, {"Dockerfile": GO_DISTROLESS})
    assert judge("dockerfile_best_practices").status == "pass"
    write(tree, {"Dockerfile": GO_DISTROLESS.replace(":nonroot@", ":latest@")})
    outcome = judge("dockerfile_best_practices")
    assert outcome.status == "fail"
    assert "the final stage sets no USER: it runs as root" in outcome.detail


def test_user_set_from_an_env_variable_is_resolved(tree):
    write(
        tree,
        {
            "Dockerfile": """
                FROM rust:1.76.0 AS build
                RUN cargo build --release
                FROM debian:12.5-slim
                ARG APP_UID=0
                ENV RUN_AS=${APP_UID}
                USER ${RUN_AS}
                HEALTHCHECK CMD ["/usr/local/bin/app", "--health"]
            """
        },
    )
    outcome = judge("dockerfile_best_practices")
    assert outcome.status == "fail"
    assert "Dockerfile:6: the final stage runs as 0 (USER 0)" in outcome.detail


def test_heredoc_bodies_are_not_read_as_instructions(tree):
    write(
        tree,
        {
            "Dockerfile": """
                # syntax=docker/dockerfile:1.7
                FROM ubuntu:22.04 AS build
                RUN <<EOF
                set -eux
                apt-get update
                EOF
                FROM ubuntu:22.04
                COPY <<-'CONF' /etc/app.conf
                \tUSER root
                \tFROM scratch
                \tHEALTHCHECK NONE
                CONF
                USER 1000
                HEALTHCHECK CMD ["/bin/true"]
            """
        },
    )
    outcome = judge("dockerfile_best_practices")
    assert outcome.status == "pass", outcome.detail


def test_healthcheck_none_disables_the_check(tree):
    write(
        tree,
        {
            "Dockerfile": """
                FROM nginx:1.25.4-alpine AS base
                HEALTHCHECK CMD wget -qO- http://127.0.0.1/ || exit 1
                FROM base
                USER nginx
                HEALTHCHECK NONE
            """
        },
    )
    outcome = judge("dockerfile_best_practices")
    assert outcome.status == "fail"
    assert "Dockerfile:5: HEALTHCHECK NONE disables the health check" in outcome.detail


def test_require_chooses_the_practices(tree):
    write(
        tree,
        {
            "Dockerfile": """
                FROM node:20.11.1-alpine AS build
                RUN npm ci && npm run build
                FROM nginxinc/nginx-unprivileged:1.25.4-alpine
                COPY --from=build /app/dist /usr/share/nginx/html
            """
        },
    )
    assert judge("dockerfile_best_practices").status == "fail"  # no HEALTHCHECK
    outcome = judge("dockerfile_best_practices", require=["multi_stage", "non_root", "pinned"])
    assert outcome.status == "pass"
    assert outcome.detail.startswith("Dockerfile: multi-stage, non-root, pinned.")


def test_dockerfiles_are_found_under_their_usual_names_across_the_tree(tree):
    write(
        tree,
        {
            "Dockerfile": NODE,
            "docker/worker.Dockerfile": NODE,
            "deploy/Dockerfile.prod": NODE,
            "services/api/Containerfile": GO_DISTROLESS,
            "deploy/Dockerfile.prod.dockerignore": "node_modules\n",
            "frontend/node_modules/some-lib/Dockerfile": PYTHON_SINGLE,
            "docs/dockerfile-guide.md": "FROM python:latest\n",
        },
    )
    outcome = judge("dockerfile_best_practices")
    assert outcome.status == "pass", outcome.detail
    assert outcome.detail.startswith(
        "Dockerfile, deploy/Dockerfile.prod, docker/worker.Dockerfile, "
        "services/api/Containerfile: multi-stage"
    )
    write(tree, {"tools/ci.Dockerfile": PYTHON_SINGLE})
    outcome = judge("dockerfile_best_practices")
    assert outcome.status == "fail"
    assert "tools/ci.Dockerfile:1: single-stage build" in outcome.detail
    assert judge("dockerfile_best_practices", files=["Dockerfile", "docker/*"]).status == "pass"


def test_no_dockerfile_fails_and_one_without_from_is_an_error_naming_it(tree):
    write(tree, {"README.md": "# shop\n"})
    outcome = judge("dockerfile_best_practices")
    assert outcome.status == "fail"
    assert outcome.detail.startswith("No Dockerfile in the tree")
    write(tree, {"Dockerfile": "# TODO: write the image\nRUN echo hi\n"})
    outcome = judge("dockerfile_best_practices")
    assert outcome.status == "error"
    assert outcome.detail == "Could not read: Dockerfile has no FROM instruction."


@pytest.mark.parametrize(
    ("reference", "kind"),
    [
        ("postgres:16.2", "tag"),
        ("postgres", "none"),
        ("postgres:latest", "none"),
        ("ghcr.io/acme/api:1.4.2", "tag"),
        ("localhost:5000/api", "none"),
        ("node@sha256:0123abcd", "digest"),
        ("node:20-alpine@sha256:0123abcd", "digest"),
    ],
)
def test_pinning_of_image_references(reference, kind):
    assert pin(reference) == kind


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Dockerfile", True),
        ("dockerfile", True),
        ("api.Dockerfile", True),
        ("Dockerfile.prod", True),
        ("Containerfile", True),
        ("Dockerfile.dockerignore", False),
        ("docker-compose.yml", False),
        ("Dockerfiles.md", False),
    ],
)
def test_dockerfile_names(name, expected):
    assert is_dockerfile(name) is expected


@pytest.mark.parametrize(
    ("config", "field"),
    [
        ({"require": ["multi_stage", "small_image"]}, "require"),
        ({"files": ["../Dockerfile"]}, "files"),
        ({"recursive": True}, "recursive"),
    ],
)
def test_invalid_dockerfile_settings_are_refused_naming_the_field(config, field):
    with pytest.raises(ConfigError) as refused:
        get_kind("repository").validate(
            {"rule": "dockerfile_best_practices", "path": "x", **config}
        )
    assert refused.value.field == field


def test_a_registry_from_a_build_argument_leaves_the_tag_pinned(tree):
    write(
        tree,
        {
            "Dockerfile": """
                ARG REGISTRY
                ARG APP_UID
                FROM ${REGISTRY}/platform/dotnet-sdk:8.0.201 AS build
                RUN dotnet publish -c Release -o /out
                FROM mcr.microsoft.com/dotnet/runtime-deps:8.0.2-jammy-chiseled
                COPY --from=build /out /app
                HEALTHCHECK CMD ["/app/Shop", "--health"]
            """
        },
    )
    outcome = judge("dockerfile_best_practices")
    assert outcome.status == "pass", outcome.detail
    assert "…/platform/dotnet-sdk:8.0.201" in outcome.detail


def test_a_user_from_a_build_argument_without_a_default_is_not_taken_for_root(tree):
    write(
        tree,
        {
            "Dockerfile": """
                FROM golang:1.22.1 AS build
                RUN go build -o /app ./cmd/app
                FROM alpine:3.19.1
                ARG APP_UID
                USER ${APP_UID}
                HEALTHCHECK CMD ["/app", "-health"]
            """
        },
    )
    assert judge("dockerfile_best_practices").status == "pass"


def test_windows_line_endings_and_a_byte_order_mark_are_read(tree):
    content = "\ufeff" + GO_DISTROLESS.lstrip("\n").replace("\n", "\r\n")
    (tree / "Dockerfile").write_bytes(content.encode())
    assert judge("dockerfile_best_practices").status == "pass"
