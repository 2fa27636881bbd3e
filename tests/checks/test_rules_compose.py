"""compose_resource_limits and compose_no_plaintext_secrets on Compose projects as they are
written in the field: every file name Compose accepts, override files, `.env` interpolation,
anchors, extends, include, profiles, env_file and secrets."""

from __future__ import annotations

from pathlib import Path

import pytest

from checks.kinds import ConfigError, get_kind

from .source_trees import assert_never_shown, judge, write


@pytest.fixture
def tree(tmp_path, settings) -> Path:  # type: ignore[no-untyped-def]
    settings.PREFLIGHT_REPOSITORY_ROOT = tmp_path
    root = tmp_path / "shop" / "1.0.0"
    root.mkdir(parents=True)
    return root


LIMITED = """
services:
  web:
    image: ghcr.io/acme/shop-web:1.4.2
    deploy:
      resources:
        limits: {cpus: "1.5", memory: 768M}
        reservations: {memory: 256M}
"""
UNLIMITED = """
services:
  web:
    image: ghcr.io/acme/shop-web:1.4.2
    ports: ["8080:8080"]
"""


# --- finding the files -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["compose.yaml", "compose.yml", "docker-compose.yaml", "docker-compose.yml"]
)
def test_every_file_name_compose_accepts_is_read(tree, name):
    write(tree, {name: UNLIMITED})
    outcome = judge("compose_resource_limits")
    assert outcome.status == "fail"
    assert f"{name}:2: web (no CPU and memory limit)" in outcome.detail
    write(tree, {name: LIMITED})
    assert judge("compose_resource_limits").status == "pass"


def test_compose_yaml_wins_over_docker_compose_yml_as_compose_chooses(tree):
    write(tree, {"compose.yaml": LIMITED, "docker-compose.yml": UNLIMITED})
    outcome = judge("compose_resource_limits")
    assert outcome.status == "pass"
    assert "compose.yaml" in outcome.detail


def test_no_compose_file_at_all_fails_naming_the_names_looked_for(tree):
    write(tree, {"README.md": "# shop\n", "deploy/compose.yaml": LIMITED})
    outcome = judge("compose_resource_limits")
    assert outcome.status == "fail"
    assert "compose.yaml, compose.yml, docker-compose.yml, docker-compose.yaml" in outcome.detail


def test_recursive_reads_every_project_below_the_path(tree):
    write(
        tree,
        {
            "services/api/compose.yaml": LIMITED,
            "services/worker/docker-compose.yml": """
                services:
                  worker:
                    image: ghcr.io/acme/worker:2.0.1
                    command: ["celery", "-A", "shop", "worker"]
                    mem_limit: 512m
            """,
        },
    )
    assert judge("compose_resource_limits").status == "fail"  # nothing at the top
    outcome = judge("compose_resource_limits", recursive=True)
    assert outcome.status == "fail"
    assert outcome.detail.endswith("services/worker/docker-compose.yml:2: worker (no CPU limit).")
    assert "services/api" not in outcome.detail
    # A directory without a Compose file is no project, whatever its .env holds.
    write(tree, {"frontend/.env": "[vite]\nVITE_API_URL=/api\n"})
    outcome = judge("compose_resource_limits", recursive=True)
    assert outcome.status == "fail"
    assert "frontend" not in outcome.detail


def test_file_names_exactly_one_file_like_compose_f(tree):
    write(
        tree,
        {
            "compose.yaml": UNLIMITED,
            "deploy/docker-compose.prod.yml": LIMITED,
        },
    )
    assert judge("compose_resource_limits", file="deploy/docker-compose.prod.yml").status == "pass"
    outcome = judge("compose_resource_limits", file="deploy/compose.missing.yml")
    assert outcome.status == "fail"
    assert outcome.detail == "No deploy/compose.missing.yml in the tree."


def test_compose_file_set_in_dot_env_names_the_files_as_compose_reads_them(tree):
    write(
        tree,
        {
            ".env": "COMPOSE_FILE=docker-compose.yml:docker-compose.prod.yml\n",
            "docker-compose.yml": UNLIMITED,
            "docker-compose.prod.yml": """
                services:
                  web:
                    deploy: {resources: {limits: {cpus: "2", memory: 1g}}}
            """,
        },
    )
    outcome = judge("compose_resource_limits")
    assert outcome.status == "pass"
    assert "docker-compose.yml + docker-compose.prod.yml" in outcome.detail


