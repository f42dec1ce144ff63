"""Duet: the collaboration portal for brands and creators."""

import logging
from pathlib import Path
from zoneinfo import ZoneInfo

from flask import Flask, request
from flask_login import current_user

from portal import errors, queue, security, storage
from portal.config import load_config
from portal.database import render_migration_type, write_intent
from portal.extensions import csrf, db, htmx, limiter, login_manager, migrate
from portal.money import format_amount

MIGRATIONS_DIR = str(Path(__file__).resolve().parent.parent / "migrations")


def create_app(config_name=None, overrides=None):
    """Build the app from the environment's settings plus optional overrides."""
    app = Flask(__name__)
    app.config.update(load_config(config_name))
    if overrides:
        app.config.update(overrides)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")

    queue.init_app(app)
    app.config["RATELIMIT_STORAGE_URI"] = queue.limiter_storage_uri(app.config["REDIS_URL"])
    db.init_app(app)
    migrate.init_app(
        app,
        db,
        directory=MIGRATIONS_DIR,
        render_as_batch=True,
        compare_type=True,
        render_item=render_migration_type,
    )
    login_manager.init_app(app)
    login_manager.login_view = "accounts.login"
    login_manager.login_message = None
    login_manager.session_protection = None  # server-side session records do this job
    csrf.init_app(app)
    htmx.init_app(app)
    limiter.init_app(app)
    security.init_app(app)
    errors.init_app(app)
    storage.init_app(app)
    app.before_request(_declare_write_intent)
    _register_models()
    _register_blueprints(app)
    _install_workroom_speedups(app)
    _register_template_helpers(app)
    _register_commands(app)
    return app


def _declare_write_intent():
    """Safe methods read only: SQLite need not take its write lock for them."""
    write_intent.set(request.method not in ("GET", "HEAD", "OPTIONS"))


def _register_models():
    """Import every domain's models so the metadata (and Alembic) sees them."""
    from portal import audit as _audit  # noqa: F401
    from portal.accounts import models as _accounts  # noqa: F401
    from portal.campaigns import models as _campaigns  # noqa: F401
    from portal.closeouts import models as _closeouts  # noqa: F401
    from portal.contracts import models as _contracts  # noqa: F401
    from portal.deliverables import models as _deliverables  # noqa: F401
    from portal.escrow import models as _escrow  # noqa: F401
    from portal.exits import models as _exits  # noqa: F401
    from portal.mediation import models as _mediation  # noqa: F401
    from portal.notifications import models as _notifications  # noqa: F401
    from portal.reports import models as _reports  # noqa: F401
    from portal.scheduling import models as _scheduling  # noqa: F401
    from portal.workrooms import models as _workrooms  # noqa: F401


def _register_blueprints(app):
    """One blueprint per domain."""
    from portal.accounts import auth as _auth  # noqa: F401 (registers the user loader)
    from portal.accounts.views import bp as accounts_bp
    from portal.admin.views import bp as admin_bp
    from portal.campaigns.views import bp as campaigns_bp
    from portal.closeouts.views import bp as closeouts_bp
    from portal.contracts.views import bp as contracts_bp
    from portal.dashboard.views import bp as dashboard_bp
    from portal.deliverables.views import bp as deliverables_bp
    from portal.escrow.views import bp as escrow_bp
    from portal.exits.views import bp as exits_bp
    from portal.health.views import bp as health_bp
    from portal.mediation.views import bp as mediation_bp
    from portal.notifications.list_views import bp as mail_lists_bp
    from portal.notifications.views import bp as notifications_bp
    from portal.reports.views import bp as reports_bp
    from portal.scheduling.views import bp as scheduling_bp
    from portal.workrooms.views import bp as workrooms_bp

    for blueprint in (
        dashboard_bp,
        accounts_bp,
        admin_bp,
        health_bp,
        workrooms_bp,
        contracts_bp,
        deliverables_bp,
        escrow_bp,
        mediation_bp,
        notifications_bp,
        mail_lists_bp,
        campaigns_bp,
        scheduling_bp,
        closeouts_bp,
        exits_bp,
        reports_bp,
    ):
        app.register_blueprint(blueprint)


def _localtime(value, fmt="%d %b %Y, %H:%M"):
    """Show a UTC time in the signed-in user's time zone."""
    if value is None:
        return ""
    zone = current_user.timezone if current_user and current_user.is_authenticated else "UTC"
    return value.astimezone(ZoneInfo(zone)).strftime(fmt)


def _unread_notifications():
    """The signed-in user's unread count for the bell (only pages with the bell ask)."""
    from portal.notifications.services import unread_count

    return unread_count(current_user) if current_user.is_authenticated else 0


def _install_workroom_speedups(app):
    """Unchanged polls answered in front of the app, and rendered log entries cached."""
    from portal.workrooms import message_cache, poll

    poll.install(app)
    message_cache.install(app)


def _register_template_helpers(app):
    """Filters the templates share."""
    app.jinja_env.add_extension("jinja2.ext.do")
    app.jinja_env.filters["localtime"] = _localtime
    app.jinja_env.filters["money"] = format_amount
    app.jinja_env.globals["app_name"] = "Duet"
    app.jinja_env.globals["unread_notifications"] = _unread_notifications


def _register_commands(app):
    """flask seed-demo and friends."""
    from portal.audit import verify_audit_command
    from portal.backup import backup_cli
    from portal.demo import seed_demo_command

    app.cli.add_command(seed_demo_command)
    app.cli.add_command(verify_audit_command)
    app.cli.add_command(backup_cli)
