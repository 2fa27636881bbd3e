# Liquor POS deployment (Windows).
param([Parameter(Mandatory)] [string] $Version)
$ErrorActionPreference = "Stop"
function Wait-Healthy($Service) {
  for ($i = 0; $i -lt 60; $i++) {
    if ((docker inspect -f '{{.State.Health.Status}}' $Service) -eq "healthy") { return }
    Start-Sleep -Seconds 2
  }
  throw "$Service never became healthy"
}
& .\scripts\pre-deploy-validation.ps1
docker compose pull
docker compose up -d postgres redis
Wait-Healthy pos-postgres
docker compose run --rm backend npx prisma migrate deploy
docker compose up -d backend frontend
Wait-Healthy pos-backend
