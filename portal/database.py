"""Column types shared by every domain, and the SQLite connection settings."""

from contextvars import ContextVar
from datetime import UTC, datetime

from sqlalchemy import DateTime, Enum, event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session
from sqlalchemy.types import TypeDecorator

TRANSACTION_MEMO = "transaction_memo"


def utcnow():
    """The current time in UTC, timezone-aware."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator):
    """A timestamp stored in UTC and always read back timezone-aware (SQLite drops zones)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        """Refuse naive datetimes; normalise aware ones to UTC."""
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given for a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):
        """Attach UTC to what SQLite returns without a zone."""
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def transaction_memo(session, name):
    """A dict that lives as long as the session's current transaction: what this transaction
    already knows for sure while it holds its row locks (locks taken, chain ends, accounts).
    Any commit or rollback, a savepoint's included, forgets it all."""
    return session.info.setdefault(TRANSACTION_MEMO, {}).setdefault(name, {})


@event.listens_for(Session, "after_commit")
def _forget_memo_at_commit(session):
    """The transaction ended: its locks are gone (SQLAlchemy also calls this when a savepoint
    is released, which keeps them)."""
    if not session.in_nested_transaction():
        session.info.pop(TRANSACTION_MEMO, None)


@event.listens_for(Session, "after_soft_rollback")
def _forget_memo_at_rollback(session, _transaction):
    """Any rollback, a savepoint's too, may undo what the memo says: forget it."""
    session.info.pop(TRANSACTION_MEMO, None)


def enum_column(enum_cls, name):
    """A portable enum column: VARCHAR plus a CHECK constraint of the allowed values."""
    return Enum(
        enum_cls,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=max(20, *(len(m.value) for m in enum_cls)),
        values_callable=lambda members: [m.value for m in members],
    )


@event.listens_for(Engine, "connect")
def _sqlite_on_connect(dbapi_connection, _record):
    """WAL, a busy timeout and enforced foreign keys; transactions begun by hand."""
    if type(dbapi_connection).__module__ != "sqlite3":
        return
    dbapi_connection.isolation_level = None  # let SQLAlchemy's "begin" event start them
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


# True when the current unit of work may write (unsafe requests, jobs, CLI commands).
write_intent = ContextVar("write_intent", default=True)


@event.listens_for(Engine, "begin")
def _sqlite_begin(conn):
    """Writers take SQLite's write lock at once, so they queue instead of failing midway;
    readers (GET requests) start a plain transaction and never wait on writers (WAL)."""
    if conn.dialect.name != "sqlite":
        return
    if write_intent.get():
        conn.exec_driver_sql("BEGIN IMMEDIATE")
    else:
        conn.exec_driver_sql("BEGIN")


def render_migration_type(type_, obj, _autogen_context):
    """Alembic renders our UTC timestamps as plain DateTime so migrations need no app code."""
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False
