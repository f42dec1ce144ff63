"""Factories with overrides, and small helpers for tests."""

import mailbox
import os
import socket
from dataclasses import dataclass
from email import message_from_bytes, policy
from itertools import count

from portal.accounts import services
from portal.accounts.models import AccountKind, BrandMembership, BrandRole, CreatorProfile, User
from portal.accounts.passwords import hash_password
from portal.extensions import db

PASSWORD = "correct horse battery staple"
_sequence = count(1)
_hash_cache = {}


def _hash(password):
    """Hash once per password per run: argon2id is slow on purpose."""
    if password not in _hash_cache:
        _hash_cache[password] = hash_password(password)
    return _hash_cache[password]


def user(
    *,
    kind=AccountKind.brand,
    email=None,
    name=None,
    password=PASSWORD,
    brand=None,
    role=BrandRole.owner,
    timezone="UTC",
    disabled=False,
):
    """A user of any kind; brand users get a brand (or join `brand`), creators a profile."""
    n = next(_sequence)
    kind = AccountKind(kind)
    account = User(
        email=email or f"user{n}@example.com",
        name=name or f"User {n}",
        password_hash=_hash(password) if password else None,
        kind=kind,
        timezone=timezone,
        is_disabled=disabled,
    )
    db.session.add(account)
    if kind is AccountKind.brand:
        if brand is None:
            brand = services.create_brand(account, f"Brand {n}")
            db.session.flush()
        else:
            db.session.add(BrandMembership(brand_id=brand, user=account, role=BrandRole(role)))
    if kind is AccountKind.creator:
        account.creator_profile = CreatorProfile(display_name=account.name)
    db.session.flush()
    return account


@dataclass
class Snapshot:
    """Plain values of a committed user, safe to use outside the app context."""

    id: int
    email: str
    name: str
    kind: AccountKind
    brand_id: int | None

    @classmethod
    def of(cls, account):
        """Copy what tests need from a user row."""
        brand_id = account.memberships[0].brand_id if account.memberships else None
        return cls(account.id, account.email, account.name, account.kind, brand_id)


def free_port():
    """A free TCP port on loopback."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Mailbox:
    """What a test SMTP server received."""

    def __init__(self, path, port):
        self.path = path
        self.port = port

    def messages(self):
        """Every message received so far, oldest first."""
        box = mailbox.Maildir(self.path, create=True)
        items = []
        for key in box.iterkeys():
            with box.get_file(key) as handle:
                items.append(message_from_bytes(handle.read(), policy=policy.default))
        return items

    def to(self, address):
        """Messages addressed to one recipient."""
        return [m for m in self.messages() if address in str(m["To"])]


def body_text(message):
    """The plain-text part of an email."""
    return message.get_body(preferencelist=("plain",)).get_content()


def child_env(settings, extra=None):
    """Environment for a worker or server process that uses the test database and Redis."""
    env = dict(os.environ)
    env.update(
        DUET_ENV="development",
        DATABASE_URL=settings["SQLALCHEMY_DATABASE_URI"],
        REDIS_URL=settings["REDIS_URL"],
        DEV_MAILDIR=settings["DEV_MAILDIR"],
        MAIL_HOST=settings["MAIL_HOST"],
        MAIL_PORT=str(settings["MAIL_PORT"]),
        SANDBOX_PROVIDER_PATH=settings["SANDBOX_PROVIDER_PATH"],
        EVIDENCE_DIR=settings["EVIDENCE_DIR"],
    )
    env.update({k: str(v) for k, v in (extra or {}).items()})
    return env
