"""Every write to the release domain goes through a function here: it checks the actor's
permission, validates, changes the rows, and records the audit event in the same transaction."""
