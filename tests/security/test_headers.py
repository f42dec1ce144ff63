"""CX-9, CX-10, CX-12..CX-14: headers, htmx configuration, error pages, Host and email headers."""

import json
import logging
import re
from email import message_from_bytes, policy
from html.parser import HTMLParser
from types import SimpleNamespace

import pytest
from flask import url_for
from sqlalchemy import select, text

from portal import create_app
from portal.accounts.models import BrandInvitation, User
from portal.extensions import db
from portal.notifications.emails import build_message, deliver_email, queue_email
from portal.notifications.models import OutboundEmail
from tests.factories import PASSWORD, body_text
from tests.security.test_access_control import (
    HX,
    SAMPLES,
    build_world,
    changed_tables,
    client_as,
    db_state,
    https_client,
    page_token,
    url_variants,
)

SECRET_DETAIL = "kaboom-7f3a SELECT password_hash FROM users"
FULL_PAGE = re.compile(r"<!doctype html>", re.IGNORECASE)


# Helpers


def csp_directives(response):
    """The Content-Security-Policy as {directive: [sources]}."""
    policy_text = response.headers.get("Content-Security-Policy", "")
    directives = {}
    for part in policy_text.split(";"):
        words = part.split()
        if words:
            directives[words[0].lower()] = words[1:]
    return directives


def check_security_headers(response, what):
    """The headers every response carries, whatever its type or status."""
    csp = csp_directives(response)
    assert csp.get("object-src") == ["'none'"], what
    assert csp.get("base-uri") == ["'none'"], what
    assert "frame-ancestors" in csp, what
    scripts = csp.get("script-src", csp.get("default-src"))
    assert scripts, f"{what}: no script-src or default-src"
    assert "'unsafe-inline'" not in scripts and "'unsafe-eval'" not in scripts, what
    hsts = response.headers.get("Strict-Transport-Security", "")
    max_age = re.search(r"max-age=(\d+)", hsts)
    assert max_age and int(max_age.group(1)) >= 31536000, f"{what}: HSTS {hsts!r}"
    assert "includesubdomains" in hsts.lower(), f"{what}: HSTS {hsts!r}"
    assert response.headers.get("X-Content-Type-Options") == "nosniff", what
    referrer = response.headers.get("Referrer-Policy")
    assert referrer and referrer != "no-referrer", f"{what}: Referrer-Policy {referrer!r}"


def check_html_headers(response, what, *, signed_in):
    """HTML varies by HX-Request; signed-in HTML is never stored."""
    assert response.mimetype == "text/html", what
    assert "hx-request" in {v.lower() for v in response.vary}, f"{what}: Vary {response.vary}"
    if signed_in:
        assert "no-store" in response.headers.get("Cache-Control", ""), what


class PageAudit(HTMLParser):
    """What a rendered page holds that a strict CSP or htmx config cares about."""

    def __init__(self, html):
        super().__init__(convert_charrefs=True)
        self.problems, self.meta, self.body = [], {}, None
        self.feed(html)
        self.close()

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "script" and not attrs.get("src"):
            self.problems.append("inline <script> without src")
        if tag == "style":
            self.problems.append("<style> element")
        if "style" in attrs:
            self.problems.append(f"style= attribute on <{tag}>")
        self.problems += [f"{name}= handler on <{tag}>" for name in attrs if name.startswith("on")]
        if tag == "meta" and attrs.get("name"):
            self.meta[attrs["name"]] = attrs.get("content")
        if tag == "body":
            self.body = attrs


@pytest.fixture
def people(make_user):
    """A brand owner, a creator and an admin."""
    return {
        "owner": make_user(name="Olive Owner"),
        "creator": make_user(kind="creator"),
        "admin": make_user(kind="admin"),
    }


def signed_in(app, user):
    """A client signed in as the user."""
    test_client = https_client(app)
    response = test_client.post(
        "/login",
        data={"csrf_token": page_token(test_client), "email": user.email, "password": PASSWORD},
    )
    assert response.status_code == 302
    return test_client


