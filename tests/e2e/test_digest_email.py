"""The HTML digest in real Chromium, as an email client shows it: no scripts, nothing
loaded from elsewhere, "your turn" first, every item visible, accessible (axe-core), and a
screenshot for the record.

The body is the one `send_digest` queues for the golden scenario of
tests/notifications/test_digests.py (Bea, brand owner in Berlin, 19 March 2030).
"""

import re

from playwright.sync_api import expect

from portal.accounts.models import User
from portal.extensions import db
from portal.notifications.digests import SECTIONS, send_digest
from tests.e2e.harness import format_violations
from tests.notifications.test_digests import NOW, build_scenario

#: where the browser is told the email came from (served by a route, never the network)
EMAIL_URL = "https://mail.example.test/digest"


def test_the_html_digest_renders_in_chromium(app, chromium_browser, auditor, tmp_path):
    scenario = build_scenario(app)
    with app.app_context():
        email = send_digest(db.session.get(User, scenario.owner_id), NOW)
        db.session.commit()
        html = email.html_body

    # Like a mail client: scripts off, and the document may load nothing at all.
    context = chromium_browser.new_context(
        java_script_enabled=False, viewport={"width": 720, "height": 900}
    )
    requests = []
    context.on("request", lambda request: requests.append(request.url))
    context.route(
        EMAIL_URL,
        lambda route: route.fulfill(
            status=200,
            content_type="text/html; charset=utf-8",
            headers={"Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'"},
            body=html,
        ),
    )
    try:
        page = context.new_page()
        page.goto(EMAIL_URL)
        assert requests == [EMAIL_URL], "the email loads nothing from elsewhere"
        assert page.locator("script, img, iframe, object, link, style").count() == 0

        expect(page).to_have_title("Your Duet digest for Tue 19 Mar: 3 things wait on you")
        expect(page.get_by_role("heading", level=1)).to_have_text("Your Duet digest")
        headings = page.get_by_role("heading", level=2)
        expect(headings).to_have_text([heading for _, heading in SECTIONS])
        tops = [box["y"] for box in (h.bounding_box() for h in headings.all())]
        assert tops == sorted(tops), "your turn first, the sections in order down the page"

        for name in (
            "Review revision 1 of Trail video",
            "Trail story was missed: extend, waive or cancel it",
            "Answer Cora Creator's request to move Trail blog",
            "Trail reel",
            "8 unread messages",
            "Spring Trails comes up for renewal on Wed 10 Apr 2030",
            "Feedback on the story brief",
            "Cora Creator submitted revision 1 of “Trail video” for review",
        ):
            expect(page.get_by_role("link", name=name, exact=True)).to_be_visible()
        expect(page.get_by_text("times in Europe/Berlin")).to_be_visible()
        expect(page.get_by_text("approved automatically Sat 23 Mar 2030, 10:30")).to_be_visible()
        expect(
            page.get_by_role("link", name="Choose how often it comes, and at what hour")
        ).to_have_attribute("href", "https://localhost/account/notifications")
        expect(page.get_by_role("link", name="Stop the digest")).to_have_attribute(
            "href", re.compile(r"^https://localhost/unsubscribe/[\w.-]+$")
        )

        violations = auditor.violations(page, javascript=False)
        assert not violations, format_violations(EMAIL_URL, violations)

        shot = tmp_path / "digest.png"
        page.screenshot(path=str(shot), full_page=True)
        assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert shot.stat().st_size > 10_000

        # A phone: the 600-pixel layout shrinks to the screen instead of scrolling sideways.
        page.set_viewport_size({"width": 360, "height": 740})
        narrow = tmp_path / "digest-narrow.png"
        page.screenshot(path=str(narrow), full_page=True)
        assert narrow.stat().st_size > 0
        assert page.evaluate("document.documentElement.scrollWidth") <= 360
    finally:
        context.close()
