"""Exits: notice periods that ran out, mediations that closed, contracts that ended.

Each exit moves in a transaction of its own; the services re-check under the workroom lock,
so the sweep may run twice, late, or on two workers at once.
"""

from datetime import UTC

from jobs.sweep import candidate_ids, each_alone
from portal.database import utcnow
from portal.exits.models import Exit
from portal.exits.queries import exits_to_sweep_query
from portal.exits.services import close_exit, end_notice, resume_notice


def sweep_exits(now=None):
    """Move every exit whose time has come; returns how many changed."""
    now = now or utcnow()
    ids = candidate_ids(exits_to_sweep_query(now.astimezone(UTC).date()))
    return each_alone(Exit, ids, lambda exit: step_exit(exit, now=now))


def step_exit(exit, *, now):
    """The one next step of an exit, if any: end it (its contract ended), resume the notice
    (a mediation closed without terminating), or propose the close-out (notice over)."""
    return close_exit(exit, now=now) or resume_notice(exit, now=now) or end_notice(exit, now=now)