# --- merging, anchors, extends, include, profiles -----------------------------------------------


def test_a_limit_set_in_the_override_file_counts(tree):
    write(
        tree,
        {
            "docker-compose.yml": UNLIMITED,
            "docker-compose.override.yml": """
                services:
                  web:
                    deploy:
                      resources:
                        limits:
                          cpus: "0.75"
                          memory: 512M
            """,
        },
    )
    outcome = judge("compose_resource_limits")
    assert outcome.status == "pass"
    assert "docker-compose.yml + docker-compose.override.yml" in outcome.detail


def test_an_override_that_resets_the_limits_removes_them(tree):
    write(
        tree,
        {
            "compose.yaml": LIMITED,
            "compose.override.yaml": """
                services:
                  web:
                    deploy:
                      resources:
                        limits: !reset {}
            """,
        },
    )
    outcome = judge("compose_resource_limits")
    assert outcome.status == "fail"
    assert "compose.yaml:2: web (no CPU and memory limit)" in outcome.detail


def test_limits_shared_through_a_yaml_anchor_count(tree):
    write(
        tree,
        {
            "docker-compose.yml": """
                x-limits: &default-limits
                  deploy:
                    resources:
                      limits: {cpus: "0.5", memory: 256M}

                services:
                  api:
                    <<: *default-limits
                    image: ghcr.io/acme/api:3.1.0
                  worker:
                    <<: *default-limits
                    image: ghcr.io/acme/api:3.1.0
                    command: ["python", "-m", "worker"]
                  cron:
                    image: ghcr.io/acme/api:3.1.0
            """,
        },
    )
    outcome = judge("compose_resource_limits")
    assert outcome.status == "fail"
    assert "cron (no CPU and memory limit)" in outcome.detail
    assert "api (" not in outcome.detail
    assert "worker (" not in outcome.detail


def test_limits_inherited_through_extends_from_another_file_count(tree):
    write(
        tree,
        {
            "common/services.yml": """
                services:
                  python-app:
                    image: ghcr.io/acme/shop:1.9.0
                    deploy:
                      resources:
                        limits: {cpus: "1", memory: 1G}
            """,
            "compose.yaml": """
                services:
                  web:
                    extends: {file: common/services.yml, service: python-app}
                    command: gunicorn shop.wsgi
                  worker:
                    extends:
                      file: common/services.yml
                      service: python-app
                    command: celery -A shop worker
                    deploy:
                      resources:
                        limits: {memory: 2G}
            """,
        },
    )
    assert judge("compose_resource_limits").status == "pass"


def test_services_of_an_included_project_are_judged(tree):
    write(
        tree,
        {
            "compose.yaml": """
                include:
                  - infra/compose.yaml
                services:
                  web:
                    image: ghcr.io/acme/web:1.0.0
                    cpus: 1
                    mem_limit: 512m
            """,
            "infra/compose.yaml": """
                services:
                  postgres:
                    image: postgres:16.2
            """,
        },
    )
    outcome = judge("compose_resource_limits")
    assert outcome.status == "fail"
    assert "infra/compose.yaml:2: postgres (no CPU and memory limit)" in outcome.detail


PROFILED = """
services:
  web:
    image: ghcr.io/acme/web:1.0.0
    deploy: {resources: {limits: {cpus: "1", memory: 512M}}}
  adminer:
    image: adminer:4.8.1
    profiles: [debug]
"""


def test_a_service_behind_a_profile_counts_only_when_the_profile_is_enabled(tree):
    write(tree, {"compose.yaml": PROFILED})
    outcome = judge("compose_resource_limits")
    assert outcome.status == "pass"
    assert "Not judged, behind profiles not enabled: adminer." in outcome.detail
    assert judge("compose_resource_limits", profiles=["debug"]).status == "fail"
    write(tree, {".env": "COMPOSE_PROFILES=debug\n"})
    assert judge("compose_resource_limits").status == "fail"


# --- interpolation ------------------------------------------------------------------------------


