"""Periodic sweeps, loaded by the one `rq cron` process: `rq cron jobs.cron`."""

from rq import cron

from jobs.contracts import sweep_auto_renewals, sweep_expired
from jobs.deliverables import sweep_auto_approvals, sweep_missed, sweep_review_warnings
from jobs.digests import sweep_digests
from jobs.exits import sweep_exits
from jobs.mail import deliver_pending_emails
from jobs.mediation import sweep_mediation
from jobs.payouts import check_books, sweep_money
from jobs.reminders import sweep_reminders

cron.register(deliver_pending_emails, queue_name="mail", interval=60)
# Deliverable timers run on "default", which every worker (jobs.worker, `make run`) listens to.
cron.register(sweep_auto_approvals, queue_name="default", interval=300)
cron.register(sweep_missed, queue_name="default", interval=300)
cron.register(sweep_review_warnings, queue_name="default", interval=900)
# Contract terms: auto-renewals on their renewal date first, then expiry past the end of a
# term (a contract that renews itself is never expired; both re-check under a lock).
cron.register(sweep_auto_renewals, queue_name="default", interval=900)
cron.register(sweep_expired, queue_name="default", interval=900)
# Digests: each user's daily or weekly digest once their local hour has come (claimed once
# per period, so a late or doubled run sends nothing twice).
cron.register(sweep_digests, queue_name="default", interval=900)
# Reminders: every rule's thresholds crossed since the last run (claimed once each).
cron.register(sweep_reminders, queue_name="default", interval=300)
# Mediation: tickets whose response time ran out go to the mediators' queue.
cron.register(sweep_mediation, queue_name="default", interval=300)
# Exits: notice periods that ran out propose their close-out; ended contracts end their exit.
cron.register(sweep_exits, queue_name="default", interval=900)
# Money: anything releasable, any payout due for a (re)try, any unknown payout to look up.
cron.register(sweep_money, queue_name="payouts", interval=60)
# Money: the cached figures against the ledger; mismatches are logged as errors, not fixed.
cron.register(check_books, queue_name="payouts", interval=3600)
