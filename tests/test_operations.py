"""Operations and data safety: migrations, SQLite settings, production config (TEST-PLAN 8.9)."""

import pytest
from alembic.script import ScriptDirectory
from flask import current_app
from flask_migrate import check, downgrade, upgrade
from sqlalchemy import inspect, text
from sqlalchemy.exc import IntegrityError

import portal
from portal.accounts.models import BrandMembership, BrandRole
from portal.config import ConfigError, load_config
from portal.extensions import db

# O-1 migrations ----------------------------------------------------------------------------------


def app_tables():
    """Tables of the models."""
    return set(db.metadata.tables)


def tables_in_database():
    """Tables that exist in the connected database."""
    return set(inspect(db.engine).get_table_names())


def head_revision():
    """The newest revision in the migrations folder."""
    config = current_app.extensions["migrate"].migrate.get_config()
    return ScriptDirectory.from_config(config).get_current_head()


def database_revision():
    """The revision the database is stamped with, or None."""
    with db.engine.connect() as conn:
        if "alembic_version" not in inspect(conn).get_table_names():
            return None
        return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()


def run_check(capsys):
    """flask_migrate.check(): None when models and migrations agree, else what it reported.

    On a difference it logs "Error: ..." and exits with status 1 (flask_migrate.catch_errors);
    Alembic's env.py sends that log line to stderr."""
    capsys.readouterr()
    try:
        check()
    except SystemExit as stop:
        assert stop.code == 1
        return capsys.readouterr().err or "check exited with status 1"
    return None


def test_models_and_migrations_agree(app, capsys):
    with app.app_context():
        db.session.remove()
        assert database_revision() == head_revision()
        assert run_check(capsys) is None


def test_check_does_report_a_schema_difference(app, capsys):
    """The check above is only worth something if a drift makes it fail."""
    with app.app_context():
        db.session.remove()
        with db.engine.begin() as conn:
            conn.execute(text("CREATE TABLE not_in_models (id INTEGER PRIMARY KEY)"))
        try:
            report = run_check(capsys)
        finally:
            with db.engine.begin() as conn:
                conn.execute(text("DROP TABLE not_in_models"))
        assert report is not None
        assert "New upgrade operations detected" in report
        assert "remove_table" in report and "not_in_models" in report
        assert run_check(capsys) is None


def test_migrations_downgrade_to_base_and_upgrade_to_head_again(app, capsys):
    with app.app_context():
        db.session.remove()
        try:
            downgrade(revision="base")
            assert database_revision() is None
            assert tables_in_database() & app_tables() == set()
        finally:
            upgrade()  # other tests need the schema back whatever happened
        assert database_revision() == head_revision()
        assert app_tables() <= tables_in_database()
        assert run_check(capsys) is None

        # Step by step as well: one revision down and up again.
        try:
            downgrade(revision="-1")
        finally:
            upgrade()
        assert database_revision() == head_revision()
        assert app_tables() <= tables_in_database()


def test_app_works_on_the_rebuilt_schema(app, web, make_user):
    user = make_user()
    assert web.login(user.email).status_code == 302
    assert web.client.get("/account").status_code == 200


# O-2 foreign keys and SQLite settings ------------------------------------------------------------


@pytest.fixture
def sqlite_only(app):
    """Skip on PostgreSQL: these settings exist for SQLite only."""
    with app.app_context():
        if db.engine.dialect.name != "sqlite":
            pytest.skip("SQLite PRAGMAs only; PostgreSQL has no such switches")


def test_orphan_row_is_refused_by_a_foreign_key(app, make_user):
    """SQLite checks foreign keys only with PRAGMA foreign_keys=ON per connection; PG always."""
    owner = make_user()
    with app.app_context():
        with pytest.raises(IntegrityError, match=r"(?i)foreign key"), db.engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO brand_memberships (brand_id, user_id, role, created_at) "
                    "VALUES (:brand, :user, 'viewer', CURRENT_TIMESTAMP)"
                ),
                {"brand": owner.brand_id, "user": 999_999},
            )
        with db.engine.connect() as conn:
            count = conn.execute(text("SELECT COUNT(*) FROM brand_memberships")).scalar()
        assert count == 1  # only the owner's own membership


def test_orphan_row_is_refused_through_the_orm(app, make_user):
    owner = make_user()
    with app.app_context():
        db.session.add(
            BrandMembership(brand_id=owner.brand_id, user_id=999_999, role=BrandRole.viewer)
        )
        with pytest.raises(IntegrityError):
            db.session.commit()
        db.session.rollback()


def sqlite_settings(conn):
    """The pragmas that matter, read on one connection."""
    settings = {
        name: conn.exec_driver_sql(f"PRAGMA {name}").scalar()
        for name in ("journal_mode", "busy_timeout", "foreign_keys")
    }
    conn.rollback()
    return settings


