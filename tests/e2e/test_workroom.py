"""The workroom in a real browser: live messages between two visitors, threads, edits, XSS.

Two browser contexts are the brand owner and the creator. New messages, reply counts and
edits reach the other side by htmx polling, without a reload. The XSS payloads are posted
through the real composer and shown in real Chromium, where a trap records any script that
runs; the harness fails the test on CSP violations, script errors and axe-core findings.
"""

import re
from dataclasses import dataclass

import pytest
from playwright.sync_api import expect

from portal.accounts.models import AccountKind, Brand, User
from portal.extensions import db
from portal.workrooms.services import open_workroom
from tests import factories
from tests.e2e.test_accounts import sign_in

LIVE_TIMEOUT_MS = 10_000  # the log polls every 3 s
PROBE = "xss-probe"  # any request to a URL containing this means a payload loaded something
TRAP = "window.__xss = [];"

# Representative payloads (see tests/security/xss_corpus.py); each would call the trap,
# open a dialog, fetch a probe URL or make htmx act if it survived.
PAYLOADS = [
    "<script>window.__xss.push('script')</script>",
    "<ScRiPt>alert('script-case')</sCrIpT>",
    '"><img src=x onerror=window.__xss.push("img")>',
    f"<img src=/{PROBE}-img onerror=alert(1)>",
    "<svg onload=window.__xss.push('svg')>",
    "<svg><animate onbegin=window.__xss.push('animate') attributeName=x dur=1s>",
    "<math><mtext><table><mglyph><style><img src=x onerror=window.__xss.push('mxss')>",
    "[click me](javascript:window.__xss.push('md-link'))",
    "[click me](JaVaScRiPt:alert(1))",
    "[ref][r]\n\n[r]: javascript:window.__xss.push('ref')",
    "<javascript:window.__xss.push('autolink')>",
    "<a href=\"java&#x09;script:window.__xss.push('tab')\">tab link</a>",
    '<a href="jav&#x0A;ascript:alert(1)">newline link</a>',
    '<a href="data:text/html,<script>alert(1)</script>">data link</a>',
    f"![pixel](http://127.0.0.1:9/{PROBE}-pixel.png)",
    f"[![build badge](http://127.0.0.1:9/{PROBE}-badge.png)](https://ok.example)",
    "<details open ontoggle=\"window.__xss.push('details')\">d</details>",
    "<b onmouseover=window.__xss.push('hover')>hover</b>",
    '<b onmouseover="window.__xss.push(1)">hover me</b> or <i onclick="alert(1)">click it</i>',
    '<input autofocus onfocus="window.__xss.push(1)">',
    '<p style="background:url(javascript:alert(1))">styled</p>',
    f'<iframe src="/{PROBE}-iframe" onload="window.__xss.push(\'iframe\')"></iframe>',
    f'<object data="/{PROBE}-object"></object>',
    "<input autofocus onfocus=window.__xss.push('focus')>",
    '<form action="/logout" method="post"><button>Sign out now</button></form>',
    f'<base href="http://127.0.0.1:9/{PROBE}-base/">',
    f'<meta http-equiv="refresh" content="0;url=/{PROBE}-meta">',
    f'<div hx-get="/{PROBE}-hx" hx-trigger="load">hx</div>',
    f'<a data-hx-post="/{PROBE}-data-hx" data-hx-trigger="load">data-hx</a>',
    "<div hx-on::load=\"window.__xss.push('hx-on')\">hx-on</div>",
    '<div hx-swap-oob="true" id="composer">spoofed composer</div>',
    "`<script>window.__xss.push('code')</script>` and ```\n<img src=x onerror=alert(1)>\n```",
    "<noscript><p title=\"</noscript><img src=x onerror=window.__xss.push('noscript')>\">",
]

