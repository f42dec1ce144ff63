"""GET /healthz reports the database, Redis, the worker and the scheduler."""

import os
import subprocess
import sys
import time

from portal.queue import redis_client
from tests.factories import child_env


def test_unhealthy_without_worker_and_scheduler(client):
    response = client.get("/healthz")
    body = response.get_json()
    assert response.status_code == 503
    assert body["checks"]["database"]["ok"] is True
    assert body["checks"]["redis"]["ok"] is True
    assert set(body["failing"]) == {"worker", "scheduler"}


def test_healthy_with_a_running_worker_and_scheduler(client, test_settings):
    env = child_env(test_settings)
    root = os.path.dirname(os.path.dirname(__file__))
    worker = subprocess.Popen(
        [sys.executable, "-m", "jobs.worker"],
        env=env,
        cwd=root,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    cron = subprocess.Popen(
        [sys.executable, "-m", "rq.cli", "cron", "--url", test_settings["REDIS_URL"], "jobs.cron"],
        env=env,
        cwd=root,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            response = client.get("/healthz")
            if response.status_code == 200:
                break
            time.sleep(0.5)
        assert response.status_code == 200, response.get_json()
        assert response.get_json()["failing"] == []
    finally:
        for process in (worker, cron):
            process.terminate()
            process.wait(timeout=15)


def test_redis_down_is_named(app, client):
    real = app.extensions["redis"]
    app.extensions["redis"] = redis_client("redis://127.0.0.1:1/0")
    try:
        response = client.get("/healthz")
    finally:
        app.extensions["redis"] = real
    assert response.status_code == 503
    assert "redis" in response.get_json()["failing"]
