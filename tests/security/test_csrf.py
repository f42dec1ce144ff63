"""CX-1..CX-4 and CX-11: CSRF on every write, safe GETs, fetch metadata, SQL injection.

The walks iterate `app.url_map`; a write route without an entry in `CSRF_CASES` fails
`test_every_write_route_refuses_a_request_without_a_valid_csrf_token`, so new routes are covered.
"""

import ast
import io
import re
from dataclasses import dataclass
from pathlib import Path

import pytest
from flask import url_for

from portal.notifications.models import Kind
from tests.campaigns.samples import campaign_form
from tests.contracts.samples import form_fields, sample_terms
from tests.factories import PASSWORD
from tests.security.test_access_control import (
    HX,
    SAMPLES,
    build_world,
    changed_tables,
    client_as,
    db_state,
    page_token,
    url_variants,
)

ROOT = Path(__file__).resolve().parents[2]
UNSAFE = ("POST", "PUT", "PATCH", "DELETE")
CSRF_MESSAGE = "Your session expired or the form was stale"


@dataclass(frozen=True)
class Case:
    """Who sends a write, where, and a body that succeeds when the token is valid."""

    role: str
    path: object  # world -> path
    data: object  # world -> form fields


def deliverable_path(w, key, action):
    """The path of an action on one of workroom A's seeded deliverables."""
    return f"/workrooms/{w.workroom_a}/deliverables/{w.deliverables_a[key]}/{action}"


def results_csv(w):
    """A results file for workroom A's live deliverable, as a form upload."""
    data = f"deliverable_id,measured_on,impressions\n{w.results_a['live']},2024-02-01,900\n"
    return (io.BytesIO(data.encode()), "results.csv")


# Writes that carry their own credential instead of a session's CSRF token.
CSRF_EXEMPT = {
    "mail_lists.unsubscribe": "the signed link; RFC 8058 one-click posts carry no cookies",
    "mail_lists.mail_events": "the provider's HMAC signature (tests/notifications, E-7)",
}