# What a message body may contain, checked by the browser's own DOM and URL parser.
DOM_CHECK = """() => {
  const problems = [];
  const banned = new Set(["SCRIPT", "IFRAME", "OBJECT", "EMBED", "SVG", "MATH", "STYLE", "LINK",
    "META", "BASE", "FORM", "IMG", "INPUT", "BUTTON", "TEXTAREA", "SELECT", "VIDEO", "AUDIO"]);
  const bodies = document.querySelectorAll(".message-body");
  for (const body of bodies) {
    if (!body.closest("[hx-disable]")) problems.push("body outside hx-disable");
    for (const el of body.querySelectorAll("*")) {
      if (banned.has(el.tagName.toUpperCase())) problems.push("element " + el.tagName);
      for (const attr of el.attributes) {
        const name = attr.name.toLowerCase();
        if (name.startsWith("on") || name === "style" || name.startsWith("hx-")
            || name.startsWith("data-hx-")) problems.push(el.tagName + " " + name);
      }
      for (const name of ["href", "src", "action", "formaction"]) {
        const value = el.getAttribute(name);
        if (value === null) continue;
        const scheme = new URL(value, document.baseURI).protocol;
        if (!["http:", "https:", "mailto:"].includes(scheme)) {
          problems.push(el.tagName + " " + name + "=" + value);
        }
      }
    }
  }
  return {count: bodies.length, problems: problems, base: document.baseURI};
}"""


@dataclass
class Room:
    """The workroom and its two people."""

    id: int
    brand: factories.Snapshot
    creator: factories.Snapshot

    @property
    def path(self):
        return f"/workrooms/{self.id}"


@pytest.fixture
def room(app, make_user):
    """A brand owner and a creator with their workroom, committed."""
    brand_user = make_user(name="Bea Brand")
    creator = make_user(kind=AccountKind.creator, name="Cora Creator")
    with app.app_context():
        brand = db.session.get(Brand, brand_user.brand_id)
        owner = db.session.get(User, brand_user.id)
        workroom = open_workroom(brand, db.session.get(User, creator.id), owner)
        db.session.commit()
        return Room(workroom.id, brand_user, creator)


def enter(open_page, room, person, javascript=True, trap=False):
    """A separate visitor, signed in, on the workroom page."""
    ui = open_page(javascript=javascript)
    if trap:
        ui.page.context.add_init_script(TRAP)
    sign_in(ui, person.email)
    ui.visit(room.path)
    expect(ui.page.get_by_role("heading", level=1)).to_contain_text("Cora Creator")
    return ui


def message(ui, text):
    """The log entry containing `text`."""
    return ui.page.locator("li.message").filter(has_text=text)


def send(ui, text, button="Send"):
    """Post through the htmx composer and wait for it to come back empty."""
    box = ui.page.get_by_label("Message", exact=True)
    box.fill(text)
    ui.page.get_by_role("button", name=button, exact=True).click()
    expect(ui.page.get_by_label("Message", exact=True)).to_have_value("")


def stay(ui):
    """Mark the document, so a later check shows it was never reloaded."""
    ui.page.evaluate("() => { window.__sameDocument = true; }")


def still_same_document(ui):
    assert ui.page.evaluate("() => window.__sameDocument === true"), "the page was reloaded"


@pytest.mark.e2e
def test_messages_replies_and_edits_reach_the_other_side_live(open_page, room):
    """Brand posts, creator sees it; creator replies and edits, brand sees count and marker."""
    brand = enter(open_page, room, room.brand)
    creator = enter(open_page, room, room.creator)
    stay(brand)
    stay(creator)

    send(brand, "Hello **Cora**, the brief is attached.")
    expect(message(brand, "the brief is attached")).to_be_visible()
    live = message(creator, "the brief is attached")
    expect(live).to_be_visible(timeout=LIVE_TIMEOUT_MS)
    expect(live.locator(".message-body strong")).to_have_text("Cora")
    still_same_document(creator)
    creator.audit()

    # The creator answers in the thread; the brand's page shows the reply count.
    creator.click(live.get_by_role("link", name="Reply in thread"))
    expect(creator.page.get_by_role("heading", name="Thread", exact=True)).to_be_visible()
    send(creator, "Thanks, I will read it tonight.", button="Reply")
    expect(creator.page.locator("ol.replies")).to_contain_text(
        "I will read it tonight", timeout=LIVE_TIMEOUT_MS
    )
    creator.audit()
    expect(message(brand, "the brief is attached")).to_contain_text(
        "1 reply", timeout=LIVE_TIMEOUT_MS
    )
    expect(brand.page.locator("#message-list")).not_to_contain_text("I will read it tonight")
    still_same_document(brand)

    # The creator posts, then edits; the brand sees the new text and the "edited" marker.
    creator.follow("Back to the workroom")
    send(creator, "Draft caption: summer is here")
    expect(message(brand, "Draft caption")).to_be_visible(timeout=LIVE_TIMEOUT_MS)
    own = message(creator, "Draft caption")
    creator.click(own.get_by_role("link", name="Edit", exact=True))
    creator.page.get_by_label("Message", exact=True).fill("Final caption: summer is *here*")
    creator.submit("Save")
    expect(message(creator, "Final caption")).to_be_visible()

    edited = message(brand, "Final caption")
    expect(edited).to_be_visible(timeout=LIVE_TIMEOUT_MS)
    expect(edited.get_by_role("link", name="edited", exact=True)).to_be_visible()
    expect(brand.page.locator("#message-list")).not_to_contain_text("Draft caption")
    still_same_document(brand)
    brand.audit()

    brand.click(edited.get_by_role("link", name="edited", exact=True))
    expect(brand.page.get_by_role("heading", level=1)).to_contain_text("History of a message")
    history = brand.page.locator("ol.history")
    expect(history).to_contain_text("Draft caption: summer is here")
    expect(history).to_contain_text("Final caption: summer is here")


