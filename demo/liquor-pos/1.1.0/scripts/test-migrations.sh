#!/usr/bin/env bash
# Applies every migration to a throwaway PostgreSQL, then reverts them in reverse order.
set -euo pipefail
createdb pos_migration_test
for m in backend/prisma/migrations/*/migration.sql; do psql -v ON_ERROR_STOP=1 pos_migration_test -f "$m"; done
for m in $(ls -r backend/prisma/migrations/*/rollback.sql); do psql -v ON_ERROR_STOP=1 pos_migration_test -f "$m"; done
dropdb pos_migration_test
