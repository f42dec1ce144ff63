"""The worker entry point: every job runs inside the app context.

Run with `python -m jobs.worker` (queues from RQ_QUEUES, Redis from REDIS_URL).
"""

import sys

from rq import Queue, Worker
from rq.job import Job

_app = None


def get_app():
    """The app for this process, created on first use."""
    global _app
    if _app is None:
        from portal import create_app

        _app = create_app()
    return _app


class AppJob(Job):
    """An RQ job that runs in the app context and cleans the session up after."""

    def perform(self):
        """Run the job function with the app and database ready."""
        from portal.extensions import db

        app = get_app()
        with app.app_context():
            try:
                return super().perform()
            finally:
                db.session.remove()


def main(argv=None):
    """Start one worker on the configured queues."""
    argv = sys.argv[1:] if argv is None else argv
    app = get_app()
    from portal.queue import get_redis

    with app.app_context():
        connection = get_redis()
        queues = [Queue(name, connection=connection) for name in app.config["RQ_QUEUES"]]
    worker = Worker(queues, connection=connection, job_class=AppJob)
    worker.work(burst="--burst" in argv, with_scheduler=True)


if __name__ == "__main__":
    main()
