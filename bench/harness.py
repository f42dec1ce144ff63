"""A throwaway app on a fresh SQLite file and embedded Redis, and a timer."""

import statistics
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

from flask_migrate import upgrade

from portal import create_app
from portal.extensions import db
from portal.queue import stop_embedded_redis


@contextmanager
def bench_app():
    """An app on its own database and Redis, migrated and empty."""
    with tempfile.TemporaryDirectory(prefix="duet-bench-") as folder:
        app = create_app(
            "testing",
            {
                "SQLALCHEMY_DATABASE_URI": f"sqlite:///{Path(folder) / 'bench.sqlite'}",
                "EMBEDDED_REDIS_PATH": str(Path(folder) / "redis.db"),
                "REDIS_URL": None,
                "RATELIMIT_ENABLED": False,
                "WTF_CSRF_ENABLED": False,
            },
        )
        with app.app_context():
            upgrade()
        try:
            yield app
        finally:
            with app.app_context():
                db.engine.dispose()
            stop_embedded_redis(app.extensions["embedded_redis"], owner=True)


def time_calls(func, repeat):
    """Median and 95th percentile of `repeat` calls, in milliseconds."""
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        func()
        samples.append((time.perf_counter() - start) * 1000)
    samples.sort()
    return statistics.median(samples), samples[int(len(samples) * 0.95) - 1]
