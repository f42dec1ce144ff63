"""message search: a GIN full-text index on PostgreSQL, an FTS5 table on SQLite

Revision ID: d8565e410140
Revises: f81afbb1f2ad
Create Date: 2026-11-25 10:00:00.000000

PostgreSQL indexes the words of every message with an expression index,
GIN over to_tsvector('simple', body_md); the model declares the same index
(Message.__table_args__), so `flask db check` compares it.

SQLite has no such index: an FTS5 table, messages_fts, indexes body_md of the
messages table without storing a second copy of it (external content, rowid =
messages.id). Triggers keep it in step with every insert, edit and delete, and
the upgrade indexes the messages that already exist. No model maps messages_fts:
migrations/env.py leaves it and its shadow tables out of autogenerate.

Beware on SQLite: a later batch_alter_table("messages") copies the table and
drops the old one, which drops these triggers too. Such a migration must
recreate them (run sqlite_upgrade() of this file again) or search goes stale.

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "d8565e410140"
down_revision = "f81afbb1f2ad"
branch_labels = None
depends_on = None

SQLITE_UPGRADE = (
    # IF NOT EXISTS: a table left behind by a drop of the messages table alone is reused.
    "CREATE VIRTUAL TABLE IF NOT EXISTS messages_fts "
    "USING fts5(body_md, content='messages', content_rowid='id')",
    "CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages BEGIN "
    "INSERT INTO messages_fts (rowid, body_md) VALUES (new.id, new.body_md); "
    "END",
    # Only when the text changes: replies and polls update other columns of a message often.
    "CREATE TRIGGER messages_fts_update AFTER UPDATE OF body_md ON messages BEGIN "
    "INSERT INTO messages_fts (messages_fts, rowid, body_md) "
    "VALUES ('delete', old.id, old.body_md); "
    "INSERT INTO messages_fts (rowid, body_md) VALUES (new.id, new.body_md); "
    "END",
    "CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages BEGIN "
    "INSERT INTO messages_fts (messages_fts, rowid, body_md) "
    "VALUES ('delete', old.id, old.body_md); "
    "END",
    # Index the messages written before this migration (and forget anything stale).
    "INSERT INTO messages_fts (messages_fts) VALUES ('rebuild')",
)
SQLITE_DOWNGRADE = (
    "DROP TRIGGER IF EXISTS messages_fts_delete",
    "DROP TRIGGER IF EXISTS messages_fts_update",
    "DROP TRIGGER IF EXISTS messages_fts_insert",
    "DROP TABLE IF EXISTS messages_fts",
)


def sqlite_upgrade():
    """The FTS5 table, its triggers and the first indexing of existing messages."""
    for statement in SQLITE_UPGRADE:
        op.execute(statement)


def upgrade():
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        op.create_index(
            "ix_messages_body_search",
            "messages",
            [sa.text("to_tsvector('simple', body_md)")],
            unique=False,
            postgresql_using="gin",
        )
    elif dialect == "sqlite":
        sqlite_upgrade()


def downgrade():
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        op.drop_index("ix_messages_body_search", table_name="messages")
    elif dialect == "sqlite":
        for statement in SQLITE_DOWNGRADE:
            op.execute(statement)
