"""End-to-end fixtures: gunicorn, an RQ worker, an SMTP server and the system Chromium."""

import mailbox
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import sync_playwright

from portal.notifications.sink import start_sink
from tests import factories
from tests.e2e.harness import (
    AXE_PATH,
    CHROMIUM,
    CHROMIUM_ARGS,
    ROOT,
    AuditedPage,
    Auditor,
    stop_process,
    wait_until_serving,
)

BIN = Path(sys.executable).parent
DEFAULT_TIMEOUT_MS = 15_000


@dataclass
class LiveServer:
    """The running portal: its address and the logs of its processes."""

    url: str
    logs: dict


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    """Keep each phase's report on the test so fixtures know whether it passed."""
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


@pytest.fixture(scope="package")
def chromium_browser():
    """The system Chromium, headless; the e2e tests skip when it is not installed."""
    if shutil.which(CHROMIUM) is None:
        pytest.skip(f"end-to-end tests need the system Chromium at {CHROMIUM}")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()


@pytest.fixture(scope="package")
def auditor(chromium_browser):
    """axe-core from npm, with a scripting context to check pages seen without scripts."""
    if not AXE_PATH.exists():
        pytest.fail(f"{AXE_PATH} is missing: run `make vendor` (npm ci) first")
    context = chromium_browser.new_context()
    yield Auditor(AXE_PATH.read_text(encoding="utf-8"), replay_context=context)
    context.close()


@pytest.fixture(scope="package")
def mail_sink(tmp_root):
    """A real SMTP server on loopback; what it receives lands in a Maildir."""
    path = tmp_root / "e2e-mail"
    port = factories.free_port()
    controller = start_sink(str(path), port=port)
    yield factories.Mailbox(str(path), port)
    controller.stop()


@pytest.fixture(scope="package")
def live_server(app, test_settings, tmp_root, mail_sink):
    """gunicorn and an RQ worker on the test database, Redis and SMTP server.

    Package-scoped: the worker must be gone before other tests run their own workers.
    """
    # Jobs the previous test left queued (its Redis is emptied only when the next test
    # starts) would run in the live worker and, on SQLite, hold the write lock meanwhile.
    app.extensions["redis"].flushdb()
    port = factories.free_port()
    url = f"http://127.0.0.1:{port}"
    env = factories.child_env(
        test_settings,
        {
            "PORT": port,
            "PUBLIC_URL": url,
            "TRUSTED_HOSTS": "127.0.0.1,localhost",
            "MAIL_PORT": mail_sink.port,
            "DUET_INSTANCE_DIR": tmp_root / "e2e-instance",
            "PYTHONUNBUFFERED": "1",
        },
    )
    commands = {
        "web": [
            str(BIN / "gunicorn"),
            "--workers=2",
            "--threads=4",
            f"--bind=127.0.0.1:{port}",
            "--graceful-timeout=5",
            "--access-logfile=-",
            "wsgi:app",
        ],
        "worker": [sys.executable, "-m", "jobs.worker"],
    }
    logs = {name: tmp_root / f"e2e-{name}.log" for name in commands}
    processes = {}
    try:
        for name, command in commands.items():
            with logs[name].open("wb") as log:
                processes[name] = subprocess.Popen(
                    command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
                )
        wait_until_serving(f"{url}/login", processes["web"], logs["web"])
        yield LiveServer(url, logs)
    finally:
        for process in reversed(processes.values()):
            stop_process(process)


@pytest.fixture
def inbox(mail_sink):
    """The SMTP server's Maildir, emptied for this test."""
    mailbox.Maildir(mail_sink.path, create=True).clear()
    return mail_sink


@pytest.fixture
def open_page(request, chromium_browser, auditor, live_server):
    """Factory: a fresh browser context (a separate visitor) with one audited page."""
    opened = []
    log_sizes = {name: _size(path) for name, path in live_server.logs.items()}

    def open_(javascript=True):
        context = chromium_browser.new_context(java_script_enabled=javascript)
        context.set_default_timeout(DEFAULT_TIMEOUT_MS)
        audited = AuditedPage(context.new_page(), live_server.url, auditor, javascript=javascript)
        opened.append((context, audited))
        return audited

    yield open_
    report = getattr(request.node, "report_call", None)
    _drain(request.getfixturevalue("app"))
    try:
        if report is not None and report.passed:
            for _, audited in opened:
                audited.finish()
    finally:
        for context, _ in opened:
            context.close()
        for name, path in live_server.logs.items():
            # Shown by pytest only when the test fails.
            print(f"--- {name} log during this test ---\n{_read_from(path, log_sizes[name])}")


def _drain(app, timeout=30.0):
    """Wait until the live worker has no job queued or running: the pages' actions queue
    mail (notifications), and on SQLite a job still writing would hold the write lock while
    the next test empties the tables."""
    from rq.registry import StartedJobRegistry

    connection = app.extensions["redis"]
    queues = app.config["RQ_QUEUES"]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        waiting = sum(connection.llen(f"rq:queue:{name}") for name in queues)
        running = sum(StartedJobRegistry(name, connection=connection).count for name in queues)
        if not waiting and not running:
            return
        time.sleep(0.1)


@pytest.fixture
def ui(open_page):
    """One audited page with JavaScript on."""
    return open_page()


def _size(path):
    """Current size of a log file."""
    return path.stat().st_size if path.exists() else 0


def _read_from(path, offset):
    """A log file from an offset on (at most its last 4000 characters)."""
    with path.open("rb") as handle:
        handle.seek(offset)
        text = handle.read().decode(errors="replace")
    return text[-4000:]


def pytest_collection_modifyitems(items):
    """In this package, tests that do not use the live server run before it starts: its
    worker would otherwise take the mail their own setup queues, and on SQLite hold the
    write lock while it sends."""
    here = Path(__file__).parent
    positions = [i for i, item in enumerate(items) if here in Path(item.path).parents]
    ours = [items[i] for i in positions]
    ordered = sorted(ours, key=lambda item: "live_server" in item.fixturenames)
    for position, item in zip(positions, ordered, strict=True):
        items[position] = item