def test_limits_interpolated_from_the_dot_env_beside_the_file(tree):
    write(
        tree,
        {
            "compose.yaml": """
                services:
                  api:
                    image: ghcr.io/acme/api:${API_TAG:-latest}
                    deploy:
                      resources:
                        limits:
                          cpus: ${API_CPUS:-0.5}
                          memory: ${API_MEMORY}
            """,
        },
    )
    # Unset and without a default, the memory limit is empty: no limit.
    assert "api (no memory limit)" in judge("compose_resource_limits").detail
    write(tree, {".env": "# sizes for production\nexport API_MEMORY=768M\n"})
    assert judge("compose_resource_limits").status == "pass"


def test_compose_v2_cpu_and_memory_settings_count(tree):
    write(
        tree,
        {
            "docker-compose.yml": """
                version: "2.4"
                services:
                  search:
                    image: elasticsearch:8.12.2
                    cpuset: "0,1"
                    mem_limit: 2g
                  api:
                    image: ghcr.io/acme/api:1.0.0
                    cpu_quota: 50000
                    mem_limit: 512m
                  worker:
                    image: ghcr.io/acme/api:1.0.0
                    cpu_shares: 512
                    mem_limit: 512m
            """,
        },
    )
    outcome = judge("compose_resource_limits")
    assert outcome.status == "fail"
    assert outcome.detail.endswith("docker-compose.yml:11: worker (no CPU limit).")


def test_a_zero_limit_is_no_limit(tree):
    write(
        tree,
        {
            "compose.yaml": """
                services:
                  api:
                    image: ghcr.io/acme/api:1.0.0
                    deploy: {resources: {limits: {cpus: "0", memory: 512M}}}
            """,
        },
    )
    assert "api (no CPU limit)" in judge("compose_resource_limits").detail


# --- files Compose cannot read ------------------------------------------------------------------


def test_broken_yaml_is_an_error_naming_the_file_and_line(tree):
    write(tree, {"compose.yaml": LIMITED, "compose.override.yaml": "services:\n  web: [oops\n"})
    outcome = judge("compose_resource_limits")
    assert outcome.status == "error"
    assert outcome.detail.startswith("Could not read: compose.override.yaml: is not valid YAML:")


def test_an_invalid_interpolation_is_an_error_naming_the_file(tree):
    write(
        tree,
        {
            "compose.yaml": """
                services:
                  web:
                    image: "ghcr.io/acme/web:${TAG"
            """
        },
    )
    outcome = judge("compose_no_plaintext_secrets")
    assert outcome.status == "error"
    assert "compose.yaml" in outcome.detail


def test_a_broken_dot_env_is_an_error_naming_it(tree):
    write(tree, {"compose.yaml": LIMITED, ".env": 'API_KEY="unterminated\n'})
    outcome = judge("compose_resource_limits")
    assert outcome.status == "error"
    assert ".env: line 1: unterminated quoted value" in outcome.detail


def test_a_compose_file_outside_the_tree_is_not_read(tree, tmp_path):
    (tmp_path / "elsewhere.yml").write_text(LIMITED)
    write(
        tree,
        {
            "compose.yaml": """
                services:
                  web:
                    extends: {file: ../../elsewhere.yml, service: web}
            """
        },
    )
    outcome = judge("compose_resource_limits")
    assert outcome.status == "error"
    assert "leads outside the source tree" in outcome.detail


# --- plaintext secrets --------------------------------------------------------------------------


def test_passwords_inside_connection_urls_are_plaintext_secrets(tree):
    write(
        tree,
        {
            "docker-compose.yml": """
                services:
                  api:
                    image: ghcr.io/acme/api:2.3.0
                    environment:
                      DATABASE_URL: postgres://shop:Tr0ub4dor3@postgres:5432/shop
                      CACHE_URL: redis://:s3cr3t-redis@redis:6379/0
                      CELERY_BROKER_URL: amqp://shop:rabbit-pw-42@rabbitmq:5672/shop
                      SENTRY_DSN: https://abc123@o1.ingest.sentry.io/42
                      UPSTREAM: https://api.example.com/v2
            """,
        },
    )
    outcome = judge("compose_no_plaintext_secrets")
    assert outcome.status == "fail"
    assert (
        "docker-compose.yml:5: api: DATABASE_URL has a password in its connection URL "
        "(postgres://shop:***@postgres:5432/shop)" in outcome.detail
    )
    assert "docker-compose.yml:6: api: CACHE_URL" in outcome.detail
    assert "docker-compose.yml:7: api: CELERY_BROKER_URL" in outcome.detail
    assert "SENTRY_DSN" not in outcome.detail
    assert "UPSTREAM" not in outcome.detail
    assert_never_shown(outcome, "Tr0ub4dor3", "s3cr3t-redis", "rabbit-pw-42")