# endpoint -> a valid write; with a good token each one changes the database.
CSRF_CASES = {
    "accounts.signup": Case(
        "anon",
        lambda w: "/signup",
        lambda w: {
            "account_type": "brand",
            "name": "Sam Signup",
            "email": "sam@example.com",
            "password": "a long enough passphrase",
            "brand_name": "Sam Goods",
            "timezone": "UTC",
        },
    ),
    "accounts.login": Case(
        "anon",
        lambda w: "/login",
        lambda w: {"email": w.users["brand_owner"].email, "password": PASSWORD},
    ),
    "accounts.logout": Case("brand_owner", lambda w: "/logout", lambda w: {}),
    "accounts.forgot_password": Case(
        "anon", lambda w: "/forgot-password", lambda w: {"email": w.users["brand_owner"].email}
    ),
    "accounts.reset_password": Case(
        "anon",
        lambda w: f"/reset/{w.reset_token}",
        lambda w: {"password": "a brand new passphrase"},
    ),
    "accounts.settings": Case(
        "brand_owner", lambda w: "/account", lambda w: {"name": "New Name", "timezone": "UTC"}
    ),
    "accounts.change_password": Case(
        "brand_owner",
        lambda w: "/account/password",
        lambda w: {"current_password": PASSWORD, "new_password": "a brand new passphrase"},
    ),
    "accounts.team": Case(
        "brand_owner",
        lambda w: f"/brands/{w.brand_a}/team",
        lambda w: {"email": "teammate@example.com", "role": "manager"},
    ),
    "accounts.revoke_invitation": Case(
        "brand_owner",
        lambda w: f"/brands/{w.brand_a}/invitations/{w.invitation_a}/revoke",
        lambda w: {},
    ),
    "accounts.invitation": Case(
        "anon",
        lambda w: f"/invitations/{w.invitation_a_token}",
        lambda w: {
            "name": "Ina Invitee",
            "password": "a long enough passphrase",
            "timezone": "UTC",
        },
    ),
    "accounts.creator_profile": Case(
        "creator",
        lambda w: "/creator/profile",
        lambda w: {"display_name": "Cleo Creates", "currency": "EUR"},
    ),
    "workrooms.post": Case(
        "creator",
        lambda w: f"/workrooms/{w.workroom_a}/messages",
        lambda w: {"body": "A message that needs a token"},
    ),
    "workrooms.edit": Case(
        "creator",
        lambda w: f"/workrooms/{w.workroom_a}/messages/{w.message_a}/edit",
        lambda w: {"body": "Edited text"},
    ),
    "workrooms.delete": Case(
        "creator",
        lambda w: f"/workrooms/{w.workroom_a}/messages/{w.message_a}/delete",
        lambda w: {},
    ),
    "workrooms.mark_read": Case(
        "brand_owner", lambda w: f"/workrooms/{w.workroom_a}/read", lambda w: {"seq": "1"}
    ),
    "contracts.new": Case(
        "brand_owner",
        lambda w: f"/workrooms/{w.workroom_a}/contracts/new",
        lambda w: form_fields(campaign_id=w.campaign_a),
    ),
    "contracts.edit": Case(
        "brand_owner",
        lambda w: f"/contracts/{w.contract_a}/edit",
        lambda w: form_fields(sample_terms(title="Spring Trails, revised")),
    ),
    "contracts.accept": Case(
        "creator",
        lambda w: f"/contracts/{w.contract_a}/accept",
        lambda w: {"sha256": w.contract_a_sha},
    ),
    "contracts.decline": Case(
        "creator",
        lambda w: f"/contracts/{w.contract_a}/decline",
        lambda w: {"sha256": w.contract_a_sha, "comment": "One more story, please."},
    ),
    "contracts.decide_renewal": Case(
        "brand_owner",
        lambda w: f"/contracts/{w.renewal_a}/renewal/decide",
        lambda w: {"decision": "lapse", "comment": "Budget moves to autumn."},
    ),
    "contracts.opt_out": Case(
        "creator", lambda w: f"/contracts/{w.renewal_a}/renewal/opt-out", lambda w: {}
    ),
    "deliverables.submit": Case(
        "creator",
        lambda w: deliverable_path(w, "pending", "revisions"),
        lambda w: {"text": "Draft caption #ad", "links": "https://example.com/draft"},
    ),
    "deliverables.review": Case(
        "brand_owner",
        lambda w: deliverable_path(w, "deliverable", "review"),
        lambda w: {"revision": "1", "decision": "approve"},
    ),
    "deliverables.request_extension": Case(
        "brand_owner",
        lambda w: deliverable_path(w, "pending", "extensions"),
        lambda w: {"ext-new_date": "2031-01-10", "ext-new_time": "12:00", "ext-reason": "Moved"},
    ),
    "deliverables.answer_extension": Case(
        "brand_owner",
        lambda w: deliverable_path(
            w, "deliverable", f"extensions/{w.deliverables_a['extension']}/answer"
        ),
        lambda w: {"answer": "accept"},
    ),
    "deliverables.withdraw_extension": Case(
        "creator",
        lambda w: deliverable_path(
            w, "deliverable", f"extensions/{w.deliverables_a['extension']}/withdraw"
        ),
        lambda w: {},
    ),
    "deliverables.request_round": Case(
        "brand_owner",
        lambda w: deliverable_path(w, "spent", "rounds"),
        lambda w: {"round-reason": "The product changed."},
    ),
    "deliverables.answer_round": Case(
        "creator",
        lambda w: deliverable_path(w, "deliverable", f"rounds/{w.deliverables_a['round']}/answer"),
        lambda w: {"answer": "accept"},
    ),
    "deliverables.waive": Case(
        "brand_owner",
        lambda w: deliverable_path(w, "pending", "waive"),
        lambda w: {"waive-reason": "Season over."},
    ),
    "deliverables.cancel": Case(
        "brand_owner",
        lambda w: deliverable_path(w, "pending", "cancel"),
        lambda w: {"cancel-reason": "Dropped."},
    ),
    "deliverables.go_live": Case(
        "creator",
        lambda w: deliverable_path(w, "approved", "live"),
        lambda w: {"url": "https://example.com/p/1", "live_on": "2030-03-05"},
    ),
    "escrow.new": Case(
        "brand_owner",
        lambda w: (
            f"/workrooms/{w.workroom_a}/contracts/{w.milestones_a['contract']}/milestones/new"
        ),
        lambda w: {"title": "Launch bonus", "amount": "250.00"},
    ),
    "escrow.fund": Case(
        "brand_owner",
        lambda w: f"/workrooms/{w.workroom_a}/milestones/{w.milestones_a['milestone']}/fund",
        lambda w: {},
    ),
    "escrow.fund_contract": Case(
        "brand_owner",
        lambda w: f"/workrooms/{w.workroom_a}/contracts/{w.milestones_a['contract']}/fund",
        lambda w: {},
    ),
    "escrow.sign_off": Case(
        "brand_owner",
        lambda w: f"/workrooms/{w.workroom_a}/milestones/{w.milestones_a['milestone']}/sign-off",
        lambda w: {},
    ),
    "mediation.new": Case(
        "creator",
        lambda w: f"/workrooms/{w.workroom_a}/tickets/new",
        lambda w: {"category": "other", "subject": "Late files", "what_happened": "They are."},
    ),
    "mediation.post": Case(
        "creator", lambda w: f"/tickets/{w.tickets_a['ticket']}/posts", lambda w: {"body": "Hi"}
    ),
    "mediation.answer": Case(
        "brand_owner",
        lambda w: f"/tickets/{w.tickets_a['ticket']}/proposals/1/answer",
        lambda w: {"decision": "accept"},
    ),
    "mediation.withdraw": Case(
        "creator", lambda w: f"/tickets/{w.tickets_a['ticket']}/withdraw", lambda w: {}
    ),
    "mediation.claim": Case(
        "mediator", lambda w: f"/tickets/{w.tickets_a['waiting']}/claim", lambda w: {}
    ),
    "mediation.assign": Case(
        "mediator",
        lambda w: f"/tickets/{w.tickets_a['ticket']}/assign",
        lambda w: {"mediator_id": str(w.tickets_b["mediator"])},
    ),
    "mediation.propose": Case(
        "mediator",
        lambda w: f"/tickets/{w.tickets_a['ticket']}/proposals",
        lambda w: {f"deliverable-{w.tickets_a['deliverable']}-action": "waive", "mode": "propose"},
    ),
    "mediation.build_evidence": Case(
        "mediator", lambda w: f"/tickets/{w.tickets_a['ticket']}/evidence", lambda w: {}
    ),
    "notifications.mark_read": Case("brand_owner", lambda w: "/notifications/read", lambda w: {}),
    "notifications.open_one": Case(
        "brand_owner", lambda w: f"/notifications/{w.notification_a}/open", lambda w: {}
    ),
    "notifications.preferences": Case(
        "brand_owner",
        lambda w: "/account/notifications",
        lambda w: {
            **{f"channel_{kind.value}": "email" for kind in Kind},
            "digest": "weekly",
            "digest_hour": "7",
            "digest_weekday": "0",
            "quiet_start": "",
            "quiet_end": "",
        },
    ),
    "notifications.mute": Case(
        "brand_owner", lambda w: f"/workrooms/{w.workroom_a}/mute", lambda w: {"muted": "1"}
    ),
    "campaigns.new": Case(
        "brand_owner", lambda w: f"/brands/{w.brand_a}/campaigns/new", lambda w: campaign_form()
    ),
    "campaigns.edit": Case(
        "brand_owner",
        lambda w: f"/campaigns/{w.campaign_a}/edit",
        lambda w: campaign_form(name="Spring Trails, renamed"),
    ),
    "campaigns.change_status": Case(
        "brand_owner",
        lambda w: f"/campaigns/{w.campaign_a}/status",
        lambda w: {"status": "completed"},
    ),
    "campaigns.invite": Case(
        "brand_owner",
        lambda w: f"/campaigns/{w.campaign_a}/invitations",
        lambda w: {"creator_id": str(w.target_id), "message": "Join us"},
    ),
    "campaigns.invite_by_email": Case(
        "brand_owner",
        lambda w: f"/campaigns/{w.campaign_a}/invitations/email",
        lambda w: {"email": "fresh.creator@example.com"},
    ),
    "campaigns.withdraw": Case(
        "brand_owner",
        lambda w: f"/campaigns/{w.campaign_a}/invitations/{w.campaign_invitation_a}/withdraw",
        lambda w: {},
    ),
    "campaigns.accept": Case(
        "creator",
        lambda w: f"/invitations/campaigns/{w.campaign_invitation_a}/accept",
        lambda w: {},
    ),
    "campaigns.decline": Case(
        "creator",
        lambda w: f"/invitations/campaigns/{w.campaign_invitation_a}/decline",
        lambda w: {},
    ),
    "campaigns.join": Case(
        "anon",
        lambda w: f"/campaigns/invitations/{w.campaign_link_a}",
        lambda w: {
            "name": "Nell Newcomer",
            "password": "a long enough passphrase",
            "timezone": "UTC",
        },
    ),
    "admin.new_mediator": Case(
        "admin",
        lambda w: "/admin/mediators/new",
        lambda w: {"name": "Mia Mediator", "email": "mia@example.com"},
    ),
    "admin.disable_user": Case(
        "admin", lambda w: f"/admin/users/{w.target_id}/disable", lambda w: {}
    ),
    "admin.enable_user": Case(
        "admin", lambda w: f"/admin/users/{w.disabled_id}/enable", lambda w: {}
    ),
    "scheduling.feed_address": Case(
        "creator", lambda w: "/calendar/feed", lambda w: {"regenerate": "x"}
    ),
    "closeouts.new": Case(
        "creator",
        lambda w: f"/contracts/{w.milestones_a['contract']}/closeout",
        lambda w: {"reason": "Moving on."},
    ),
    "closeouts.accept": Case(
        "creator", lambda w: f"/closeouts/{w.closeouts_a['closeout']}/accept", lambda w: {}
    ),
    "closeouts.escalate": Case(
        "creator",
        lambda w: f"/closeouts/{w.closeouts_a['closeout']}/escalate",
        lambda w: {"reason": "The kill fee is too low."},
    ),
    "closeouts.withdraw": Case(
        "brand_owner", lambda w: f"/closeouts/{w.closeouts_a['closeout']}/withdraw", lambda w: {}
    ),
    "reports.results": Case(
        "creator",
        lambda w: deliverable_path(w, "approved", "results"),
        lambda w: {"measured_on": "2024-02-01", "impressions": "1200", "likes": "40"},
    ),
    "reports.import_contract": Case(
        "brand_owner",
        lambda w: f"/contracts/{w.results_a['contract']}/results/import",
        lambda w: {"file": results_csv(w)},
    ),
    "reports.import_campaign": Case(
        "brand_owner",
        lambda w: f"/campaigns/{w.results_a['campaign']}/results/import",
        lambda w: {"file": results_csv(w)},
    ),
    "exits.new": Case(
        "creator",
        lambda w: f"/contracts/{w.milestones_a['contract']}/exit",
        lambda w: {"reason": "creator_withdraws", "comment": "Moving on."},
    ),
    "exits.settle": Case("creator", lambda w: f"/exits/{w.exit_a}/settle", lambda w: {}),
    "exits.invite": Case(
        "brand_owner",
        lambda w: f"/exits/{w.exit_a}/invite",
        lambda w: {"creator_id": str(w.target_id)},
    ),
    "exits.analysis": Case(
        "brand_owner",
        lambda w: f"/exits/{w.exit_a}/analysis",
        lambda w: {"reason": "conflict", "factors": "communication", "prevention": "Talk."},
    ),
}


