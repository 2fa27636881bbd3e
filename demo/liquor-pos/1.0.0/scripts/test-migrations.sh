#!/usr/bin/env bash
# Applies every migration to a scratch database and checks the schema.
set -euo pipefail
rm -f /tmp/pos-test.db
for m in backend/prisma/migrations/*/migration.sql; do sqlite3 /tmp/pos-test.db < "$m"; done
sqlite3 /tmp/pos-test.db ".tables"