@pytest.fixture(scope="module")
def boom_app(app, test_settings):
    """A second app (same database and Redis) with routes that fail on purpose."""
    boom = create_app("testing", dict(test_settings))
    add_failing_routes(boom)
    yield boom
    with boom.app_context():
        db.engine.dispose()


def add_failing_routes(target):
    """/boom raises; /boom-sql runs broken SQL."""

    def boom():
        raise RuntimeError(SECRET_DETAIL)

    def boom_sql():
        db.session.execute(text("SELECT secret_column FROM kaboom_no_such_table"))
        return "unreachable"

    target.add_url_rule("/boom", "boom", boom)
    target.add_url_rule("/boom-sql", "boom_sql", boom_sql)


# CX-9: response kinds and the headers they carry


def full_page_anonymous(ctx, htmx):
    return ctx.client.get("/login", headers=HX if htmx else {}), False


def full_page_signed_in(ctx, htmx):
    client = signed_in(ctx.app, ctx.people["owner"])
    return client.get("/account", headers=HX if htmx else {}), True


def htmx_fragment(ctx, htmx):
    response = signed_in(ctx.app, ctx.people["admin"]).get("/admin/users", headers=HX)
    assert "<html" not in response.get_data(as_text=True)
    return response, True


def csrf_400(ctx, htmx):
    response = ctx.client.post(
        "/login", data={"email": "a@example.com", "password": "x"}, headers=HX if htmx else {}
    )
    return response, False


def forbidden_403(ctx, htmx):
    client = signed_in(ctx.app, ctx.people["creator"])
    return client.get("/admin/users", headers=HX if htmx else {}), True


def not_found_404(ctx, htmx):
    return ctx.client.get("/no-such-page", headers=HX if htmx else {}), False


def not_found_404_signed_in(ctx, htmx):
    client = signed_in(ctx.app, ctx.people["owner"])
    return client.get("/brands/999999/team", headers=HX if htmx else {}), True


def too_many_429(ctx, htmx):
    ctx.monkeypatch.setitem(ctx.app.config, "LOGIN_IP_LIMIT", "2 per minute")
    for _ in range(2):
        response = ctx.client.post(
            "/login",
            data={"csrf_token": page_token(ctx.client), "email": "x@example.com", "password": "no"},
        )
        assert response.status_code == 422
    response = ctx.client.post(
        "/login",
        data={"csrf_token": page_token(ctx.client), "email": "x@example.com", "password": "no"},
        headers=HX if htmx else {},
    )
    return response, False


def server_error_500(ctx, htmx):
    client = https_client(ctx.boom_app)
    return client.get("/boom", headers=HX if htmx else {}), False


def unauthorized_401_htmx(ctx, htmx):
    return ctx.client.get("/account", headers=HX), False


def static_file(ctx, htmx):
    return ctx.client.get("/static/css/app.css"), False


def health_json(ctx, htmx):
    return ctx.client.get("/healthz"), False


RESPONSES = {
    "full page, anonymous": (full_page_anonymous, "html"),
    "full page, signed in": (full_page_signed_in, "html"),
    "htmx fragment": (htmx_fragment, "html"),
    "400 csrf": (csrf_400, "html"),
    "401 htmx": (unauthorized_401_htmx, "html"),
    "403": (forbidden_403, "html"),
    "404 anonymous": (not_found_404, "html"),
    "404 signed in": (not_found_404_signed_in, "html"),
    "429": (too_many_429, "html"),
    "500": (server_error_500, "html"),
    "static file": (static_file, "file"),
    "healthz json": (health_json, "file"),
}


@pytest.fixture
def ctx(app, client, people, boom_app, monkeypatch):
    """What the response makers above need."""
    return SimpleNamespace(
        app=app, client=client, people=people, boom_app=boom_app, monkeypatch=monkeypatch
    )


@pytest.mark.parametrize("htmx", [False, True], ids=["plain", "htmx"])
@pytest.mark.parametrize("kind", list(RESPONSES))
def test_every_kind_of_response_carries_the_security_headers(ctx, kind, htmx):
    make, content = RESPONSES[kind]
    response, is_signed_in = make(ctx, htmx)
    what = f"{kind} ({'htmx' if htmx else 'plain'}): {response.status_code}"
    check_security_headers(response, what)
    if content == "html":
        check_html_headers(response, what, signed_in=is_signed_in)


