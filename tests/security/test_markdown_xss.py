"""CX-6 and CX-7: user Markdown can't run script, load content or drive htmx.

Every payload of `tests/security/xss_corpus.py` goes through the real renderer
(`portal.markup.render_markdown`, which messages use at write time) and the HTML is parsed
like a browser would: no script-capable element, no `on*`, no `style`, no `hx-*`/`data-hx-*`,
every URL scheme in {http, https, mailto} or relative. Then the payloads are posted through
the message service and the pages that show them (workroom, older messages, thread, history,
poll fragments) are parsed: every message body sits in an `hx-disable` container, and
nothing inside it breaks the rules.
"""

import re
from html.parser import HTMLParser

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from portal.accounts.models import AccountKind, Brand, User
from portal.extensions import db
from portal.markup import render_markdown
from portal.workrooms import services
from portal.workrooms.access import seat_of
from portal.workrooms.models import Message, Workroom
from tests import factories
from tests.conftest import Browserless, https_client
from tests.security.xss_corpus import CORPUS, check_safe, element_problems, url_scheme

MARKER = "hx-disable-marker"


# -- CX-6: the corpus through the renderer ---------------------------------------------------


@pytest.mark.parametrize("payload", CORPUS)
def test_rendered_payload_is_inert(payload):
    """No payload of the corpus survives the renderer in a form a browser would run."""
    html = render_markdown(payload)
    assert check_safe(html) == [], f"{payload!r} rendered as {html!r}"


def test_harmless_markdown_still_renders():
    """The allow-list keeps what people write: emphasis, lists, code, tables, safe links."""
    html = render_markdown(
        "**bold** _it_ `code` [site](https://ok.example/a?b=1) <a@example.com> [rel](/x)\n\n"
        "* one\n* two\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n```\n<b>kept as text</b>\n```"
    )
    for piece in (
        "<strong>bold</strong>",
        "<em>it</em>",
        "<code>code</code>",
        'href="https://ok.example/a?b=1"',
        'href="/x"',
        "<li>one</li>",
        "<table>",
        "&lt;b&gt;kept as text&lt;/b&gt;",
    ):
        assert piece in html
    assert 'href="mailto:' in html  # python-markdown obfuscates the address with entities
    assert check_safe(html) == []


@pytest.mark.parametrize(
    ("source", "text"),
    [
        ("[![build badge](https://img.example/b.png)](https://ci.example)", "build badge"),
        ("[](https://ci.example)", "https://ci.example"),
        ("[![](https://img.example/b.png)](https://ci.example)", "https://ci.example"),
    ],
)
def test_images_become_their_alt_text_and_links_keep_a_name(source, text):
    """No image is loaded, and a link around one is not left empty (axe: link-name)."""
    html = render_markdown(source)
    assert "<img" not in html
    assert f'href="https://ci.example" rel="noopener noreferrer nofollow">{text}</a>' in html


def test_image_alt_text_is_escaped_text():
    """The alt text that replaces an image is text, whatever it contains."""
    html = render_markdown("![<script>alert(1)</script> & <b>x</b>](https://img.example/p.png)")
    assert html == "<p>&lt;script&gt;alert(1)&lt;/script&gt; &amp; &lt;b&gt;x&lt;/b&gt;</p>"


def test_dangerous_links_keep_their_text_but_lose_the_url():
    """A refused link is shown as text, so the reader still sees what was written."""
    html = render_markdown("[click me](javascript:alert(1))")
    assert "click me" in html
    assert "href" not in html


