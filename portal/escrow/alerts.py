"""Telling the platform admins about money that needs a person (failed payouts)."""

from flask import current_app
from sqlalchemy import select

from portal.accounts.models import AccountKind, User
from portal.extensions import db
from portal.money import format_amount
from portal.notifications.emails import public_url, queue_email


def admins():
    """Every admin who can act on an alert."""
    return db.session.scalars(
        select(User)
        .where(User.kind == AccountKind.admin, User.is_disabled.is_(False))
        .order_by(User.id)
    ).all()


def alert_if_payout_keeps_failing(payout):
    """Email every admin once, in the transaction that records the failure, when a payout
    has failed PAYOUT_ALERT_ATTEMPTS times (attempts only grow, so this happens once)."""
    if payout.attempts != current_app.config["PAYOUT_ALERT_ATTEMPTS"]:
        return 0
    milestone = payout.milestone
    workroom = milestone.workroom
    link = public_url("escrow.payouts", state="failed")
    amount = format_amount(payout.amount_minor, payout.currency)
    recipients = admins()
    for admin in recipients:
        queue_email(
            "payout_failed",
            admin.email,
            admin.name,
            f"Payout #{payout.id} of {amount} to {workroom.creator.name} failed"
            f" {payout.attempts} times",
            "payout_failed",
            admin=admin,
            payout=payout,
            amount=amount,
            milestone=milestone,
            workroom=workroom,
            link=link,
        )
    return len(recipients)
