#!/usr/bin/env bash
# Liquor POS deployment (Linux). Sample tree shipped with the Preflight demo.
set -euo pipefail
log() { echo "[$(date -u +%FT%TZ)] $*" | tee -a deploy.log; }
trap 'log "deployment failed; rolling back"; ./rollback.sh --yes' ERR

log "checking prerequisites"
command -v docker >/dev/null || { log "docker missing"; exit 1; }
[ -n "${DATABASE_URL:-}" ] || { log "DATABASE_URL missing"; exit 1; }

log "backing up the database"
pg_dump "$DATABASE_URL" -Fc -f "backups/pre-deploy-$(date +%s).dump"

docker compose pull
docker compose up -d postgres redis
sleep 5
docker compose run --rm backend npx prisma migrate deploy
docker compose up -d backend frontend
sleep 15

for attempt in 1 2 3 4 5; do
  curl -fsS http://localhost/health && break
  log "health check $attempt failed"
done
# notify "deployment finished"   (notifications not wired yet)
log "deployment finished"