@pytest.fixture
def world(app, tmp_path, monkeypatch):
    """Two brands, one user per role, tokens and a dev-mail message (see test_access_control)."""
    maildir = tmp_path / "mail"
    monkeypatch.setitem(app.config, "DEV_MAILDIR", str(maildir))
    return build_world(app, maildir)


def write_rules(app):
    """(rule, method) for every route and method that changes state."""
    return [
        (rule, method)
        for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule)
        for method in UNSAFE
        if method in rule.methods
    ]


class Clients:
    """One signed-in client per role, created on first use."""

    def __init__(self, app, world):
        self.app, self.world, self.by_role = app, world, {}

    def __getitem__(self, role):
        if role not in self.by_role:
            self.by_role[role] = client_as(self.app, self.world, role)
        return self.by_role[role]


TOKEN_CASES = {
    "no token": lambda foreign: ({}, {}),
    "another session's token in the form": lambda foreign: ({"csrf_token": foreign}, {}),
    "another session's token in X-CSRFToken": lambda foreign: ({}, {"X-CSRFToken": foreign}),
    "no token, htmx": lambda foreign: ({}, dict(HX)),
    "another session's token, htmx": lambda foreign: ({}, {**HX, "X-CSRFToken": foreign}),
    "garbage token": lambda foreign: ({"csrf_token": "not-a-token"}, {}),
}


