"""Backups of the database, their restore into a fresh database, and the drill that proves
both work (TEST-PLAN O-3).

A backup is one file plus a manifest beside it (`<file>.manifest.json`): when it was taken,
the schema revision, the file's SHA-256 and the row count of every table *in the same
snapshot as the dump*. A restore refuses a corrupted file, refuses a database that already
has tables, and checks the restored row counts against the manifest.

- PostgreSQL: `pg_dump --format=custom` of an exported snapshot (the counts are read in
  that same snapshot), restored by `pg_restore --single-transaction`. The client tools must
  be of the server's major version or newer (Debian: `postgresql-client-15`).
- SQLite: the online backup API (`sqlite3.Connection.backup`) into a new file, which is a
  consistent copy even while the app writes; a restore copies it into the fresh file the
  same way.
"""

import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC
from pathlib import Path

import click
from flask import current_app
from flask.cli import AppGroup
from psycopg import sql
from sqlalchemy import create_engine, func, inspect, select, table, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from portal.database import utcnow
from portal.extensions import db

MANIFEST_SUFFIX = ".manifest.json"
CHUNK = 1024 * 1024


class BackupError(RuntimeError):
    """A backup or restore could not be done; the message says why and what to do."""


@dataclass(frozen=True)
class Backup:
    """A written backup: its file, the manifest's content and how long it took."""

    path: Path
    manifest: dict
    seconds: float


@dataclass(frozen=True)
class Restore:
    """A finished restore: the restored row counts and how long it took."""

    rows: dict
    seconds: float


@dataclass(frozen=True)
class Drill:
    """A restore drill's figures (RPO/RTO inputs) and every problem it found."""

    backup: Backup
    scratch: str  #: the URL of the restored copy (dropped unless kept)
    restore: Restore
    check_seconds: float
    problems: list

    @property
    def recovery_seconds(self):
        """Measured time to recover: restore plus the checks before reopening."""
        return self.restore.seconds + self.check_seconds


# URLs and tools -------------------------------------------------------------------------------


def is_postgres(url):
    """True for a PostgreSQL URL, False for SQLite; anything else is refused."""
    backend = make_url(url).get_backend_name()
    if backend not in ("postgresql", "sqlite"):
        raise BackupError(f"backups support PostgreSQL and SQLite, not {backend}")
    return backend == "postgresql"


def sqlite_path(url):
    """The file of a SQLite URL."""
    path = make_url(url).database
    if not path or path == ":memory:":
        raise BackupError("an in-memory SQLite database cannot be backed up or restored")
    return Path(path)


def safe_url(url):
    """The URL without its password, for messages and manifests."""
    return make_url(url).render_as_string(hide_password=True)


def _libpq(url):
    """(connection URI for the pg_* tools, environment carrying the password)."""
    parsed = make_url(url)
    env = dict(os.environ)
    if parsed.password:
        env["PGPASSWORD"] = str(parsed.password)
    uri = parsed.set(drivername="postgresql", password=None)
    return uri.render_as_string(hide_password=False), env


def _run_tool(name, *args, env):
    """Run pg_dump or pg_restore; a clear BackupError when it is missing or fails."""
    if shutil.which(name) is None:
        raise BackupError(
            f"{name} was not found: install the PostgreSQL client tools of the server's major"
            " version or newer (Debian: apt-get install postgresql-client-15)"
        )
    # A fixed tool and an argument list, no shell: nothing here is interpreted.
    result = subprocess.run([name, *args], env=env, capture_output=True, text=True)  # noqa: S603
    if result.returncode != 0:
        raise BackupError(f"{name} failed: {result.stderr.strip()[-2000:]}")


def _engine(url):
    """A short-lived engine without a pool, so nothing stays connected afterwards."""
    return create_engine(url, poolclass=NullPool)


def _maintenance(url):
    """An autocommit engine on the server's `postgres` database (to create or drop others)."""
    maintenance = make_url(url).set(database="postgres")
    return create_engine(maintenance, poolclass=NullPool, isolation_level="AUTOCOMMIT")


def create_database(url):
    """Create the (PostgreSQL) database of a URL; SQLite files appear when first written."""
    if not is_postgres(url):
        return
    _on_server(url, "CREATE DATABASE ", "")


def drop_database(url):
    """Remove the database of a URL (a scratch copy), with any connections still on it."""
    if not is_postgres(url):
        for suffix in ("", "-wal", "-shm"):
            Path(f"{sqlite_path(url)}{suffix}").unlink(missing_ok=True)
        return
    _on_server(url, "DROP DATABASE IF EXISTS ", " WITH (FORCE)")


