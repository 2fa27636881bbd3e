#!/usr/bin/env bash
# Reverts one migration against PostgreSQL.
set -euo pipefail
psql -v ON_ERROR_STOP=1 "$DATABASE_URL" -f "backend/prisma/migrations/$1/rollback.sql"
