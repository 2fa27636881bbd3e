#!/usr/bin/env bash
# Reverts the last migration.
set -euo pipefail
sqlite3 "${DB_FILE:-pos.db}" < "backend/prisma/migrations/$1/rollback.sql"
