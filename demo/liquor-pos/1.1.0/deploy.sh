#!/usr/bin/env bash
# Liquor POS deployment (Linux). Sample tree shipped with the Preflight demo.
set -euo pipefail
VERSION="${1:?usage: deploy.sh VERSION}"
log() { echo "[$(date -u +%FT%TZ)] [$VERSION] $*" | tee -a deploy.log; }
trap 'log "deployment failed; rolling back"; ./rollback.sh --yes --to previous' ERR

wait_healthy() {  # poll a service's health instead of guessing how long it needs
  local service=$1
  for _ in $(seq 60); do
    [ "$(docker inspect -f '{{.State.Health.Status}}' "$service")" = healthy ] && return 0
    sleep 2
  done
  log "$service never became healthy"; return 1
}

./scripts/pre-deploy-validation.sh
git tag -f "deployed-$VERSION" && log "tagged deployed-$VERSION"
pg_dump "$DATABASE_URL" -Fc -f "backups/pre-deploy-$VERSION.dump"

docker compose pull
docker compose up -d postgres redis
wait_healthy pos-postgres
docker compose run --rm backend npx prisma migrate diff --exit-code --from-migrations backend/prisma/migrations
docker compose run --rm backend npx prisma migrate deploy
docker compose up -d --no-deps --scale backend=2 backend   # blue-green: new next to old
wait_healthy pos-backend
docker compose up -d frontend
wait_healthy pos-frontend
./scripts/smoke-tests.sh
./scripts/notify.sh "deployed $VERSION"
