"""Writes to the readiness domain: runs, ticks, CI reports, waivers, the catalog, verification."""