# CX-1


@pytest.mark.parametrize("token_case", list(TOKEN_CASES))
def test_every_write_route_refuses_a_request_without_a_valid_csrf_token(app, world, token_case):
    clients = Clients(app, world)
    # The attacker's own session: its token is well signed but belongs to someone else.
    attacker = page_token(client_as(app, world, "mediator"))
    data_extra, headers = TOKEN_CASES[token_case](attacker)
    routes = write_rules(app)
    assert routes, "no write routes found"
    failures = []
    for rule, method in routes:
        if rule.endpoint in CSRF_EXEMPT:
            continue
        case = CSRF_CASES.get(rule.endpoint)
        if case is None:
            failures.append(
                f"{method} {rule.rule}: add {rule.endpoint!r} to CSRF_CASES "
                "(who sends it and a body that succeeds with a valid token)"
            )
            continue
        client = clients[case.role]
        page_token(client)  # the victim's session has a token of its own
        before = db_state(app)
        response = client.open(
            case.path(world),
            method=method,
            data={**case.data(world), **data_extra},
            headers=headers,
        )
        what = f"{method} {rule.rule} as {case.role} with {token_case}"
        if response.status_code != 400:
            failures.append(f"{what}: expected 400, got {response.status_code}")
        elif CSRF_MESSAGE not in response.get_data(as_text=True):
            failures.append(f"{what}: 400 without the CSRF message")
        changes = changed_tables(before, db_state(app))
        if changes:
            failures.append(f"{what}: changed {changes}")
    for role, client in clients.by_role.items():
        if role != "anon" and client.get("/account").status_code != 200:
            failures.append(f"{role} was signed out by a refused request")
    stale = sorted((CSRF_CASES.keys() | CSRF_EXEMPT.keys()) - {rule.endpoint for rule, _ in routes})
    if stale:
        failures.append(f"CSRF_CASES names endpoints that take no writes: {stale}")
    assert not failures, "\n".join(failures)