@pytest.mark.parametrize(
    ("value", "scheme"),
    [
        ("java\tscript:alert(1)", "javascript"),
        ("jav\nascript:alert(1)", "javascript"),
        ("  \x0e javascript:alert(1)", "javascript"),
        ("\x01JaVaScRiPt:alert(1)", "javascript"),
        ("vbscript:msgbox(1)", "vbscript"),
        ("data:text/html,x", "data"),
        ("MAILTO:a@example.com", "mailto"),
        ("/relative/path", None),
        ("//evil.example", None),
        ("#anchor", None),
        ("?q=javascript:x", None),
        ("ja va script:alert(1)", None),  # a space inside is not a scheme: a relative path
    ],
)
def test_the_scheme_check_reads_urls_like_a_browser(value, scheme):
    """The checker itself: whitespace and control characters are handled per WHATWG URL."""
    assert url_scheme(value) == scheme


@pytest.mark.parametrize(
    "html",
    [
        '<a href="java&#x09;script:alert(1)">x</a>',
        '<a href=" &#14; javascript:alert(1)">x</a>',
        "<p onclick=alert(1)>x</p>",
        '<div hx-get="/admin/users">x</div>',
        '<a data-hx-post="/x">x</a>',
        '<p style="color:red">x</p>',
        "<img src=x>",
        "<SVG></SVG>",
        '<a href="vbscript:msgbox(1)">x</a>',
        '<a href="data:text/html,x">x</a>',
        "<ScRiPt>alert(1)</ScRiPt>",
    ],
)
def test_the_checker_catches_what_it_must(html):
    """A checker that never fails proves nothing: each of these must be reported."""
    assert check_safe(html)


# -- CX-7: generated Markdown/HTML soup -------------------------------------------------------

TOKENS = [
    "<",
    ">",
    "</",
    "/>",
    "<script>",
    "</script>",
    "<ScRiPt ",
    "<a ",
    "<a href=",
    "<img ",
    "<img src=x ",
    "<svg",
    "<svg/onload=",
    "<math>",
    "<style>",
    "</style>",
    "<iframe ",
    "<form ",
    "<base href=",
    "<meta http-equiv=refresh content=",
    "<noscript>",
    "</noscript>",
    "<textarea>",
    "<title>",
    "<xmp>",
    "<template>",
    "<div ",
    "<p ",
    "<table><tr><td ",
    "<!--",
    "-->",
    "<![CDATA[",
    "]]>",
    " src=",
    " href=",
    " onerror=",
    " onclick=",
    " onmouseover=",
    "ONLOAD=",
    " style=",
    "expression(",
    "url(",
    " hx-get=",
    " hx-trigger=load ",
    " hx-on:click=",
    " data-hx-post=",
    " hx-swap-oob=true ",
    " id=composer ",
    "=",
    '"',
    "'",
    "`",
    "[",
    "]",
    "(",
    ")",
    "![",
    "](",
    "[x]: ",
    "[x]",
    "javascript:",
    "JaVaScRiPt:",
    "java\tscript:",
    "jav&#x09;ascript:",
    "jav&#x0A;ascript:",
    "vbscript:",
    "data:text/html,",
    "mailto:",
    "https://ok.example",
    "http://",
    "//evil.example",
    "&#",
    "&#x",
    "6A;",
    "&#106;",
    "&#x3A;",
    "&colon;",
    "&lt;",
    "&gt;",
    "&amp;",
    "&quot;",
    ";",
    ":",
    "alert(1)",
    "window.__xss.push(1)",
    "\n",
    "\n\n",
    " ",
    "\t",
    "    ",
    "> ",
    "* ",
    "1. ",
    "|",
    "---",
    "```",
    "**",
    "_",
    "\\",
    "/",
    "\x00",
    "\x0b",
    "\x0e",
    "\u202e",
]

soup = st.lists(
    st.one_of(st.sampled_from(TOKENS), st.text(max_size=3)), min_size=1, max_size=40
).map("".join)


