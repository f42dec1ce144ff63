"""Health checks: each answers {"ok": bool, "detail": str}."""

from flask import current_app
from redis.exceptions import RedisError
from rq import Worker
from rq.cron import CronScheduler
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from portal.database import utcnow
from portal.extensions import db
from portal.queue import get_redis


def check_database():
    """The database answers a trivial query."""
    try:
        db.session.execute(text("SELECT 1"))
    except SQLAlchemyError as error:
        db.session.rollback()
        return {"ok": False, "detail": type(error).__name__}
    return {"ok": True, "detail": db.engine.dialect.name}


def check_redis():
    """Redis answers PING."""
    try:
        get_redis().ping()
    except RedisError as error:
        return {"ok": False, "detail": type(error).__name__}
    return {"ok": True, "detail": "ping"}


def _freshest(heartbeats):
    """The most recent of some heartbeat times, or None."""
    beats = [beat for beat in heartbeats if beat is not None]
    return max(beats) if beats else None


def _heartbeat_result(last, max_age, what):
    """A check result from the newest heartbeat of a kind of process."""
    if last is None:
        return {"ok": False, "detail": f"no {what} is running", "last_heartbeat": None}
    age = (utcnow() - last).total_seconds()
    return {
        "ok": age <= max_age.total_seconds(),
        "detail": f"last heartbeat {int(age)} s ago",
        "last_heartbeat": last.isoformat(),
    }


def check_worker():
    """At least one RQ worker has sent a heartbeat recently."""
    try:
        workers = Worker.all(connection=get_redis())
    except RedisError as error:
        return {"ok": False, "detail": type(error).__name__, "last_heartbeat": None}
    last = _freshest(w.last_heartbeat for w in workers)
    return _heartbeat_result(last, current_app.config["WORKER_HEARTBEAT_MAX_AGE"], "worker")


def check_scheduler():
    """The rq cron scheduler has sent a heartbeat recently."""
    try:
        schedulers = CronScheduler.all(connection=get_redis())
    except RedisError as error:
        return {"ok": False, "detail": type(error).__name__, "last_heartbeat": None}
    last = _freshest(s.last_heartbeat for s in schedulers)
    return _heartbeat_result(last, current_app.config["SCHEDULER_HEARTBEAT_MAX_AGE"], "scheduler")


def run_checks():
    """Every check by name."""
    return {
        "database": check_database(),
        "redis": check_redis(),
        "worker": check_worker(),
        "scheduler": check_scheduler(),
    }
