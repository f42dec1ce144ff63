"""Periodic sweeps, loaded by the one `rq cron` process: `rq cron jobs.cron`."""

from rq import cron

from jobs.mail import deliver_pending_emails

cron.register(deliver_pending_emails, queue_name="mail", interval=60)