@settings(
    max_examples=300,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(soup)
def test_generated_markup_is_inert(text):
    """Whatever mix of HTML and Markdown tokens a user types, the output keeps the rules."""
    html = render_markdown(text)
    assert check_safe(html) == [], f"{text!r} rendered as {html!r}"


# -- CX-6: the payloads as messages, on every page that shows them ----------------------------

VOID = {
    "area",
    "base",
    "br",
    "col",
    "embed",
    "hr",
    "img",
    "input",
    "link",
    "meta",
    "source",
    "track",
    "wbr",
}


class PageTree(HTMLParser):
    """Elements and text of a page, each with the chain of elements around it."""

    def __init__(self, html):
        super().__init__(convert_charrefs=True)
        self.stack = []
        self.elements = []  # (tag, attrs, ancestors)
        self.texts = []  # (text, ancestors)
        self.feed(html)
        self.close()

    def handle_starttag(self, tag, attrs):
        self.elements.append((tag, attrs, tuple(self.stack)))
        if tag not in VOID:
            self.stack.append((tag, dict(attrs)))

    def handle_startendtag(self, tag, attrs):
        self.elements.append((tag, attrs, tuple(self.stack)))

    def handle_endtag(self, tag):
        for depth in range(len(self.stack) - 1, -1, -1):
            if self.stack[depth][0] == tag:
                del self.stack[depth:]
                return

    def handle_data(self, data):
        self.texts.append((data, tuple(self.stack)))


def is_message_body(tag, attrs):
    return tag == "div" and "message-body" in (attrs.get("class") or "").split()


def check_page(html, *, bodies, marker=True):
    """Every message body is in an hx-disable container and holds nothing dangerous."""
    tree = PageTree(html)
    containers = [
        (tag, dict(attrs)) for tag, attrs, _ in tree.elements if is_message_body(tag, dict(attrs))
    ]
    assert len(containers) >= bodies, f"expected at least {bodies} message bodies"
    for tag, attrs in containers:
        assert "hx-disable" in attrs, f"a message body without hx-disable: {attrs}"
    problems = []
    for tag, attrs, ancestors in tree.elements:
        if any(is_message_body(t, a) for t, a in ancestors):
            problems.extend(element_problems(tag, attrs))
        # The page's own markup has no inline handlers or inline styles either (CSP).
        problems.extend(p for p in element_problems(tag, attrs) if "event handler" in p)
    assert problems == []
    marked = [ancestors for text, ancestors in tree.texts if MARKER in text]
    assert marked or not marker, "the marker message is not on the page"
    for ancestors in marked:
        assert any("hx-disable" in a for _, a in ancestors), "marker text outside hx-disable"
    assert not re.search(r"<img\b|<svg\b|<math\b|<iframe\b", html, re.IGNORECASE)


@pytest.fixture
def world(app):
    """A brand owner and a creator in one workroom with every payload posted, plus a thread."""
    with app.app_context():
        owner = factories.user(name="Bea Owner")
        creator = factories.user(kind=AccountKind.creator, name="Cora Creator")
        brand = db.session.get(Brand, owner.memberships[0].brand_id)
        workroom = services.open_workroom(brand, creator, owner)
        db.session.flush()
        brand_seat, creator_seat = seat_of(owner, workroom), seat_of(creator, workroom)
        posted = 0
        for n, payload in enumerate(CORPUS):
            if not payload.strip() or "\x00" in payload:
                continue  # empty messages are refused; NUL is covered by the renderer test
            seat, author = (brand_seat, owner) if n % 2 else (creator_seat, creator)
            services.post_message(seat, author, payload)
            posted += 1
        root = services.post_message(
            brand_seat, owner, f"{MARKER} **root** [safe](https://ok.example)"
        )
        for payload in CORPUS[:40]:
            if payload.strip():
                services.post_message(creator_seat, creator, payload, parent=root)
        services.post_message(creator_seat, creator, f"{MARKER} reply", parent=root)
        edited = services.post_message(brand_seat, owner, CORPUS[0])
        for payload in CORPUS[1:30]:
            services.edit_message(edited, owner, payload)
        services.edit_message(edited, owner, f"{MARKER} final text")
        db.session.commit()
        return {
            "workroom": workroom.id,
            "root": root.id,
            "edited": edited.id,
            "owner": owner.email,
            "creator": creator.email,
            "posted": posted,
            "last_seq": workroom.last_message_seq,
        }


def signed_in(app, email):
    browser = Browserless(https_client(app))
    assert browser.login(email).status_code == 302
    return browser.client


def test_stored_html_of_every_posted_payload_is_inert(app, world):
    """What the service stored (and pages show with |safe) keeps the rules, edits included."""
    with app.app_context():
        rows = db.session.scalars(select(Message)).all()
        assert len(rows) >= world["posted"]
        for message in rows:
            assert check_safe(message.body_html) == [], message.body_md


@pytest.mark.parametrize("who", ["owner", "creator"])
def test_workroom_pages_keep_message_bodies_in_hx_disable(app, world, who):
    """Workroom page, older pages, thread, history and polls: bodies sit in hx-disable."""
    client = signed_in(app, world[who])
    base = f"/workrooms/{world['workroom']}"
    hx = {"HX-Request": "true"}

    page = client.get(base)
    assert page.status_code == 200
    check_page(page.get_data(as_text=True), bodies=50)

    older = client.get(f"{base}/messages?before={world['last_seq']}", headers=hx)
    assert older.status_code == 200
    check_page(older.get_data(as_text=True), bodies=1, marker=False)

    thread = client.get(f"{base}/messages/{world['root']}")
    assert thread.status_code == 200
    check_page(thread.get_data(as_text=True), bodies=40)

    thread_fragment = client.get(f"{base}/messages/{world['root']}", headers=hx)
    check_page(thread_fragment.get_data(as_text=True), bodies=40)

    history = client.get(f"{base}/messages/{world['edited']}/history")
    assert history.status_code == 200
    check_page(history.get_data(as_text=True), bodies=30)

    # A poll from the start: every message arrives as a new one (appended out of band) ...
    fresh = client.get(f"{base}/poll?since=0&upto=0", headers=hx)
    assert fresh.status_code == 200
    check_page(fresh.get_data(as_text=True), bodies=world["posted"])
    # ... and with everything already shown, as changed ones (replaced out of band).
    changed = client.get(f"{base}/poll?since=0&upto={world['last_seq']}", headers=hx)
    check_page(changed.get_data(as_text=True), bodies=world["posted"])


def test_an_edit_or_post_answered_as_a_fragment_keeps_hx_disable(app, world):
    """The htmx answers of edit and post show the body in hx-disable too."""
    client = signed_in(app, world["owner"])
    base = f"/workrooms/{world['workroom']}"
    hx = {"HX-Request": "true"}
    token = Browserless(client).token(base)
    answer = client.post(
        f"{base}/messages/{world['edited']}/edit",
        data={"csrf_token": token, "body": f"{MARKER} <img src=x onerror=alert(1)>"},
        headers=hx,
    )
    assert answer.status_code == 200
    check_page(answer.get_data(as_text=True), bodies=1)


def test_workroom_list_and_dashboard_show_the_latest_line_as_text(app, world):
    """The list's latest-message preview is Markdown source, escaped, never HTML."""
    with app.app_context():
        workroom = db.session.get(Workroom, world["workroom"])
        owner = db.session.scalar(select(User).where(User.email == world["owner"]))
        services.post_message(
            seat_of(owner, workroom), owner, '"><img src=x onerror=alert(1)> <script>x</script>'
        )
        db.session.commit()
    client = signed_in(app, world["owner"])
    for path in ("/workrooms", "/"):
        html = client.get(path).get_data(as_text=True)
        assert "&#34;&gt;&lt;img src=x onerror=alert(1)&gt;" in html
        tags = {tag for tag, _, _ in PageTree(html).elements}
        assert "img" not in tags
        assert not re.search(r"<img\b", html, re.IGNORECASE)
        assert "<script>x</script>" not in html
