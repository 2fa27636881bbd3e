# Liquor POS rollback (Windows): to a tagged version, service by service.
param(
  [Parameter(Mandatory)] [string] $TargetVersion,
  [string[]] $Services = @("backend", "frontend")
)
$ErrorActionPreference = "Stop"
if (-not $env:DB_USER -or -not $env:DB_HOST) { throw "DB_USER and DB_HOST must be set" }
pg_dump -U $env:DB_USER -h $env:DB_HOST pos -Fc -f "backups\pre-rollback-$(Get-Date -UFormat %s).dump"
pg_restore -U $env:DB_USER -h $env:DB_HOST -d pos --clean "backups\pre-deploy-$TargetVersion.dump"
foreach ($service in $Services) { docker compose up -d --no-deps $service }
& .\scripts\smoke-tests.ps1