def _on_server(url, before, after):
    """Run `before <the URL's database name> after` on the server: the name is quoted by
    psycopg as an identifier (statements about databases take no bound parameters)."""
    statement = sql.Composed(
        [sql.SQL(before), sql.Identifier(make_url(url).database), sql.SQL(after)]
    )
    engine = _maintenance(url)
    with engine.connect() as conn:
        conn.connection.driver_connection.execute(statement)
    engine.dispose()


def database_exists(url):
    """Whether the database of a URL exists (a SQLite file, a PostgreSQL database)."""
    if not is_postgres(url):
        return sqlite_path(url).exists()
    engine = _maintenance(url)
    with engine.connect() as conn:
        found = conn.scalar(
            text("SELECT 1 FROM pg_database WHERE datname = :name"),
            {"name": make_url(url).database},
        )
    engine.dispose()
    return found is not None


# Row counts ------------------------------------------------------------------------------------


def _count_rows(conn, tables):
    """{table: rows} over a SQLAlchemy connection."""
    return {t: conn.scalar(select(func.count()).select_from(table(t))) for t in sorted(tables)}


def _sqlite_tables(conn):
    """Ordinary tables of a sqlite3 connection (not SQLite's own, not virtual FTS tables)."""
    return [
        name
        for (name,) in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%'"
            " ESCAPE '\\' AND sql NOT LIKE 'CREATE VIRTUAL TABLE%'"
        )
    ]


def _sqlite_open(path):
    """A sqlite3 connection to an existing file (sqlite3 would create a missing one).

    Not read-only on purpose: a read-only connection cannot open a WAL database whose
    shared-memory file is missing."""
    if not Path(path).exists():
        raise BackupError(f"there is no database file at {path}")
    return sqlite3.connect(path)


def _sqlite_rows(path):
    """{table: rows} of the SQLite file at `path`."""
    conn = _sqlite_open(path)
    try:
        tables = _sqlite_tables(conn)
    finally:
        conn.close()
    engine = _engine(f"sqlite:///{path}")
    with engine.connect() as counting:
        rows = _count_rows(counting, tables)
    engine.dispose()
    return rows


def row_counts(url):
    """{table: rows} of every table of the database at `url`."""
    if not is_postgres(url):
        return _sqlite_rows(sqlite_path(url))
    engine = _engine(url)
    with engine.connect() as conn:
        rows = _count_rows(conn, inspect(conn).get_table_names())
    engine.dispose()
    return rows


def _tables_in(url):
    """Tables already in the database at `url` (none when it does not exist yet)."""
    if not is_postgres(url):
        path = sqlite_path(url)
        if not path.exists():
            return []
        conn = _sqlite_open(path)
        try:
            return _sqlite_tables(conn)
        finally:
            conn.close()
    engine = _engine(url)
    with engine.connect() as conn:
        tables = inspect(conn).get_table_names()
    engine.dispose()
    return tables


# Backup ----------------------------------------------------------------------------------------


def manifest_path(path):
    """Where the manifest of a backup file lives."""
    return Path(f"{path}{MANIFEST_SUFFIX}")


def file_sha256(path):
    """The SHA-256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        while chunk := stream.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def default_backup_path(url, folder, *, now=None):
    """`<folder>/duet-<UTC time>.<dump|sqlite>`."""
    stamp = (now or utcnow()).astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    return Path(folder) / f"duet-{stamp}.{'dump' if is_postgres(url) else 'sqlite'}"


def backup_database(url, target, *, now=None):
    """Write a consistent backup of the database at `url` to `target`, and its manifest.

    The file appears under its name only when complete (written beside it, then renamed).
    """
    target = Path(target)
    if target.exists():
        raise BackupError(f"{target} already exists; choose a new file name")
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.partial")
    started = time.monotonic()
    try:
        if is_postgres(url):
            rows, revision = _pg_dump(url, partial)
            kind = "pg_dump-custom"
        else:
            rows, revision = _sqlite_copy(sqlite_path(url), partial)
            kind = "sqlite"
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
    seconds = time.monotonic() - started
    manifest = {
        "format": kind,
        "created_at": (now or utcnow()).isoformat(),
        "source": safe_url(url),
        "revision": revision,
        "sha256": file_sha256(target),
        "bytes": target.stat().st_size,
        "seconds": round(seconds, 3),
        "rows": rows,
    }
    manifest_path(target).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return Backup(target, manifest, seconds)


def _pg_dump(url, target):
    """pg_dump of an exported snapshot; the row counts and revision of that same snapshot."""
    uri, env = _libpq(url)
    engine = _engine(url)
    options = {"isolation_level": "REPEATABLE READ"}
    with engine.connect().execution_options(**options) as conn, conn.begin():
        snapshot = conn.scalar(text("SELECT pg_export_snapshot()"))
        tables = inspect(conn).get_table_names()
        rows = _count_rows(conn, tables)
        revision = (
            conn.scalar(text("SELECT version_num FROM alembic_version"))
            if "alembic_version" in tables
            else None
        )
        # The snapshot stays valid while this transaction is open.
        _run_tool(
            "pg_dump",
            "--format=custom",
            f"--snapshot={snapshot}",
            f"--file={target}",
            f"--dbname={uri}",
            env=env,
        )
    engine.dispose()
    return rows, revision


def _sqlite_copy(source, target):
    """Copy a SQLite database with the online backup API; the copy's counts and revision."""
    src = _sqlite_open(source)
    dst = sqlite3.connect(target)
    try:
        src.backup(dst)
        dst.execute("PRAGMA journal_mode=DELETE")  # one self-contained file, no -wal beside it
        checked = dst.execute("PRAGMA integrity_check").fetchone()[0]
        if checked != "ok":
            raise BackupError(f"the copy of {source} fails its integrity check: {checked}")
        tables = _sqlite_tables(dst)
        revision = (
            dst.execute("SELECT version_num FROM alembic_version").fetchone()[0]
            if "alembic_version" in tables
            else None
        )
    finally:
        dst.close()
        src.close()
    return _sqlite_rows(target), revision