def test_a_password_in_a_jdbc_url_query_is_a_plaintext_secret(tree):
    write(
        tree,
        {
            "compose.yaml": """
                services:
                  billing:
                    image: ghcr.io/acme/billing:4.0.0
                    environment:
                      SPRING_DATASOURCE_URL: jdbc:postgresql://db:5432/billing?user=billing&password=B1ll1ng-pw
                      REPORTS_URL: jdbc:postgresql://db:5432/reports?user=reports&password=${REPORTS_PASSWORD}
            """,
        },
    )
    outcome = judge("compose_no_plaintext_secrets")
    assert outcome.status == "fail"
    assert (
        "compose.yaml:5: billing: SPRING_DATASOURCE_URL has a password in its connection URL"
        in (outcome.detail)
    )
    assert "password=***" in outcome.detail
    assert "REPORTS_URL" not in outcome.detail
    assert_never_shown(outcome, "B1ll1ng-pw")


def test_urls_whose_password_is_a_variable_are_not_plaintext(tree):
    write(
        tree,
        {
            "docker-compose.yml": """
                services:
                  api:
                    image: ghcr.io/acme/api:2.3.0
                    environment:
                      - DATABASE_URL=postgres://shop:${POSTGRES_PASSWORD:?set it}@postgres/shop
                      - CACHE_URL=redis://:${REDIS_PASSWORD}@redis:6379/0
                      - REPLICA_URL=postgres://readonly@replica:5432/shop
            """,
        },
    )
    assert judge("compose_no_plaintext_secrets").status == "pass"


def test_names_that_only_mention_a_secret_are_not_secrets(tree):
    write(
        tree,
        {
            "compose.yaml": """
                services:
                  auth:
                    image: ghcr.io/acme/auth:5.0.2
                    environment:
                      PASSWORD_MIN_LENGTH: 12
                      PASSWORD_HASHER: argon2
                      TOKEN_TTL: 3600
                      REFRESH_TOKEN_EXPIRES_IN: 30d
                      SECRET_ROTATION_ENABLED: "true"
                      JWT_SECRET_FILE: /run/secrets/jwt_secret
                      AUTH_TOKEN_HEADER: Authorization
                      OIDC_CLIENT_ID: shop-web
                      STRIPE_PUBLISHABLE_KEY: pk_live_51HxQ2bKx8a7Yd0PZ0bQy9mY3
                      CACHE_KEY_PREFIX: auth
                      GITHUB_TOKEN_PERMISSIONS: read
                      MIN_PASSWORD_LENGTH: 12
                      PASSWORD_RESET_TIMEOUT: 259200
                      ALLOW_EMPTY_PASSWORD: "yes"
                      USE_TLS: true
                    secrets: [jwt_secret]
                secrets:
                  jwt_secret:
                    file: ./secrets/jwt_secret.txt
            """,
        },
    )
    outcome = judge("compose_no_plaintext_secrets")
    assert outcome.status == "pass", outcome.detail