# CX-2


@pytest.mark.parametrize("htmx", [False, True], ids=["header", "header-htmx"])
@pytest.mark.parametrize("endpoint", sorted(CSRF_CASES))
def test_a_valid_token_in_the_x_csrftoken_header_is_accepted(app, world, endpoint, htmx):
    case = CSRF_CASES[endpoint]
    client = client_as(app, world, case.role)
    headers = {"X-CSRFToken": page_token(client), "Sec-Fetch-Site": "same-origin"}
    if htmx:
        headers.update(HX)
    before = db_state(app)
    response = client.post(case.path(world), data=case.data(world), headers=headers)
    assert response.status_code != 400, response.get_data(as_text=True)
    assert 200 <= response.status_code < 400, response.status_code
    assert changed_tables(before, db_state(app)), "the write did not happen"


# CX-4


@pytest.mark.parametrize("endpoint", sorted(CSRF_CASES))
def test_a_cross_site_write_is_refused_even_with_a_valid_token(app, world, endpoint):
    case = CSRF_CASES[endpoint]
    client = client_as(app, world, case.role)
    token = page_token(client)
    before = db_state(app)
    response = client.post(
        case.path(world),
        data={**case.data(world), "csrf_token": token},
        headers={"Sec-Fetch-Site": "cross-site"},
    )
    assert response.status_code == 403
    assert changed_tables(before, db_state(app)) == []