# Restore ---------------------------------------------------------------------------------------


def read_manifest(path):
    """The manifest of a backup file (a backup without one is refused: nothing to check)."""
    manifest = manifest_path(path)
    if not manifest.exists():
        raise BackupError(f"{manifest} is missing: the restore could not be checked")
    return json.loads(manifest.read_text())


def restore_database(source, url, *, create=False):
    """Restore the backup file `source` into the empty database at `url` and check the
    restored row counts against the backup's manifest."""
    source = Path(source)
    if not source.exists():
        raise BackupError(f"there is no backup at {source}")
    manifest = read_manifest(source)
    if file_sha256(source) != manifest["sha256"]:
        raise BackupError(f"{source} does not match the SHA-256 in its manifest: it is damaged")
    postgres = is_postgres(url)
    if manifest["format"] != ("pg_dump-custom" if postgres else "sqlite"):
        raise BackupError(f"a {manifest['format']} backup cannot be restored into {safe_url(url)}")
    if postgres and not database_exists(url):
        if not create:
            raise BackupError(f"{safe_url(url)} does not exist: create it first (or --create)")
        create_database(url)
    tables = _tables_in(url)
    if tables:
        raise BackupError(
            f"{safe_url(url)} already has {len(tables)} tables: restore only into a new,"
            " empty database"
        )
    started = time.monotonic()
    if postgres:
        uri, env = _libpq(url)
        _run_tool(
            "pg_restore",
            "--no-owner",
            "--no-acl",
            "--exit-on-error",
            "--single-transaction",
            f"--dbname={uri}",
            str(source),
            env=env,
        )
    else:
        _sqlite_restore(source, sqlite_path(url))
    seconds = time.monotonic() - started
    rows = row_counts(url)
    differ = sorted(
        t for t in set(rows) | set(manifest["rows"]) if rows.get(t) != manifest["rows"].get(t)
    )
    if differ:
        details = ", ".join(f"{t} {manifest['rows'].get(t)}→{rows.get(t)}" for t in differ)
        raise BackupError(f"restored row counts differ from the backup's: {details}")
    return Restore(rows, seconds)


def _sqlite_restore(source, target):
    """Copy a backup file into a new SQLite database file with the backup API."""
    target.parent.mkdir(parents=True, exist_ok=True)
    src = _sqlite_open(source)
    dst = sqlite3.connect(target)
    try:
        src.backup(dst)
        checked = dst.execute("PRAGMA integrity_check").fetchone()[0]
        if checked != "ok":
            raise BackupError(f"the restored database fails its integrity check: {checked}")
    finally:
        dst.close()
        src.close()


# Checks and the drill --------------------------------------------------------------------------


def check_database():
    """Every problem the ledger's invariant check and the audit-chain verification find in the
    current app's database (empty when all hold)."""
    from portal.audit import verify_all_chains
    from portal.escrow.ledger import check_books

    problems = list(check_books())
    broken, _total = verify_all_chains()
    problems += [f"audit chain {c} broken at event {s}: {why}" for c, (s, why) in broken.items()]
    db.session.rollback()
    return sorted(problems)


def app_on(url, app=None):
    """An app like `app` (default: the current one) but on the database at `url`."""
    from portal import create_app

    app = app or current_app._get_current_object()
    return create_app(app.config["ENV_NAME"], {**app.config, "SQLALCHEMY_DATABASE_URI": url})


