"""GET /healthz: the state of the database, Redis, the worker and the scheduler."""

from flask import Blueprint, jsonify

from portal.health.checks import run_checks

bp = Blueprint("health", __name__)


@bp.route("/healthz")
def healthz():
    """200 when every part is healthy, 503 naming the failing parts otherwise."""
    results = run_checks()
    healthy = all(part["ok"] for part in results.values())
    failing = [name for name, part in results.items() if not part["ok"]]
    body = {"status": "ok" if healthy else "unhealthy", "failing": failing, "checks": results}
    response = jsonify(body)
    response.status_code = 200 if healthy else 503
    response.headers["Cache-Control"] = "no-store"
    return response