def test_sqlite_uses_wal_and_a_busy_timeout_on_every_connection(app, sqlite_only):
    with app.app_context():
        # Two connections at once, so both are set up by the connect hook, not only one.
        first, second = db.engine.connect(), db.engine.connect()
        try:
            for conn in (first, second):
                settings = sqlite_settings(conn)
                assert settings["journal_mode"].lower() == "wal"
                assert settings["busy_timeout"] >= 5000
                assert settings["foreign_keys"] == 1
        finally:
            first.close()
            second.close()


# O-4 secrets and debug ---------------------------------------------------------------------------

PRODUCTION_ENV = {
    "SECRET_KEY": "s3cret-from-the-environment-not-the-repo",
    "TRUSTED_HOSTS": "duet.example.com, www.duet.example.com",
    "DATABASE_URL": "postgresql+psycopg://duet@db/duet",
}


@pytest.mark.parametrize("missing", ["SECRET_KEY", "TRUSTED_HOSTS"])
@pytest.mark.parametrize("how", ["unset", "empty"])
def test_production_refuses_to_start_without(missing, how):
    env = dict(PRODUCTION_ENV)
    if how == "unset":
        del env[missing]
    else:
        env[missing] = ""
    with pytest.raises(ConfigError, match=missing):
        load_config("production", env=env)


def test_production_config_is_locked_down():
    config = load_config("production", env=PRODUCTION_ENV)
    assert config["DEBUG"] is False
    assert config["TESTING"] is False
    assert config["SECRET_KEY"] == PRODUCTION_ENV["SECRET_KEY"]
    assert config["SESSION_COOKIE_SECURE"] is True
    assert config["SESSION_COOKIE_HTTPONLY"] is True
    assert config["SESSION_COOKIE_SAMESITE"] == "Lax"
    assert config["SESSION_COOKIE_NAME"].startswith("__Host-")
    assert "SESSION_COOKIE_DOMAIN" not in config or not config["SESSION_COOKIE_DOMAIN"]
    assert config["TRUSTED_HOSTS"] == ["duet.example.com", "www.duet.example.com"]
    assert config["PREFERRED_URL_SCHEME"] == "https"
    assert config["RATELIMIT_ENABLED"] is True


def test_production_selected_through_duet_env_gets_the_same_checks():
    with pytest.raises(ConfigError):
        load_config(env={"DUET_ENV": "production", "TRUSTED_HOSTS": "duet.example.com"})
    assert load_config(env={"DUET_ENV": "production", **PRODUCTION_ENV})["DEBUG"] is False


@pytest.mark.parametrize(
    "env",
    [{}, {"FLASK_DEBUG": "1"}, {"DEBUG": "true"}, {"FLASK_ENV": "development"}],
    ids=["plain", "FLASK_DEBUG", "DEBUG", "FLASK_ENV"],
)
def test_development_config_never_turns_debug_on(env):
    assert load_config("development", env=env)["DEBUG"] is False


def test_app_built_for_development_has_debug_off_even_with_flask_debug_set(
    app, test_settings, monkeypatch
):
    monkeypatch.setenv("FLASK_DEBUG", "1")
    development = portal.create_app("development", dict(test_settings))
    try:
        assert development.debug is False
        assert development.config["DEBUG"] is False
    finally:
        with development.app_context():
            db.engine.dispose()


def test_unknown_environment_name_is_refused():
    with pytest.raises(ConfigError):
        load_config("staging", env={})


# The contract-lifecycle migrations rebuild tables other tables point at (on SQLite) -----------

BEFORE_LIFECYCLE = "268b1061f3f7"


def test_lifecycle_migrations_carry_a_database_with_contracts_down_and_up(app):
    from tests.contracts.conftest import seed_pair
    from tests.deliverables.conftest import activate

    pair = seed_pair(app)
    with app.app_context():
        activate(pair)
        counts = row_counts(("contracts", "deliverables", "messages", "audit_events"))
        db.session.remove()
        try:
            downgrade(revision=BEFORE_LIFECYCLE)
            assert row_counts(("contracts", "deliverables")) == {
                k: counts[k] for k in ("contracts", "deliverables")
            }
        finally:
            upgrade()
        assert database_revision() == head_revision()
        assert row_counts(counts) == counts
        if db.engine.dialect.name == "sqlite":
            with db.engine.connect() as conn:
                assert conn.exec_driver_sql("PRAGMA foreign_key_check").all() == []
                assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


def row_counts(tables):
    """{table: rows} in the current database."""
    with db.engine.connect() as conn:
        return {t: conn.execute(text(f"SELECT count(*) FROM {t}")).scalar() for t in tables}