@pytest.mark.parametrize("site", ["same-origin", "same-site", "none"])
def test_writes_from_our_own_pages_pass_the_fetch_metadata_check(app, world, site):
    client = client_as(app, world, "brand_owner")
    response = client.post(
        "/account",
        data={"csrf_token": page_token(client), "name": "Still Me", "timezone": "UTC"},
        headers={"Sec-Fetch-Site": site},
    )
    assert response.status_code == 302


def test_links_from_other_sites_still_open_pages(client):
    response = client.get("/login", headers={"Sec-Fetch-Site": "cross-site"})
    assert response.status_code == 200


# CX-3

GET_SAMPLES = {**SAMPLES, ("static", "filename"): lambda w: {"own": "css/app.css"}}


def test_get_requests_never_write_to_the_database(app, world):
    clients = Clients(app, world)
    failures = []
    walked = 0
    for role in ("anon", "brand_owner", "creator", "admin"):
        client = clients[role]
        for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
            if "GET" not in rule.methods:
                continue
            with app.test_request_context():
                urls = [
                    url_for(rule.endpoint, **values)
                    for _, values in url_variants(rule, world, GET_SAMPLES)
                ]
            for url in urls:
                for headers in ({}, HX):
                    before = db_state(app)
                    response = client.get(url, headers=headers)
                    walked += 1
                    what = f"GET {url} as {role}{' via htmx' if headers else ''}"
                    if response.status_code == 500:
                        failures.append(f"{what}: server error")
                    changes = changed_tables(before, db_state(app))
                    if changes:
                        failures.append(f"{what}: wrote to {changes}")
    assert walked > 40
    assert not failures, "\n".join(failures)


# CX-11

ROW = re.compile(r'<tr id="user-(\d+)">')


@pytest.fixture
def search_world(make_user):
    """An admin and users whose names hold SQL and LIKE metacharacters."""
    return {
        "admin": make_user(kind="admin", name="Ada Admin", email="ada@example.com"),
        "ohara": make_user(kind="creator", name="Orla O'Hara", email="orla@example.com"),
        "percent": make_user(kind="creator", name="100% Real", email="real@example.com"),
        "underscore": make_user(kind="creator", name="snake_case Sam", email="sam@example.com"),
        "plain": make_user(kind="creator", name="Plain Pat", email="pat@example.com"),
    }


REFUSED = "400: a NUL can be in no stored text (PostgreSQL refuses it, SQLite's LIKE stops)"
SEARCHES = {
    "' OR 1=1--": set(),
    "' OR '1'='1": set(),
    "%' --": set(),
    '" OR ""="': set(),
    "%": {"percent"},
    "_": {"underscore"},
    "\x00": REFUSED,
    "a\x00b": REFUSED,
    "\\": set(),
    "o'hara": {"ohara"},
    "%%": set(),
    "pat": {"plain"},
}