EXPECTED_STATUS = {
    "400 csrf": 400,
    "403": 403,
    "404 anonymous": 404,
    "404 signed in": 404,
    "429": 429,
    "500": 500,
}


@pytest.mark.parametrize("kind", list(EXPECTED_STATUS))
def test_error_pages_are_full_pages_normally(ctx, kind):
    response, _ = RESPONSES[kind][0](ctx, False)
    html = response.get_data(as_text=True)
    assert response.status_code == EXPECTED_STATUS[kind]
    assert FULL_PAGE.search(html)
    assert 'class="error-box"' in html
    assert f"Error {EXPECTED_STATUS[kind]}" in html
    assert "HX-Retarget" not in response.headers


@pytest.mark.parametrize("kind", [*EXPECTED_STATUS, "401 htmx"])
def test_error_pages_are_fragments_for_htmx(ctx, kind):
    response, _ = RESPONSES[kind][0](ctx, True)
    html = response.get_data(as_text=True)
    assert response.status_code == EXPECTED_STATUS.get(kind, 401)
    assert not FULL_PAGE.search(html)
    assert "<html" not in html and "<body" not in html
    assert 'class="error-box"' in html
    assert response.headers["HX-Retarget"] == "#flash"
    if kind == "401 htmx":
        assert response.headers["HX-Redirect"].endswith("/login")


def test_signed_out_pages_may_be_cached_but_signed_in_pages_are_not(client, people, app):
    assert "no-store" not in client.get("/login").headers.get("Cache-Control", "")
    owner = signed_in(app, people["owner"])
    for path in ("/", "/account", f"/brands/{people['owner'].brand_id}/team"):
        assert "no-store" in owner.get(path).headers.get("Cache-Control", ""), path


# CX-10: the htmx configuration and pages a strict CSP can serve

HTMX_CONFIG = {
    "allowEval": False,
    "allowScriptTags": False,
    "selfRequestsOnly": True,
    "historyCacheSize": 0,
    "includeIndicatorStyles": False,
}
PAGE_SAMPLES = {**SAMPLES, ("static", "filename"): lambda w: {"own": "css/app.css"}}


@pytest.fixture
def world(app, tmp_path, monkeypatch):
    """Two brands, one user per role, tokens and a dev-mail message (see test_access_control)."""
    maildir = tmp_path / "mail"
    monkeypatch.setitem(app.config, "DEV_MAILDIR", str(maildir))
    return build_world(app, maildir)


def test_htmx_config_meta_tag_is_locked_down(client):
    audit = PageAudit(client.get("/login").get_data(as_text=True))
    config = json.loads(audit.meta["htmx-config"])
    for key, value in HTMX_CONFIG.items():
        assert config.get(key) == value, key


def test_every_rendered_page_has_no_inline_script_or_style_and_keeps_htmx_locked(app, world):
    failures = []
    pages = 0
    for role in ("anon", "brand_owner", "brand_viewer", "creator", "mediator", "admin"):
        client = client_as(app, world, role)
        with app.test_request_context():
            urls = [
                url_for(rule.endpoint, **values)
                for rule in app.url_map.iter_rules()
                if "GET" in rule.methods and rule.endpoint != "static"
                for _, values in url_variants(rule, world, PAGE_SAMPLES)
            ]
        urls += ["/no-such-page", "/reset/not-a-token", "/invitations/not-a-token"]
        for url in urls:
            for headers in ({}, HX):
                response = client.get(url, headers=headers)
                if response.mimetype != "text/html" or 300 <= response.status_code < 400:
                    continue
                pages += 1
                what = f"GET {url} as {role}{' via htmx' if headers else ''}"
                html = response.get_data(as_text=True)
                audit = PageAudit(html)
                failures += [f"{what}: {problem}" for problem in audit.problems]
                if not FULL_PAGE.search(html):
                    continue
                config = json.loads(audit.meta.get("htmx-config") or "{}")
                wrong = {k: config.get(k) for k, v in HTMX_CONFIG.items() if config.get(k) != v}
                if wrong:
                    failures.append(f"{what}: htmx-config {wrong}")
                if role != "anon" and (audit.body or {}).get("hx-history") != "false":
                    failures.append(f'{what}: signed-in page without hx-history="false"')
    assert pages > 50
    assert not failures, "\n".join(failures)


