"""The harness itself: its accessibility check catches what it should."""

import pytest

UNLABELLED_INPUT = (
    "<!doctype html><html lang='en'><head><title>Probe</title></head>"
    "<body><main><h1>Probe</h1><form><input name='q'></form></main></body></html>"
)


INLINE_SCRIPT = (
    "<!doctype html><html lang='en'><head><title>Probe</title></head>"
    "<body><main><h1>Probe</h1><script>document.title = 'ran';</script></main></body></html>"
)


def serve(ui, path, html, headers=None):
    """Answer one URL of the server under test with fixed HTML."""
    ui.page.route(
        ui.url(path),
        lambda route: route.fulfill(content_type="text/html", body=html, headers=headers),
    )


@pytest.mark.e2e
@pytest.mark.parametrize("javascript", [True, False], ids=["with-js", "without-js"])
def test_audit_fails_on_a_critical_violation(open_page, javascript):
    """An input without a label fails the check, with or without JavaScript."""
    ui = open_page(javascript=javascript)
    serve(ui, "/harness-probe", UNLABELLED_INPUT)
    with pytest.raises(AssertionError, match=r"(?s)label \(critical\).*input name=\"q\""):
        ui.visit("/harness-probe")


@pytest.mark.e2e
def test_audit_fails_when_a_page_was_never_checked(ui):
    """Navigating twice without a check is reported by the next check."""
    ui.page.goto(ui.url("/login"))
    ui.page.goto(ui.url("/signup"))
    with pytest.raises(AssertionError, match=r"without an accessibility check.*/login"):
        ui.audit()
    ui.unchecked.clear()
    ui.audit()


@pytest.mark.e2e
def test_finish_fails_on_a_content_security_policy_violation(ui):
    """A script the CSP blocks is reported at the end of the test."""
    serve(ui, "/harness-probe", INLINE_SCRIPT, {"Content-Security-Policy": "script-src 'self'"})
    ui.visit("/harness-probe")
    with pytest.raises(AssertionError, match="Content Security Policy"):
        ui.finish()
    ui.script_errors.clear()