@pytest.mark.parametrize("htmx", [False, True], ids=["page", "htmx"])
@pytest.mark.parametrize("q", list(SEARCHES), ids=[repr(q) for q in SEARCHES])
def test_user_search_treats_input_as_text(web, search_world, q, htmx):
    web.login(search_world["admin"].email)
    response = web.client.get("/admin/users", query_string={"q": q}, headers=HX if htmx else {})
    if SEARCHES[q] == REFUSED:
        assert response.status_code == 400
        assert not ROW.findall(response.get_data(as_text=True))
        return
    assert response.status_code == 200
    found = {int(n) for n in ROW.findall(response.get_data(as_text=True))}
    expected = {search_world[name].id for name in SEARCHES[q]}
    assert found == expected


NUL_POSTS = {
    "sign-in email": ("/login", {"email": "owner\x00@example.com", "password": PASSWORD}),
    "sign-in password": ("/login", {"email": "owner@example.com", "password": "pass\x00word"}),
    "reset request": ("/forgot-password", {"email": "owner\x00@example.com"}),
    "sign-up name": (
        "/signup",
        {
            "account_type": "creator",
            "name": "Nul\x00Name",
            "email": "nul@example.com",
            "password": "a long enough passphrase",
            "timezone": "UTC",
        },
    ),
}


@pytest.mark.parametrize("field", list(NUL_POSTS))
def test_a_nul_byte_in_a_form_is_a_400_not_a_server_error(app, web, make_user, field):
    make_user(email="owner@example.com")
    path, data = NUL_POSTS[field]
    token = web.token("/login")
    before = db_state(app)
    response = web.client.post(path, data={**data, "csrf_token": token})
    assert response.status_code == 400
    assert changed_tables(before, db_state(app)) == []


def built_sql_calls(source, filename="<source>"):
    """Lines where SQL text is built from pieces instead of bound parameters."""
    literal_only = {"text", "literal_column", "exec_driver_sql"}
    problems = []
    for node in ast.walk(ast.parse(source, filename)):
        if not isinstance(node, ast.Call) or not node.args:
            continue
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
        sql = node.args[0]
        if name in literal_only:
            if not (isinstance(sql, ast.Constant) and isinstance(sql.value, str)):
                problems.append(f"{filename}:{node.lineno} {name}() of a non-literal")
        elif name in {"execute", "executescript"} and is_built_string(sql):
            problems.append(f"{filename}:{node.lineno} {name}() of a built string")
    return problems


def is_built_string(node):
    """An f-string, %-formatting, concatenation or .format() call."""
    if isinstance(node, ast.JoinedStr):
        return True
    if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Mod, ast.Add)):
        return True
    return (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr in {"format", "join"}
    )


@pytest.mark.parametrize(
    "snippet",
    [
        "text(f\"SELECT * FROM users WHERE name = '{name}'\")",
        'sa.text("SELECT * FROM users WHERE id = %s" % user_id)',
        'text("SELECT * FROM users WHERE id = {}".format(user_id))',
        'text("SELECT * FROM " + table)',
        "text(query)",
        'conn.exec_driver_sql(f"DROP TABLE {name}")',
        'cursor.execute(f"SELECT {column} FROM users")',
        'db.session.execute("DELETE FROM users WHERE id = %d" % user_id)',
    ],
)
def test_the_sql_check_recognises_built_sql(snippet):
    assert built_sql_calls(snippet)


def test_no_source_file_builds_sql_from_strings():
    files = sorted((ROOT / "portal").rglob("*.py")) + sorted((ROOT / "jobs").rglob("*.py"))
    assert len(files) > 10
    problems = []
    for path in files:
        problems += built_sql_calls(path.read_text(), str(path.relative_to(ROOT)))
    assert not problems, "\n".join(problems)