def test_literal_secrets_fail_with_file_line_and_masked_value(tree):
    write(
        tree,
        {
            "compose.yaml": """
                services:
                  db:
                    image: postgres:16.2
                    environment:
                      POSTGRES_USER: shop
                      POSTGRES_PASSWORD: 123456
                  api:
                    image: ghcr.io/acme/api:2.3.0
                    environment:
                      - DJANGO_SECRET_KEY=django-insecure-9x!k2@p#l0v3
                      - STRIPE_API_KEY=sk_live_51HxQ2bKx8a7Yd0PZ0bQy9mY3
                      - API_KEY=abc123
            """,
        },
    )
    outcome = judge("compose_no_plaintext_secrets")
    assert outcome.status == "fail"
    assert "compose.yaml:6: db: POSTGRES_PASSWORD is set to a literal value ([redacted])" in (
        outcome.detail
    )
    assert "compose.yaml:10: api: DJANGO_SECRET_KEY is set to a literal value (dj***)" in (
        outcome.detail
    )
    assert "compose.yaml:11: api: STRIPE_API_KEY" in outcome.detail
    assert "compose.yaml:12: api: API_KEY" in outcome.detail
    assert_never_shown(outcome, "123456", "9x!k2@p#l0v3", "sk_live_51Hx", "abc123")
    assert outcome.data["findings"][0] == {
        "file": "compose.yaml",
        "line": 6,
        "message": "db: POSTGRES_PASSWORD is set to a literal value ([redacted])",
    }


@pytest.mark.parametrize(
    "value", ["${POSTGRES_PASSWORD:-changeme}", "${POSTGRES_PASSWORD-changeme}"]
)
def test_a_default_literal_is_the_value_compose_uses(tree, value):
    write(
        tree,
        {
            "compose.yaml": f"""
                services:
                  db:
                    image: postgres:16.2
                    environment:
                      POSTGRES_PASSWORD: "{value}"
            """,
        },
    )
    outcome = judge("compose_no_plaintext_secrets")
    assert outcome.status == "fail"
    assert "compose.yaml:5: db: POSTGRES_PASSWORD" in outcome.detail
    assert_never_shown(outcome, "changeme")


def test_required_variables_and_escaped_dollars_are_not_literals(tree):
    write(
        tree,
        {
            "compose.yaml": """
                services:
                  redis:
                    image: redis:7.2-alpine
                    command: sh -c 'exec redis-server --requirepass "$$REDIS_PASSWORD"'
                    environment:
                      REDIS_PASSWORD: ${REDIS_PASSWORD:?REDIS_PASSWORD must be set}
                    healthcheck:
                      test: ["CMD-SHELL", "redis-cli -a $$REDIS_PASSWORD ping | grep PONG"]
            """,
        },
    )
    assert judge("compose_no_plaintext_secrets").status == "pass"


def test_a_password_on_a_command_line_is_a_plaintext_secret(tree):
    write(
        tree,
        {
            "compose.yaml": """
                services:
                  redis:
                    image: redis:7.2-alpine
                    command: ["redis-server", "--appendonly", "yes", "--requirepass", "hunter2hunter2"]
            """,
        },
    )
    outcome = judge("compose_no_plaintext_secrets")
    assert outcome.status == "fail"
    assert "compose.yaml:4: redis: command passes --requirepass a literal value" in outcome.detail
    assert_never_shown(outcome, "hunter2hunter2")


def test_a_literal_from_the_committed_dot_env_is_named_where_it_is_written(tree):
    write(
        tree,
        {
            ".env": """
                # local defaults
                POSTGRES_USER=shop
                POSTGRES_PASSWORD='pg-Pa55word!'
                POSTGRES_DB=shop
            """,
            "docker-compose.yml": """
                services:
                  db:
                    image: postgres:16.2
                    environment:
                      POSTGRES_USER: ${POSTGRES_USER}
                      POSTGRES_PASSWORD: ${POSTGRES_PASSWORD}
            """,
        },
    )
    outcome = judge("compose_no_plaintext_secrets")
    assert outcome.status == "fail"
    assert (
        ".env:3: db: POSTGRES_PASSWORD is set to a literal value (pg***), "
        "used at docker-compose.yml:6"
    ) in outcome.detail
    assert_never_shown(outcome, "pg-Pa55word!")


def test_a_committed_env_file_with_a_secret_fails_and_a_missing_one_is_the_fix(tree):
    compose = """
        services:
          api:
            image: ghcr.io/acme/api:2.3.0
            env_file:
              - path: ./config/api.env
                required: false
    """
    write(tree, {"compose.yaml": compose})
    assert judge("compose_no_plaintext_secrets").status == "pass"
    write(tree, {"config/api.env": "LOG_LEVEL=info\nSMTP_PASSWORD=mail-pw-77\n"})
    outcome = judge("compose_no_plaintext_secrets")
    assert outcome.status == "fail"
    assert "config/api.env:2: api: SMTP_PASSWORD (env_file api.env)" in outcome.detail
    assert_never_shown(outcome, "mail-pw-77")


