"""Settings modules: ``local`` (make run), ``production`` (docker-compose, real deployments), ``test``."""