def scratch_url(url, folder, *, now=None):
    """A new database beside the source for a drill: `<name>_drill_<time>` or a new file."""
    stamp = (now or utcnow()).astimezone(UTC).strftime("%Y%m%d%H%M%S%f")
    if is_postgres(url):
        parsed = make_url(url)
        return parsed.set(database=f"{parsed.database}_drill_{stamp}").render_as_string(
            hide_password=False
        )
    return f"sqlite:///{Path(folder) / f'drill-{stamp}.sqlite'}"


def restore_drill(url, folder, *, keep=False, now=None):
    """Back the database at `url` up into `folder`, restore it into a scratch database, run
    the ledger and audit checks there, and drop the scratch copy (unless `keep`)."""
    backup = backup_database(url, default_backup_path(url, folder, now=now), now=now)
    scratch = scratch_url(url, folder, now=now)
    try:
        restored = restore_database(backup.path, scratch, create=True)
        started = time.monotonic()
        copy = app_on(scratch)
        with copy.app_context():
            problems = check_database()
            db.engine.dispose()
        checked = time.monotonic() - started
    finally:
        if not keep:
            drop_database(scratch)
    return Drill(backup, safe_url(scratch), restored, checked, problems)


# Commands --------------------------------------------------------------------------------------

backup_cli = AppGroup("backup", help="Back the database up, restore it, run a restore drill.")


def _database_url():
    """The URL the app's engine really uses (relative SQLite paths resolved)."""
    return db.engine.url.render_as_string(hide_password=False)


@backup_cli.command("create")
@click.option("--output", type=click.Path(dir_okay=False), help="backup file to write")
def create_command(output):
    """Write a backup of the database and its manifest (default: instance/backups/)."""
    url = _database_url()
    folder = Path(current_app.config["INSTANCE_DIR"]) / "backups"
    try:
        backup = backup_database(url, output or default_backup_path(url, folder))
    except BackupError as error:
        raise click.ClickException(str(error)) from error
    total = sum(backup.manifest["rows"].values())
    click.echo(
        f"Backed up {safe_url(url)} to {backup.path} ({backup.manifest['bytes']} bytes,"
        f" {total} rows) in {backup.seconds:.2f} s."
    )


@backup_cli.command("restore")
@click.argument("source", type=click.Path(exists=True, dir_okay=False))
@click.option("--create", is_flag=True, help="create the PostgreSQL database first")
def restore_command(source, create):
    """Restore a backup into the app's (new, empty) database, then run the checks."""
    url = _database_url()
    db.engine.dispose()
    try:
        restored = restore_database(source, url, create=create)
    except BackupError as error:
        raise click.ClickException(str(error)) from error
    db.engine.dispose()
    click.echo(
        f"Restored {source} into {safe_url(url)} in {restored.seconds:.2f} s;"
        f" {sum(restored.rows.values())} rows in {len(restored.rows)} tables match the backup."
    )
    _report(check_database())


@backup_cli.command("drill")
@click.option("--keep", is_flag=True, help="keep the scratch database and the backup file")
def drill_command(keep):
    """Back up, restore into a scratch database, check it, and print RPO/RTO figures."""
    url = _database_url()
    folder = Path(tempfile.mkdtemp(prefix="duet-drill-"))
    try:
        drill = restore_drill(url, folder, keep=keep)
    except BackupError as error:
        raise click.ClickException(str(error)) from error
    finally:
        if not keep:
            shutil.rmtree(folder, ignore_errors=True)
    rows = drill.restore.rows
    click.echo(f"Backup:  {drill.backup.seconds:.2f} s, {drill.backup.manifest['bytes']} bytes")
    click.echo(f"Restore: {drill.restore.seconds:.2f} s, {sum(rows.values())} rows match")
    click.echo(f"Checks:  {drill.check_seconds:.2f} s")
    click.echo(
        f"RTO (measured restore + checks): {drill.recovery_seconds:.2f} s;"
        " RPO: the time between scheduled backups"
    )
    if keep:
        click.echo(f"Kept {drill.backup.path} and the restored copy {drill.scratch}.")
    _report(drill.problems)


@backup_cli.command("check")
def check_command():
    """Run the ledger invariant check and the audit-chain verification on the database."""
    _report(check_database())


def _report(problems):
    """Print the checks' findings; exit with status 1 when there are any."""
    for problem in problems:
        click.echo(f"PROBLEM {problem}")
    if problems:
        raise SystemExit(1)
    click.echo("Ledger invariants hold and every audit chain is intact.")