def test_secrets_from_files_are_the_fix(tree):
    write(
        tree,
        {
            "compose.yaml": """
                services:
                  db:
                    image: postgres:16.2
                    environment:
                      POSTGRES_PASSWORD_FILE: /run/secrets/db_password
                    secrets: [db_password]
                  api:
                    image: ghcr.io/acme/api:2.3.0
                    environment:
                      DATABASE_PASSWORD_FILE: /run/secrets/db_password
                    secrets:
                      - source: db_password
                        target: db_password
                secrets:
                  db_password:
                    file: ./secrets/db_password.txt
            """,
        },
    )
    assert judge("compose_no_plaintext_secrets").status == "pass"


def test_secrets_in_the_override_and_in_a_production_variant_are_found(tree):
    write(
        tree,
        {
            "compose.yaml": """
                services:
                  api:
                    image: ghcr.io/acme/api:2.3.0
                    environment:
                      API_TOKEN: ${API_TOKEN}
            """,
            "compose.override.yaml": """
                services:
                  api:
                    environment:
                      API_TOKEN: dev-token-0000
            """,
            "docker-compose.prod.yml": """
                services:
                  api:
                    build:
                      context: .
                      args:
                        NPM_TOKEN: npm_abcdefghijklmnop0123456789ABCDEFGH
            """,
        },
    )
    outcome = judge("compose_no_plaintext_secrets")
    assert outcome.status == "fail"
    assert "compose.override.yaml:4: api: API_TOKEN" in outcome.detail
    assert "docker-compose.prod.yml:6: api: build arg NPM_TOKEN" in outcome.detail
    assert_never_shown(outcome, "dev-token-0000", "npm_abcdefghijklmnop")
    # Named with file:, only that file is judged.
    assert judge("compose_no_plaintext_secrets", file="compose.yaml").status == "pass"


def test_a_secret_in_a_shared_anchor_is_named_at_the_anchor(tree):
    write(
        tree,
        {
            "docker-compose.yml": """
                x-app-env: &app-env
                  DJANGO_SETTINGS_MODULE: shop.settings.production
                  EMAIL_HOST_PASSWORD: smtp-Pa55-2024
                services:
                  web:
                    image: ghcr.io/acme/shop:1.9.0
                    environment:
                      <<: *app-env
                  worker:
                    image: ghcr.io/acme/shop:1.9.0
                    environment: *app-env
            """,
        },
    )
    outcome = judge("compose_no_plaintext_secrets")
    assert outcome.status == "fail"
    assert "docker-compose.yml:3: web: EMAIL_HOST_PASSWORD" in outcome.detail
    assert "docker-compose.yml:3: worker: EMAIL_HOST_PASSWORD" in outcome.detail
    assert_never_shown(outcome, "smtp-Pa55-2024")


# --- configuration ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("config", "field"),
    [
        ({"file": "../other/compose.yaml"}, "file"),
        ({"file": "/etc/compose.yaml"}, "file"),
        ({"file": "compose.yaml", "recursive": True}, "recursive"),
        ({"recursive": "yes"}, "recursive"),
        ({"profiles": [1]}, "profiles"),
    ],
)
def test_invalid_compose_settings_are_refused_naming_the_field(config, field):
    for rule in ("compose_resource_limits", "compose_no_plaintext_secrets"):
        with pytest.raises(ConfigError) as refused:
            get_kind("repository").validate({"rule": rule, "path": "x", **config})
        assert refused.value.field == field


def test_windows_line_endings_are_read(tree):
    compose = LIMITED.lstrip("\n").replace("\n", "\r\n")
    (tree / "compose.yaml").write_bytes(compose.encode())
    (tree / ".env").write_bytes(b"API_TAG=1.4.2\r\nDB_PASSWORD=\r\n")
    assert judge("compose_resource_limits").status == "pass"
    assert judge("compose_no_plaintext_secrets").status == "pass"
