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


#: what the queue's Redis must be configured with (TEST-PLAN decision 5): evicting keys
#: would silently drop queued jobs
REDIS_POLICY = "noeviction"


def check_redis_config():
    """Redis keeps every job: maxmemory-policy noeviction, and persistence on (AOF).

    Reported, never failed: the database stays the source of truth and the sweeps re-derive
    lost work, so a misconfigured Redis is a warning for operators, not an outage. Managed
    Redis services that refuse CONFIG are reported as unknown.
    """
    try:
        client = get_redis()
        policy = client.config_get("maxmemory-policy").get("maxmemory-policy")
        aof = client.config_get("appendonly").get("appendonly")
    except RedisError as error:
        return {"ok": True, "detail": f"configuration unknown ({type(error).__name__})"}
    policy = policy.decode() if isinstance(policy, bytes) else policy
    aof = aof.decode() if isinstance(aof, bytes) else aof
    result = {"ok": True, "detail": f"maxmemory-policy {policy}, appendonly {aof}"}
    warnings = []
    if policy != REDIS_POLICY:
        warnings.append(f"maxmemory-policy is {policy}, not {REDIS_POLICY}: jobs may be evicted")
    if aof != "yes":
        warnings.append("appendonly is off: a restart loses queued jobs until the next sweep")
    if warnings:
        result["warning"] = "; ".join(warnings)
    return result


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
        "redis_config": check_redis_config(),
        "worker": check_worker(),
        "scheduler": check_scheduler(),
    }
