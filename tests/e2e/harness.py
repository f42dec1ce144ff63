"""Browser helpers: pages checked with axe-core on every visit, processes, mail."""

import re
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

from playwright.sync_api import Page, Response

from tests import factories

ROOT = Path(__file__).resolve().parents[2]
AXE_PATH = ROOT / "node_modules" / "axe-core" / "axe.min.js"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
FAILING_IMPACTS = {"serious", "critical"}
MAIL_TIMEOUT = 20.0
# Pages replayed for axe may load the app's styles but run no script at all.
REPLAY_CSP = "script-src 'none'; object-src 'none'; base-uri 'none'"
RUN_AXE = """async () => {
  const result = await axe.run(document, {resultTypes: ["violations"]});
  return result.violations.map(v => ({
    id: v.id, impact: v.impact, help: v.help, helpUrl: v.helpUrl,
    nodes: v.nodes.map(n => ({
      target: n.target.join(" "), html: n.html, summary: n.failureSummary,
    })),
  }));
}"""


def format_violations(url, violations):
    """A readable report: rule id, impact, help and every offending node."""
    lines = [f"axe-core found serious or critical violations on {url}:"]
    for violation in violations:
        lines.append(f"- {violation['id']} ({violation['impact']}): {violation['help']}")
        lines.append(f"  {violation['helpUrl']}")
        for node in violation["nodes"]:
            lines.append(f"  * {node['target']}: {node['html']}")
            lines.extend(f"      {line}" for line in (node["summary"] or "").splitlines())
    return "\n".join(lines)


def axe_violations(page, axe_source):
    """Serious and critical axe-core violations of the page's current document."""
    if not page.evaluate("() => typeof window.axe === 'object'"):
        # evaluate() is not subject to the app's CSP, which forbids inline scripts.
        page.evaluate(axe_source)
    found = page.evaluate(RUN_AXE)
    return [v for v in found if v["impact"] in FAILING_IMPACTS]


class Auditor:
    """Runs axe-core; documents of pages without JavaScript are replayed in a page with it.

    axe-core cannot run where scripts are disabled (its timers never fire), so the
    document such a page shows is served again, byte for byte, at the same URL to a
    JavaScript-enabled page whose CSP blocks every script of the app; the app's
    stylesheets still load, so contrast and layout are what the visitor saw.
    """

    def __init__(self, axe_source, replay_context=None):
        self.axe_source = axe_source
        self.replay_context = replay_context

    def violations(self, page, javascript=True):
        """Serious and critical violations of what the page shows now."""
        if javascript:
            return axe_violations(page, self.axe_source)
        return self._replayed_violations(page.url, page.content())

    def _replayed_violations(self, url, html):
        """Check a document as served again to a scripting page."""
        replay = self.replay_context.new_page()
        url = url.partition("#")[0]
        served = []

        def serve(route):
            served.append(route.request.url)
            route.fulfill(
                status=200,
                content_type="text/html; charset=utf-8",
                headers={"Content-Security-Policy": REPLAY_CSP},
                body=html,
            )

        try:
            replay.route(lambda requested: requested == url, serve)
            replay.goto(url)
            assert served == [url], f"the replay of {url} was not served from the snapshot"
            return axe_violations(replay, self.axe_source)
        finally:
            replay.close()


class AuditedPage:
    """A browser tab whose every document (and every htmx swap we ask for) passes axe.

    `visit`, `click`, `submit` and `follow` check the page they land on. Anything else that
    navigates is counted, and `audit` or the end of the test fails if a document was
    shown without being checked.
    """

    def __init__(self, page: Page, base_url, auditor, *, javascript=True):
        self.page = page
        self.base_url = base_url
        self.auditor = auditor
        self.javascript = javascript
        self.shown = None  # URL of a document shown and not yet checked
        self.unchecked = []
        self.script_errors = []
        page.on("framenavigated", self._navigated)
        page.on("pageerror", lambda error: self.script_errors.append(str(error)))
        page.on("console", self._console)

    def _navigated(self, frame):
        """Note each document of the main frame; the check runs later, outside events."""
        if frame == self.page.main_frame:
            if self.shown is not None:
                self.unchecked.append(self.shown)
            self.shown = frame.url

    def _console(self, message):
        """Keep Content Security Policy violations: they are bugs of the app."""
        if "Content Security Policy" in message.text:
            self.script_errors.append(message.text)

    def url(self, path):
        """An absolute URL on the server under test."""
        return path if path.startswith("http") else self.base_url + path

    def visit(self, path) -> Response:
        """Open a page and check it."""
        response = self.page.goto(self.url(path))
        self.audit()
        return response

    def click(self, locator):
        """Click something that loads another page, wait for that page and check it."""
        with self.page.expect_navigation():
            locator.click()
        self.audit()

    def submit(self, button):
        """Press a form's submit button by its name; check the page that answers."""
        self.click(self.page.get_by_role("button", name=button, exact=True))

    def follow(self, link):
        """Follow a link by its name; check the page it leads to."""
        self.click(self.page.get_by_role("link", name=link, exact=True))

    def audit(self):
        """Fail on serious or critical axe-core violations in what the page shows now."""
        assert not self.unchecked, f"pages shown without an accessibility check: {self.unchecked}"
        violations = self.auditor.violations(self.page, self.javascript)
        self.shown = None
        assert not violations, format_violations(self.page.url, violations)

    def finish(self):
        """End of test: every document was checked and no script failed."""
        if self.shown is not None:
            self.unchecked.append(self.shown)
        assert not self.unchecked, f"pages shown without an accessibility check: {self.unchecked}"
        assert not self.script_errors, f"script errors in the browser: {self.script_errors}"


def wait_until_serving(url, process, log_path, timeout=30.0):
    """Poll a URL until it answers 200; fail early if the process dies."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited ({process.returncode}):\n{tail(log_path)}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer within {timeout} s:\n{tail(log_path)}")


def stop_process(process, timeout=10.0):
    """SIGTERM, then SIGKILL if it does not stop in time."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def tail(path, size=4000):
    """The end of a log file."""
    try:
        return Path(path).read_text(errors="replace")[-size:]
    except FileNotFoundError:
        return ""


def wait_for_mail(mailbox, address, timeout=MAIL_TIMEOUT):
    """The newest message to an address, polling the Maildir for a bounded time."""
    deadline = time.monotonic() + timeout
    while True:
        messages = mailbox.to(address)
        if messages:
            return messages[-1]
        if time.monotonic() > deadline:
            seen = [str(m["To"]) for m in mailbox.messages()]
            raise AssertionError(f"no mail to {address} within {timeout} s; got mail to {seen}")
        time.sleep(0.1)


def link_in(message, base_url, path_prefix):
    """The one link of a kind in an email's text, which must start with PUBLIC_URL."""
    pattern = re.escape(base_url + path_prefix) + r"[^\s<>\"']+"
    links = re.findall(pattern, factories.body_text(message))
    assert len(links) == 1, f"expected one {path_prefix} link, found {links}"
    return links[0]
