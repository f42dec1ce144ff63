"""The funding and payout providers behind one small interface, and the sandbox default.

The sandbox answers by idempotency key, so a retried call with the same key returns the first
result (as real providers do). It can be told to fail or time out through the config
(ESCROW_SANDBOX_MODE = "succeed", "fail" or "timeout"), which is how failure paths are tested.
"""

import sqlite3
from dataclasses import dataclass
from pathlib import Path

from flask import current_app


class ProviderError(Exception):
    """The provider refused the call (card declined, account closed...)."""


class ProviderTimeout(Exception):
    """The provider did not answer in time: the outcome is unknown."""


@dataclass(frozen=True)
class ProviderResult:
    """What the provider answered: its reference and whether the money arrived."""

    reference: str
    settled: bool  #: True when the money has arrived, False while it is on its way


class SandboxProvider:
    """A provider that succeeds at once, or fails or times out when configured to.

    Its memory is a small SQLite file of its own, outside Duet's database and transactions,
    shared by every process: like a real provider, it remembers a call that succeeded even
    when the caller crashed before committing, and answers a retry with the same key with
    the first result instead of moving money twice.
    """

    def __init__(self, path, mode="succeed"):
        self.path, self.mode = path, mode
        self._connection = None

    def _connect(self):
        """This instance's connection to the sandbox's own file (the file, its folder and
        its table are made on first use). WAL lets processes call it at the same time."""
        if self._connection is None:
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            connection = sqlite3.connect(
                self.path, timeout=30, isolation_level=None, check_same_thread=False
            )
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=NORMAL")
            connection.execute(
                "CREATE TABLE IF NOT EXISTS calls (key TEXT PRIMARY KEY, kind TEXT, "
                "amount_minor INTEGER, currency TEXT, reference TEXT)"
            )
            self._connection = connection
        return self._connection

    def _call(self, kind, key, amount_minor, currency):
        """One idempotent call: the same key always gives the first successful answer."""
        done = self.look_up(key)
        if done is not None:
            return done
        if self.mode == "fail":
            raise ProviderError(f"sandbox refused {key}")
        if self.mode == "timeout":
            raise ProviderTimeout(f"sandbox timed out on {key}")
        reference = f"sbx_{key.replace(':', '_')}"
        self._connect().execute(
            "INSERT OR IGNORE INTO calls VALUES (?, ?, ?, ?, ?)",
            (key, kind, amount_minor, currency, reference),
        )
        return self.look_up(key)

    def charge(self, key, amount_minor, currency):
        """Take money from the brand into escrow."""
        return self._call("charge", key, amount_minor, currency)

    def pay_out(self, key, amount_minor, currency):
        """Send money to the creator."""
        return self._call("payout", key, amount_minor, currency)

    def look_up(self, key):
        """What happened to an earlier call, or None when the provider never saw it."""
        row = (
            self._connect().execute("SELECT reference FROM calls WHERE key = ?", (key,)).fetchone()
        )
        return ProviderResult(reference=row[0], settled=True) if row else None

    def calls(self, kind=None):
        """Every call the sandbox accepted (tests count external transfers with it)."""
        query, args = "SELECT key, kind, amount_minor, currency FROM calls", ()
        if kind:
            query, args = query + " WHERE kind = ?", (kind,)
        return self._connect().execute(query, args).fetchall()


def get_provider():
    """The configured provider (only the sandbox exists today)."""
    config = current_app.config
    return SandboxProvider(config["SANDBOX_PROVIDER_PATH"], config["ESCROW_SANDBOX_MODE"])
