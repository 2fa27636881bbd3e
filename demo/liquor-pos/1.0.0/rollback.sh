#!/usr/bin/env bash
# Liquor POS rollback (Linux).
set -euo pipefail
DB_USER="${DB_USER:-postgres}"
DB_HOST="${DB_HOST:-localhost}"
read -r -p "Roll back to the last backup? [y/N] " answer
[ "$answer" = "y" ] || exit 1
pg_dump -U "$DB_USER" -h "$DB_HOST" pos -Fc -f "backups/pre-rollback-$(date +%s).dump"
latest=$(ls -t backups/*.dump | sed -n 2p)
pg_restore -U "$DB_USER" -h "$DB_HOST" -d pos --clean "$latest"
pm2 restart pos-backend || systemctl restart pos-backend || echo "could not restart the backend"
curl -fsS http://localhost/health && echo "rollback complete"
