"""The workroom of a brand and creator pair, and its threaded message log."""

import enum
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.accounts.models import Brand, User
from portal.database import UTCDateTime, enum_column, utcnow
from portal.extensions import db


class Side(enum.Enum):
    """The two sides of a workroom."""

    brand = "brand"  #: the brand's members
    creator = "creator"  #: the creator


class Audience(enum.Enum):
    """Who can read a message."""

    everyone = "everyone"  #: both sides
    brand = "brand"  #: an internal note of the brand side
    creator = "creator"  #: an internal note of the creator side


class MessageKind(enum.Enum):
    """Where a message comes from."""

    message = "message"  #: written by a person
    system = "system"  #: posted by Duet when something happens (contract accepted, ...)


class Workroom(db.Model):
    """The one shared space of a brand and a creator; it outlives contracts."""

    __tablename__ = "workrooms"
    __table_args__ = (UniqueConstraint("brand_id", "creator_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    brand_id: Mapped[int] = mapped_column(ForeignKey("brands.id"), index=True)
    creator_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    #: the last message number given out: messages are numbered 1, 2, 3 ... without gaps
    last_message_seq: Mapped[int] = mapped_column(Integer, default=0)
    #: bumped by every post, edit or delete; polls compare against it (one primary-key read)
    last_change_seq: Mapped[int] = mapped_column(Integer, default=0)
    last_activity_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    brand: Mapped[Brand] = relationship()
    creator: Mapped[User] = relationship()


class Message(db.Model):
    """One entry of the log: a message, a reply in a thread, a note or a system event."""

    __tablename__ = "messages"
    __table_args__ = (
        UniqueConstraint("workroom_id", "seq"),
        UniqueConstraint("author_id", "client_msg_id"),
        Index("ix_messages_workroom_changed", "workroom_id", "changed_seq"),
        Index("ix_messages_workroom_parent_seq", "workroom_id", "parent_id", "seq"),
        # Search on PostgreSQL (queries.search). SQLite searches an FTS5 table instead, which
        # the migration builds; migrations/env.py compares this index only on PostgreSQL.
        Index(
            "ix_messages_body_search",
            text("to_tsvector('simple', body_md)"),
            postgresql_using="gin",
            info={"only_on": "postgresql"},
        ).ddl_if(dialect="postgresql"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    workroom_id: Mapped[int] = mapped_column(ForeignKey("workrooms.id"))
    seq: Mapped[int] = mapped_column(Integer)
    changed_seq: Mapped[int] = mapped_column(Integer)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id"))
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    kind: Mapped[MessageKind] = mapped_column(enum_column(MessageKind, "message_kind"))
    audience: Mapped[Audience] = mapped_column(enum_column(Audience, "message_audience"))
    client_msg_id: Mapped[str | None] = mapped_column(String(64))
    body_md: Mapped[str] = mapped_column(Text, default="")
    body_html: Mapped[str] = mapped_column(Text, default="")
    reply_count: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    edited_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    workroom: Mapped[Workroom] = relationship()
    author: Mapped[User | None] = relationship()
    parent: Mapped["Message | None"] = relationship(remote_side="Message.id")
    attachments: Mapped[list["Attachment"]] = relationship(
        back_populates="message", order_by="Attachment.id"
    )

    @property
    def is_note(self):
        """An internal note of one side."""
        return self.audience is not Audience.everyone


class MessageRevision(db.Model):
    """An earlier text of an edited message (or of a deleted one), kept for the record."""

    __tablename__ = "message_revisions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("messages.id"), index=True)
    body_md: Mapped[str] = mapped_column(Text)
    body_html: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())  #: when this text was written
    replaced_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Attachment(db.Model):
    """A file on a message, stored under a random key, served only to members."""

    __tablename__ = "attachments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    workroom_id: Mapped[int] = mapped_column(ForeignKey("workrooms.id"), index=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("messages.id"), index=True)
    storage_key: Mapped[str] = mapped_column(String(80), unique=True)
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    message: Mapped[Message] = relationship(back_populates="attachments")


class ReadMarker(db.Model):
    """How far a user has read a workroom's log."""

    __tablename__ = "read_markers"
    __table_args__ = (UniqueConstraint("workroom_id", "user_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    workroom_id: Mapped[int] = mapped_column(ForeignKey("workrooms.id"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    last_read_seq: Mapped[int] = mapped_column(Integer, default=0)
