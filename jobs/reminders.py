"""The reminder sweep: every rule of portal.notifications.reminders, each object in its own
transaction. The claims make it safe to run twice, late, or on two workers at once."""

from jobs.sweep import each_alone
from portal.database import utcnow
from portal.extensions import db
from portal.notifications.reminders import RULES, apply, candidates, still_owed


def sweep_reminders(now=None):
    """Send every reminder due now; returns how many went out."""
    now = now or utcnow()
    sent = 0
    for rule in RULES:
        rows = db.session.execute(candidates(rule, now).order_by(rule.model.id)).all()
        ids = still_owed(rule, rows, now)
        db.session.commit()  # the reading transaction ends before each object's own
        sent += each_alone(rule.model, ids, lambda obj, rule=rule: apply(rule, obj, now=now))
    return sent
