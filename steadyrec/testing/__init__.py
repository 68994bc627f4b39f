"""What tests and benchmarks share to start and drive the real parts: the server harness (redis-server, a
Celery worker process, the app, uvicorn), small exported artifacts, and the bad-input corpus. Never imported
by the core, the service, the worker or training."""
