#!/usr/bin/env bash
# Post-deploy smoke tests: the critical paths answer.
set -euo pipefail
curl -fsS http://localhost/health >/dev/null
curl -fsS http://localhost/api/products?limit=1 >/dev/null
curl -fsS http://localhost/api/health/ready >/dev/null
