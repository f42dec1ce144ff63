"""Uploaded files behind one small interface: a local folder today, any object store later.

Files are stored under random keys that never contain user input. A file written during a
database transaction that does not commit is removed when the transaction ends (see
`discard_unless_committed`); a process that dies in between leaves an orphan, which
`workrooms.services.sweep_orphan_files` removes later.
"""

import hashlib
import os
import re
import secrets
import time
from pathlib import Path
from typing import NamedTuple

from flask import current_app
from sqlalchemy import event
from sqlalchemy.orm import Session

CHUNK = 1024 * 1024
KEY = re.compile(r"[A-Za-z0-9_-]{43}")  # secrets.token_urlsafe(32)
PENDING = "uncommitted_files"  # Session.info key: [(storage, key), ...]


class StoredFile(NamedTuple):
    """What `save` wrote."""

    key: str
    size: int
    sha256: str


class LocalStorage:
    """Files in a local folder, two levels deep: <root>/<first two key chars>/<key>."""

    def __init__(self, root):
        self.root = Path(root)

    def _path(self, key):
        """The file of a key; anything that is not one of our keys is refused."""
        if not isinstance(key, str) or not KEY.fullmatch(key):
            raise ValueError("not a storage key")
        return self.root / key[:2] / key

    def save(self, stream):
        """Copy a binary stream into a new file; returns its (key, size, sha256)."""
        key = secrets.token_urlsafe(32)
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        digest, size = hashlib.sha256(), 0
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "wb") as out:
                while chunk := stream.read(CHUNK):
                    out.write(chunk)
                    digest.update(chunk)
                    size += len(chunk)
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        return StoredFile(key, size, digest.hexdigest())

    def open(self, key):
        """The stored bytes of a key, as a binary file to read."""
        return self._path(key).open("rb")

    def delete(self, key):
        """Remove a stored file (no error when it is already gone)."""
        self._path(key).unlink(missing_ok=True)

    def exists(self, key):
        """True when a file is stored under the key."""
        return self._path(key).is_file()

    def keys(self, *, older_than=0):
        """Keys of the stored files last written more than `older_than` seconds ago."""
        cutoff = time.time() - older_than
        if not self.root.is_dir():
            return
        for path in self.root.glob("*/*"):
            if KEY.fullmatch(path.name) and path.stat().st_mtime <= cutoff:
                yield path.name


def get_storage():
    """The app's file storage."""
    return current_app.extensions["storage"]


def discard_unless_committed(session, storage, key):
    """Remove the stored file if the session's transaction ends without a commit."""
    session.info.setdefault(PENDING, []).append((storage, key))


def _keep_committed(session):
    """The outermost transaction committed: its files are referenced for good."""
    if not session.in_nested_transaction():
        session.info.pop(PENDING, None)


def _drop_uncommitted(session, transaction):
    """The outermost transaction ended without a commit: remove the files it wrote."""
    if transaction.parent is not None:
        return
    for storage, key in session.info.pop(PENDING, ()):
        storage.delete(key)


def init_app(app):
    """Create the storage from UPLOAD_DIR and watch sessions for files to discard."""
    app.extensions["storage"] = LocalStorage(app.config["UPLOAD_DIR"])
    if not event.contains(Session, "after_commit", _keep_committed):
        event.listen(Session, "after_commit", _keep_committed)
        event.listen(Session, "after_transaction_end", _drop_uncommitted)