def test_security_headers_on_every_page(app, world):
    client = client_as(app, world, "admin")
    with app.test_request_context():
        urls = [
            url_for(rule.endpoint, **values)
            for rule in app.url_map.iter_rules()
            if "GET" in rule.methods
            for _, values in url_variants(rule, world, PAGE_SAMPLES)
        ]
    for url in urls:
        response = client.get(url)
        check_security_headers(response, url)
        if response.mimetype == "text/html":
            check_html_headers(response, url, signed_in=True)


# CX-14: errors in production show nothing of their cause


@pytest.fixture
def production_app(app, test_settings, monkeypatch):
    """The app built with production settings, with failing routes added."""
    monkeypatch.setenv("SECRET_KEY", "production-like-secret-" + "x" * 24)
    monkeypatch.setenv("TRUSTED_HOSTS", "localhost")
    prod = create_app("production", dict(test_settings))
    assert prod.config["DEBUG"] is False and prod.config["TESTING"] is False
    add_failing_routes(prod)
    yield prod
    with prod.app_context():
        db.session.remove()
        db.engine.dispose()


LEAKS = (
    "Traceback",
    "kaboom",
    "RuntimeError",
    "password_hash",
    "SELECT",
    "sqlalchemy",
    "OperationalError",
    "ProgrammingError",
    'File "',
    ".py",
)


@pytest.mark.parametrize("htmx", [False, True], ids=["page", "htmx"])
@pytest.mark.parametrize("path", ["/boom", "/boom-sql"])
def test_production_errors_show_the_generic_page_only(production_app, path, htmx, caplog):
    client = production_app.test_client()
    with caplog.at_level(logging.ERROR, logger="portal.errors"):
        response = client.get(path, base_url="https://localhost", headers=HX if htmx else {})
    html = response.get_data(as_text=True)
    assert response.status_code == 500
    assert "Something went wrong" in html
    leaked = [word for word in LEAKS if word in html]
    assert not leaked, leaked
    check_security_headers(response, path)
    assert any("unhandled error" in record.getMessage() for record in caplog.records)


# CX-13: the Host header


@pytest.mark.parametrize(
    "method, path", [("GET", "/"), ("GET", "/login"), ("POST", "/forgot-password")]
)
def test_an_untrusted_host_gets_400(app, client, make_user, method, path):
    user = make_user()
    token = page_token(client)
    before = db_state(app)
    response = client.open(
        path,
        method=method,
        headers={"Host": "evil.example"},
        data={"csrf_token": token, "email": user.email} if method == "POST" else None,
    )
    assert response.status_code == 400
    assert "evil.example" not in response.get_data(as_text=True)
    check_security_headers(response, path)
    assert changed_tables(before, db_state(app)) == []


def test_an_untrusted_host_gets_400_in_production(production_app):
    response = production_app.test_client().get(
        "/", base_url="https://localhost", headers={"Host": "evil.example"}
    )
    assert response.status_code == 400


EMAIL_LINKS = re.compile(r"https?://[^\s\"'<>]+")


def mail_links(app, kind):
    """Every link in the text and HTML bodies of the queued emails of a kind."""
    with app.app_context():
        mails = db.session.scalars(select(OutboundEmail).where(OutboundEmail.kind == kind)).all()
        assert mails, f"no {kind} email queued"
        return [link for m in mails for link in EMAIL_LINKS.findall(m.text_body + m.html_body)]


def check_links_use_public_url(links):
    assert links
    for link in links:
        assert link.startswith("https://duet.example/"), link
        assert "evil" not in link and "localhost" not in link, link


@pytest.fixture
def public_url(app, monkeypatch):
    """PUBLIC_URL differs from every host the requests use."""
    monkeypatch.setitem(app.config, "PUBLIC_URL", "https://duet.example")
    return "https://duet.example"


