"""A throwaway app on a fresh SQLite file and embedded Redis, a timer, and the PostgreSQL
databases and Redis index the PostgreSQL benches create and drop."""

import os
import statistics
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from flask_migrate import upgrade
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

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


def _admin_engine(url):
    """An autocommit engine on the server's `postgres` database (to create and drop ours)."""
    return create_engine(make_url(url).set(database="postgres"), isolation_level="AUTOCOMMIT")


def recreate_database(url, bench):
    """Drop and create a bench's PostgreSQL database; False (said) when it is unreachable."""
    name = make_url(url).database
    try:
        engine = _admin_engine(url)
        with engine.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        engine.dispose()
    except Exception as error:  # any failure to reach the server: skip
        print(f"{bench}: skipped, PostgreSQL unreachable at {url}: {error}")
        return False
    return True


def drop_database(url):
    """Drop a bench's PostgreSQL database."""
    engine = _admin_engine(url)
    with engine.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)'))
    engine.dispose()


def bench_redis_url(default_index):
    """REDIS_URL pointed at the bench's own database index (BENCH_REDIS_DB), or None for
    the embedded Redis."""
    url = os.environ.get("REDIS_URL")
    if not url:
        return None
    parts = urlsplit(url)
    if parts.scheme in ("redis", "rediss"):
        index = os.environ.get("BENCH_REDIS_DB", default_index)
        return urlunsplit(parts._replace(path=f"/{index}"))
    return url
