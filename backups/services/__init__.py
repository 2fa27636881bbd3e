"""Backup services: every write to backups, drills and WAL samples goes through here."""