@pytest.mark.e2e
def test_xss_payloads_posted_through_the_ui_stay_inert(open_page, room):
    """Payloads typed into the composer run nothing, load nothing and drive no htmx."""
    brand = enter(open_page, room, room.brand, trap=True)
    creator = enter(open_page, room, room.creator, trap=True)
    dialogs, probes = [], []
    for ui in (brand, creator):
        ui.page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
        ui.page.on("request", lambda r: probes.append(r.url) if PROBE in r.url else None)
    stay(creator)

    for payload in PAYLOADS:
        send(brand, payload)
    send(brand, "last payload posted")
    entries = creator.page.locator("#message-list > li.message")
    expect(entries).to_have_count(len(PAYLOADS) + 1, timeout=LIVE_TIMEOUT_MS * 3)
    expect(brand.page.locator("#message-list > li.message")).to_have_count(len(PAYLOADS) + 1)
    still_same_document(creator)

    # Hover, focus and click what is left of the payloads, to fire any surviving handler.
    hover = creator.page.locator(".message-body b", has_text="hover me")
    hover.hover()
    for link in ("click it", "click me", "tab link", "newline link", "data link"):
        creator.page.locator(".message-body").get_by_text(link).first.click()
    expect(creator.page).to_have_url(creator.url(room.path))

    for ui in (brand, creator):
        ui.audit()  # axe-core on the log full of payloads, as htmx built it
        found = ui.page.evaluate(DOM_CHECK)
        assert found["count"] >= len(PAYLOADS)
        assert found["problems"] == []
        assert found["base"].startswith(ui.base_url)

    # The server-rendered page, freshly loaded, shows the same payloads inertly.
    creator.visit(room.path)
    assert creator.page.evaluate(DOM_CHECK)["problems"] == []
    expect(creator.page.locator("#composer")).to_have_count(1)
    expect(creator.page.get_by_role("button", name="Sign out now")).to_have_count(0)

    creator.page.wait_for_timeout(1000)  # give anything delayed (load triggers) its chance
    for ui in (brand, creator):
        assert ui.page.evaluate("() => window.__xss") == []
    assert dialogs == []
    assert probes == []


@pytest.mark.e2e
def test_posting_and_replying_work_without_javascript(open_page, room):
    """Plain form posts with redirects: a message, then a reply on the thread page."""
    creator = enter(open_page, room, room.creator, javascript=False)
    creator.page.get_by_label("Message", exact=True).fill("Posted without *JavaScript*")
    creator.submit("Send")
    expect(creator.page).to_have_url(
        re.compile(re.escape(creator.url(room.path)) + r"#message-\d+$")
    )
    entry = message(creator, "Posted without JavaScript")
    expect(entry.locator("em")).to_have_text("JavaScript")

    creator.click(entry.get_by_role("link", name="Reply in thread"))
    creator.page.get_by_label("Message", exact=True).fill("A reply <script>alert(1)</script>")
    creator.submit("Reply")
    expect(creator.page.get_by_role("heading", name="Thread", exact=True)).to_be_visible()
    expect(creator.page.locator("ol.replies")).to_contain_text("A reply")
    creator.follow("Back to the workroom")
    expect(message(creator, "Posted without JavaScript")).to_contain_text("1 reply")
