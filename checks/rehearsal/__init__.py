"""Migration rehearsal: a release's SQL migrations applied to a restored copy of the newest
verified backup, timed and watched for locks, checked with data assertions, rolled back, and the
schema compared with the one before.

- ``sqltext``: a migration's SQL cut into statements;
- ``layouts``: the migrations of a tree (Prisma, Flyway, numbered up/down files) and which of
  them a database's own history table says it has;
- ``locks``: a second connection watching the migrating backend's locks and the scratch size;
- ``schema``: normalised ``pg_dump --schema-only`` and the difference of two;
- ``engine``: the rehearsal on plain values (no ORM), scratch database always dropped.

What a run shares (one rehearsal per run and database), where the backup comes from and where
the result is kept: ``checks.services.rehearsals``. The check kind: ``checks.kinds.migration_rehearsal``."""
