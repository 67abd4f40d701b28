"""Gunicorn settings shared by every way of starting the web process (Procfile, docker-compose)."""
from prometheus_client import multiprocess


def child_exit(server, worker) -> None:
    """Drop a dead worker's live gauges from the multi-process metrics (prometheus-client's recipe)."""
    multiprocess.mark_process_dead(worker.pid)
