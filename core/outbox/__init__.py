"""The transactional outbox: side effects (Celery tasks) written as rows in the transaction that
causes them, and relayed to the broker after it commits (``relay``)."""
