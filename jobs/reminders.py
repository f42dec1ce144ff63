"""The reminder sweep: every rule of portal.notifications.reminders, each object in its own
transaction. The claims make it safe to run twice, late, or on two workers at once."""

from jobs.sweep import candidate_ids, each_alone
from portal.database import utcnow
from portal.notifications.reminders import RULES, apply, candidates


def sweep_reminders(now=None):
    """Send every reminder due now; returns how many went out."""
    now = now or utcnow()
    sent = 0
    for rule in RULES:
        ids = candidate_ids(candidates(rule, now).order_by(rule.model.id))
        sent += each_alone(rule.model, ids, lambda obj, rule=rule: apply(rule, obj, now=now))
    return sent