# The request's own Host is localhost (a trusted host, where the session cookie lives);
# proxies' headers name another host. Links must follow PUBLIC_URL, not any of them.
HOSTILE_HOST = {
    "X-Forwarded-Host": "evil.example",
    "X-Forwarded-Proto": "http",
    "Forwarded": "host=evil.example;proto=http",
}


def test_reset_email_links_use_public_url_not_the_host_header(app, client, make_user, public_url):
    user = make_user()
    response = client.post(
        "/forgot-password",
        data={"csrf_token": page_token(client), "email": user.email},
        headers=HOSTILE_HOST,
    )
    assert response.status_code == 200
    links = mail_links(app, "password_reset")
    check_links_use_public_url(links)
    assert any(link.startswith("https://duet.example/reset/") for link in links)


def test_invitation_and_mediator_emails_link_to_public_url(app, make_user, public_url):
    owner, admin = make_user(), make_user(kind="admin")
    owner_client, admin_client = signed_in(app, owner), signed_in(app, admin)
    invite = owner_client.post(
        f"/brands/{owner.brand_id}/team",
        data={"csrf_token": page_token(owner_client), "email": "new@example.com", "role": "viewer"},
        headers=HOSTILE_HOST,
    )
    mediator = admin_client.post(
        "/admin/mediators/new",
        data={"csrf_token": page_token(admin_client), "name": "Mia", "email": "mia@example.com"},
        headers=HOSTILE_HOST,
    )
    assert (invite.status_code, mediator.status_code) == (302, 302)
    check_links_use_public_url(mail_links(app, "brand_invitation"))
    check_links_use_public_url(mail_links(app, "mediator_welcome"))


def test_delivered_reset_email_links_to_public_url(
    app, client, make_user, public_url, smtp_server, run_worker
):
    user = make_user()
    client.post(
        "/forgot-password",
        data={"csrf_token": page_token(client), "email": user.email},
        headers=HOSTILE_HOST,
    )
    run_worker("mail", extra_env={"MAIL_PORT": smtp_server.port})
    [message] = smtp_server.to(user.email)
    check_links_use_public_url(EMAIL_LINKS.findall(body_text(message)))


# CX-12: header injection through names and subjects

INJECTION = "\r\nBcc: a@evil.example"


def headers_of(raw):
    """Lower-cased names of the header lines of a raw message (folded lines joined)."""
    head = re.split(rb"\r?\n\r?\n", raw, maxsplit=1)[0].decode()
    return [line.split(":", 1)[0].lower() for line in re.split(r"\r?\n(?![ \t])", head)]


def check_single_headers(message):
    """One To, one Subject, no Bcc: in the raw bytes and as a mail client parses them."""
    raw = message.as_bytes()
    names = headers_of(raw)
    assert "bcc" not in names
    assert names.count("to") == 1 and names.count("subject") == 1
    parsed = message_from_bytes(raw, policy=policy.default)
    assert parsed["Bcc"] is None
    assert [a.addr_spec for a in parsed["To"].addresses] == ["eve@example.com"]
    assert "\n" not in str(parsed["Subject"]) and "\r" not in str(parsed["Subject"])


@pytest.mark.parametrize("where", ["name", "subject", "both"])
def test_crlf_in_a_name_or_subject_makes_no_extra_header(app_ctx, where):
    email = OutboundEmail(
        kind="test",
        to_address="eve@example.com",
        to_name="Eve" + (INJECTION if where in ("name", "both") else ""),
        subject="Hello" + (INJECTION if where in ("subject", "both") else ""),
        text_body="body",
        html_body="<p>body</p>",
    )
    check_single_headers(build_message(email, "Duet <no-reply@duet.localhost>"))


def test_crlf_in_the_sender_name_makes_no_extra_header(app_ctx):
    email = OutboundEmail(
        kind="test",
        to_address="eve@example.com",
        to_name="Eve",
        subject="Hello",
        text_body="body",
        html_body="",
    )
    message = build_message(email, "Duet\r\nBcc: a@evil.example <no-reply@duet.localhost>")
    assert "bcc" not in headers_of(message.as_bytes())


