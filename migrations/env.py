import logging
import re
import warnings
from contextlib import contextmanager
from logging.config import fileConfig

from alembic import context
from flask import current_app

# this is the Alembic Config object, which provides
# access to the values within the .ini file in use.
config = context.config

# Interpret the config file for Python logging.
# This line sets up loggers basically.
fileConfig(config.config_file_name, disable_existing_loggers=False)
logger = logging.getLogger("alembic.env")


def get_engine():
    return current_app.extensions["migrate"].db.engine


def get_engine_url():
    try:
        return get_engine().url.render_as_string(hide_password=False).replace("%", "%%")
    except AttributeError:
        return str(get_engine().url).replace("%", "%%")


# add your model's MetaData object here
# for 'autogenerate' support
# from myapp import mymodel
# target_metadata = mymodel.Base.metadata
config.set_main_option("sqlalchemy.url", get_engine_url())
target_db = current_app.extensions["migrate"].db

# other values from the config, defined by the needs of env.py,
# can be acquired:
# my_important_option = config.get_main_option("my_important_option")
# ... etc.


# SQLite's message search is an FTS5 virtual table plus the shadow tables FTS5 keeps for it,
# created by a migration and kept in step by triggers (see the "message search" revision).
# No model maps them, so autogenerate must not offer to drop them.
SQLITE_SEARCH_TABLES = {
    "messages_fts",
    "messages_fts_config",
    "messages_fts_data",
    "messages_fts_docsize",
    "messages_fts_idx",
}


def include_name(name, type_, parent_names):
    """Leave SQLite's full-text tables out of autogenerate and `flask db check`."""
    return not (type_ == "table" and name in SQLITE_SEARCH_TABLES)


def indexes_of_other_backends(dialect_name):
    """Names of model indexes that exist on another backend only (info={"only_on": ...}),
    such as the GIN full-text index of messages, which PostgreSQL alone has."""
    return {
        index.name
        for table in get_metadata().tables.values()
        for index in table.indexes
        if index.info.get("only_on", dialect_name) != dialect_name
    }


def object_filter(skipped_indexes):
    """An include_object hook that leaves the given indexes out of the comparison."""

    def include_object(obj, name, type_, reflected, compare_to):
        return not (type_ == "index" and name in skipped_indexes)

    return include_object


def get_metadata():
    if hasattr(target_db, "metadatas"):
        return target_db.metadatas[None]
    return target_db.metadata


def run_migrations_offline():
    """Run migrations in 'offline' mode.

    This configures the context with just a URL
    and not an Engine, though an Engine is acceptable
    here as well.  By skipping the Engine creation
    we don't even need a DBAPI to be available.

    Calls to context.execute() here emit the given string to the
    script output.

    """
    url = config.get_main_option("sqlalchemy.url")
    context.configure(url=url, target_metadata=get_metadata(), literal_binds=True)

    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online():
    """Run migrations in 'online' mode.

    In this scenario we need to create an Engine
    and associate a connection with the context.

    """

    # this callback is used to prevent an auto-migration from being generated
    # when there are no changes to the schema
    # reference: http://alembic.zzzcomputing.com/en/latest/cookbook.html
    def process_revision_directives(context, revision, directives):
        if getattr(config.cmd_opts, "autogenerate", False):
            script = directives[0]
            if script.upgrade_ops.is_empty():
                directives[:] = []
                logger.info("No changes in schema detected.")

    conf_args = current_app.extensions["migrate"].configure_args
    if conf_args.get("process_revision_directives") is None:
        conf_args["process_revision_directives"] = process_revision_directives

    connectable = get_engine()

    skipped_indexes = indexes_of_other_backends(connectable.dialect.name)
    filters = {"include_name": include_name, "include_object": object_filter(skipped_indexes)}

    with connectable.connect() as connection, sqlite_foreign_keys_off(connection):
        context.configure(
            connection=connection, target_metadata=get_metadata(), **{**filters, **conf_args}
        )

        with context.begin_transaction(), warnings.catch_warnings():
            for name in skipped_indexes:
                # Alembic can't reflect expression indexes on SQLite and warns that it skips
                # them before include_object is asked; these ones are left out on purpose.
                warnings.filterwarnings(
                    "ignore", message=f".*expression-based index {re.escape(repr(name))}"
                )
            context.run_migrations()
            check_sqlite_foreign_keys(connection)


@contextmanager
def sqlite_foreign_keys_off(connection):
    """SQLite changes a table by rebuilding it, and dropping the old copy of a table others
    reference fails while foreign keys are enforced (even deferred). As SQLite's own
    procedure for schema changes says, enforcement is off while migrations run, and every
    foreign key is checked before they commit (check_sqlite_foreign_keys)."""
    if connection.dialect.name != "sqlite":
        yield
        return
    # Only outside a transaction, so on the driver's connection (SQLAlchemy's would BEGIN).
    driver = connection.connection.dbapi_connection
    driver.execute("PRAGMA foreign_keys=OFF")
    try:
        yield
    finally:
        if connection.in_transaction():
            connection.rollback()
        driver.execute("PRAGMA foreign_keys=ON")


def check_sqlite_foreign_keys(connection):
    """Fail the upgrade if it left a row pointing nowhere (SQLite, see above)."""
    if connection.dialect.name == "sqlite":
        broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
        if broken:
            raise RuntimeError(f"Foreign keys broken by the migration: {broken[:5]}")


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
