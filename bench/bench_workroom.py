"""The workroom page (10,000 messages, latest 50 shown) and an unchanged poll, against hello-world.

Both apps run on gunicorn with 2 sync workers on loopback and are loaded the same way; each
figure is compared with a hello-world run taken just before it.
Targets: page >= 33% of hello-world's requests/s, unchanged poll >= 70%, page 100 of the
history no slower than 2x page 1.
"""

import http.cookiejar
import os
import re
import subprocess
import sys
import urllib.parse
import urllib.request
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import insert

from bench.harness import bench_app
from bench.load import load, tool_name
from portal.accounts.models import AccountKind
from portal.accounts.services import create_brand, create_user
from portal.database import utcnow
from portal.extensions import db
from portal.markup import render_markdown
from portal.workrooms.models import Audience, Message, MessageKind
from portal.workrooms.services import open_workroom
from tests.factories import free_port

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "benchmark passphrase 2026"
MESSAGES = 10_000
TOKEN = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


def seed(app):
    """A workroom with 10,000 top-level messages; returns its id and last change number."""
    with app.app_context():
        owner = create_user("owner@bench.example", "Owner", PASSWORD, AccountKind.brand)
        brand = create_brand(owner, "Bench Brand")
        creator = create_user("creator@bench.example", "Creator", PASSWORD, AccountKind.creator)
        workroom = open_workroom(brand, creator, owner)
        db.session.flush()
        now = utcnow()
        body = "A **benchmark** message with a [link](https://example.com) and some words."
        html = render_markdown(body)
        rows = [
            {
                "workroom_id": workroom.id,
                "seq": n,
                "changed_seq": n,
                "author_id": (owner if n % 2 else creator).id,
                "kind": MessageKind.message,
                "audience": Audience.everyone,
                "body_md": body,
                "body_html": html,
                "reply_count": 0,
                "created_at": now,
            }
            for n in range(1, MESSAGES + 1)
        ]
        db.session.execute(insert(Message), rows)
        workroom.last_message_seq = workroom.last_change_seq = MESSAGES
        db.session.commit()
        return workroom.id, MESSAGES


@contextmanager
def gunicorn(target, env):
    """gunicorn with 2 sync workers serving `target` on a free loopback port."""
    port = free_port()
    command = [
        str(Path(sys.executable).parent / "gunicorn"),
        "--workers=2",
        f"--bind=127.0.0.1:{port}",
        "--log-level=warning",
        target,
    ]
    process = subprocess.Popen(command, cwd=ROOT, env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait(base + "/")
        yield base
    finally:
        process.terminate()
        process.wait(timeout=30)


def _wait(url):
    """Wait until the server answers anything."""
    import time

    for _ in range(200):
        try:
            urllib.request.urlopen(url, timeout=1)
            return
        except urllib.error.HTTPError:
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{url} did not answer")


def signed_in_cookie(base):
    """Sign in as the creator through the real form; the Cookie header to send."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    page = opener.open(base + "/login").read().decode()
    form = {
        "csrf_token": TOKEN.search(page).group(1),
        "email": "creator@bench.example",
        "password": PASSWORD,
    }
    request = urllib.request.Request(
        base + "/login",
        data=urllib.parse.urlencode(form).encode(),
        headers={"Referer": base + "/login"},
    )
    opener.open(request).read()
    return "; ".join(f"{c.name}={c.value}" for c in jar)


def run():
    """Figures as (name, value, unit)."""
    with bench_app() as app:
        workroom_id, last = seed(app)
        env = dict(
            os.environ,
            DUET_ENV="development",
            DATABASE_URL=app.config["SQLALCHEMY_DATABASE_URI"],
            REDIS_URL=app.config["REDIS_URL"],
            RATELIMIT_ENABLED="false",
        )
        # Both servers run side by side and each figure is paired with a hello-world run
        # just before it: on a shared machine the load of other work drifts by the minute.
        with gunicorn("wsgi:app", env) as base, gunicorn("bench.hello:app", env) as hello_base:
            headers = {"Cookie": signed_in_cookie(base)}
            hello_page = load(hello_base + "/")
            page = load(f"{base}/workrooms/{workroom_id}", headers=headers)
            hello_poll = load(hello_base + "/")
            poll = load(
                f"{base}/workrooms/{workroom_id}/poll?since={last}&upto={last}", headers=headers
            )
            first = load(
                f"{base}/workrooms/{workroom_id}/messages?before={last + 1}",
                headers=headers,
                seconds=3,
            )
            hundredth = load(
                f"{base}/workrooms/{workroom_id}/messages?before={last + 1 - 99 * 50}",
                headers=headers,
                seconds=3,
            )
    hello = {
        key: round((hello_page[key] + hello_poll[key]) / 2, 2)
        for key in ("rps", "p50_ms", "p95_ms")
    }
    hello["errors"] = hello_page["errors"] + hello_poll["errors"]
    figures = [("load_tool_" + tool_name(), 1, "flag")]
    for name, result in (
        ("hello", hello),
        ("workroom_page", page),
        ("unchanged_poll", poll),
        ("history_page_1", first),
        ("history_page_100", hundredth),
    ):
        figures += [
            (f"{name}_rps", result["rps"], "req/s"),
            (f"{name}_p50", result["p50_ms"], "ms"),
            (f"{name}_p95", result["p95_ms"], "ms"),
            (f"{name}_errors", result["errors"], "responses"),
        ]
    figures += [
        (
            "workroom_page_vs_hello",
            round(page["rps"] / hello_page["rps"] * 100, 1),
            "% (target >= 33)",
        ),
        (
            "unchanged_poll_vs_hello",
            round(poll["rps"] / hello_poll["rps"] * 100, 1),
            "% (target >= 70)",
        ),
        (
            "history_page_100_vs_1_p50",
            round(hundredth["p50_ms"] / first["p50_ms"], 2),
            "x (target <= 2)",
        ),
    ]
    return figures
