#!/usr/bin/env bash
# Liquor POS rollback (Linux): to a tagged version, service by service.
set -euo pipefail
: "${DB_USER:?DB_USER must be set}" "${DB_HOST:?DB_HOST must be set}"
TARGET="${TARGET_VERSION:?TARGET_VERSION must be set}"
SERVICES="${SERVICES:-backend frontend}"
pg_dump -U "$DB_USER" -h "$DB_HOST" pos -Fc -f "backups/pre-rollback-$(date +%s).dump"
pg_restore -U "$DB_USER" -h "$DB_HOST" -d pos --clean "backups/pre-deploy-$TARGET.dump"
for service in $SERVICES; do docker compose up -d --no-deps "$service"; done
./scripts/smoke-tests.sh
