# The production image: web (gunicorn), worker and beat all run from it (docker-compose.yml).
FROM python:3.13-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    UV_PYTHON_DOWNLOADS=never \
    UV_COMPILE_BYTECODE=1 \
    UV_PROJECT_ENVIRONMENT=/opt/venv \
    PATH=/opt/venv/bin:$PATH \
    PREFLIGHT_VAR_DIR=/app/var

# pg_dump / pg_restore for backups and restore drills; git (and ssh) to fetch releases' commits.
RUN apt-get update \
    && apt-get install -y --no-install-recommends postgresql-client git openssh-client \
    && rm -rf /var/lib/apt/lists/* \
    && pip install --no-cache-dir uv==0.13.8 \
    && useradd --system --uid 10001 --home-dir /app preflight

WORKDIR /app
# Dependencies first, so a code change does not reinstall them. --no-dev leaves out the dev group
# and the test group it includes (pytest, Playwright, honcho, linters, stubs): the image holds
# only what Preflight runs with.
COPY pyproject.toml uv.lock ./
COPY client/ client/
RUN uv sync --locked --no-dev --no-install-project

COPY . .
# Static files are collected at build time. Production settings insist on every variable, so
# placeholders stand in for this one command; nothing connects anywhere during collectstatic.
RUN DJANGO_SETTINGS_MODULE=preflight.settings.production \
        SECRET_KEY=collectstatic-only-placeholder-not-used-at-runtime-0123456789 \
        PREFLIGHT_AUDIT_ANCHOR_KEY=collectstatic-only-placeholder-not-used-at-runtime-987654321 \
        ALLOWED_HOSTS=build DATABASE_URL=postgres://build/build REDIS_URL=redis://build \
        python manage.py collectstatic --noinput \
    && mkdir -p /app/var/backups /app/var/audit-anchors \
    && chown -R preflight /app/var

USER preflight
ENV DJANGO_SETTINGS_MODULE=preflight.settings.production
EXPOSE 8000
CMD ["gunicorn", "preflight.wsgi", "--config", "preflight/gunicorn.conf.py"]