def test_crlf_in_an_address_never_reaches_the_headers(app_ctx):
    email = OutboundEmail(
        kind="test",
        to_address="eve@example.com" + INJECTION,
        to_name="Eve",
        subject="Hello",
        text_body="body",
        html_body="",
    )
    try:
        message = build_message(email, "Duet <no-reply@duet.localhost>")
    except ValueError:
        return  # refused outright
    assert "bcc" not in headers_of(message.as_bytes())


def test_queued_email_stores_one_line_names_and_subjects_and_sends_them_safely(
    app, make_user, smtp_server
):
    user = make_user()
    with app.app_context():
        account = db.session.get(User, user.id)
        queued = queue_email(
            "test",
            "eve@example.com",
            "Eve" + INJECTION,
            "Reset" + INJECTION,
            "password_reset",
            user=account,
            link="https://localhost/reset/x",
            hours=1,
        )
        db.session.commit()
        email = db.session.get(OutboundEmail, queued.id)
        assert (
            "\r" not in email.to_name + email.subject and "\n" not in email.to_name + email.subject
        )
        check_single_headers(build_message(email, app.config["MAIL_SENDER"]))
        assert deliver_email(email)
        db.session.commit()
    [message] = smtp_server.messages()
    assert message["Bcc"] is None
    assert [a.addr_spec for a in message["To"].addresses] == ["eve@example.com"]


NAME_ERROR = "Use letters, numbers and punctuation only, on one line."
SIGNUP = {
    "account_type": "brand",
    "name": "Nora",
    "email": "nora@example.com",
    "password": "a long enough passphrase",
    "brand_name": "Nora Goods",
    "display_name": "",
    "timezone": "UTC",
}

# form -> (role posting, path, fields, the field carrying the injection)
LINE_BREAK_FORMS = {
    "signup name": ("anon", lambda w: "/signup", SIGNUP, "name"),
    "signup brand name": ("anon", lambda w: "/signup", SIGNUP, "brand_name"),
    "signup display name": (
        "anon",
        lambda w: "/signup",
        {**SIGNUP, "account_type": "creator"},
        "display_name",
    ),
    "settings name": (
        "brand_owner",
        lambda w: "/account",
        {"name": "Olive", "timezone": "UTC"},
        "name",
    ),
    "mediator name": (
        "admin",
        lambda w: "/admin/mediators/new",
        {"name": "Mia", "email": "mia@example.com"},
        "name",
    ),
    "invitation join name": (
        "anon",
        lambda w: f"/invitations/{w.invitation_a_token}",
        {"name": "Ina", "password": "a long enough passphrase", "timezone": "UTC"},
        "name",
    ),
    "creator display name": (
        "creator",
        lambda w: "/creator/profile",
        {"display_name": "Cleo", "currency": "USD"},
        "display_name",
    ),
    "creator handle": (
        "creator",
        lambda w: "/creator/profile",
        {"display_name": "Cleo", "currency": "USD", "handle_instagram": "cleo"},
        "handle_instagram",
    ),
}


@pytest.mark.parametrize("form", list(LINE_BREAK_FORMS))
def test_forms_refuse_names_with_line_breaks(app, world, form):
    role, path, fields, field = LINE_BREAK_FORMS[form]
    client = client_as(app, world, role)
    data = {**fields, field: fields[field] + INJECTION, "csrf_token": page_token(client)}
    before = db_state(app)
    response = client.post(path(world), data=data)
    assert response.status_code == 422
    assert NAME_ERROR in response.get_data(as_text=True)
    assert changed_tables(before, db_state(app)) == []


def test_invite_refuses_an_email_with_line_breaks(app, world):
    client = client_as(app, world, "brand_owner")
    before = db_state(app)
    response = client.post(
        f"/brands/{world.brand_a}/team",
        data={
            "csrf_token": page_token(client),
            "email": "new@example.com" + INJECTION,
            "role": "viewer",
        },
    )
    assert response.status_code == 422
    assert "Enter an email address" in response.get_data(as_text=True)
    assert changed_tables(before, db_state(app)) == []
    with app.app_context():
        assert (
            db.session.scalar(select(BrandInvitation).where(BrandInvitation.email.like("%evil%")))
            is None
        )
