# Liquor POS rollback (Windows).
$DbUser = if ($env:DB_USER) { $env:DB_USER } else { "postgres" }
$answer = Read-Host "Roll back to the last backup? [y/N]"
if ($answer -ne "y") { exit 1 }
$latest = Get-ChildItem backups\*.dump | Sort-Object LastWriteTime -Descending | Select-Object -Skip 1 -First 1
pg_restore -U $DbUser -d pos --clean $latest.FullName
Invoke-WebRequest http://localhost/health | Out-Null
Write-Host "rollback complete"
