"""Beat's schedule and its state in the database: no schedule file, nothing kept in /tmp."""
