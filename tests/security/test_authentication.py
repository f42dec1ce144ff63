"""Authentication: throttling, no enumeration, password policy and hashing, reset links,
cookie flags, re-authentication and auth event logs (TEST-PLAN 8.4, AU-1..AU-10)."""

import hashlib
import json
import logging
import math
import re
import subprocess
import sys
import time
from contextlib import contextmanager
from datetime import timedelta
from statistics import median
from urllib.parse import urlsplit

import argon2._password_hasher
import pytest
from flask.testing import FlaskClient
from limits import parse_many
from sqlalchemy import select, text
from werkzeug.datastructures import Headers
from werkzeug.security import generate_password_hash

import portal
from portal.accounts.models import PasswordResetToken, User
from portal.accounts.passwords import hash_password, verify_password
from portal.database import utcnow
from portal.extensions import db
from tests.conftest import ROOT, Browserless, csrf_from, https_client
from tests.factories import PASSWORD, body_text, child_env

WRONG = "not the right password at all"
NEW_PASSWORD = "a fresh and long passphrase"
ASVS_FAILED_LOGINS_PER_HOUR = 100  # ASVS v4 2.2.1


# Helpers ---------------------------------------------------------------------------------------


def browser(app, ip="127.0.0.1"):
    """A fresh browser (own cookie jar) connecting from `ip`."""
    client = https_client(app)
    client.environ_base.update({"REMOTE_ADDR": ip})
    return client


def rotating_ip(n):
    """A different documentation-range address for every attempt."""
    return f"198.51.{100 + n // 250}.{n % 250 + 1}"


def attempt_login(app, email, password, ip):
    """One sign-in through the real form, from a fresh browser at `ip`; the status code."""
    client = browser(app, ip)
    token = csrf_from(client.get("/login").get_data(as_text=True))
    response = client.post(
        "/login", data={"csrf_token": token, "email": email, "password": password}
    )
    return response.status_code


def post_form(app, path, data, ip, token_from=None):
    """POST a form from a fresh browser at `ip`; the response."""
    client = browser(app, ip)
    token = csrf_from(client.get(token_from or path).get_data(as_text=True))
    return client.post(path, data={"csrf_token": token, **data})


def first_limit(limit_string):
    """How many hits the tightest item of a limit string allows before answering 429."""
    return min(item.amount for item in parse_many(limit_string))


def worst_case_per_hour(limit_string):
    """The most hits any 60-minute span can get through (fixed windows may straddle one)."""
    return min(
        item.amount * (math.ceil(3600 / item.get_expiry()) + 1) for item in parse_many(limit_string)
    )


@contextmanager
def extra_app(test_settings, **overrides):
    """Another app instance on the same database and Redis (a second process's worth of state)."""
    other = portal.create_app("testing", {**test_settings, **overrides})
    try:
        yield other
    finally:
        with other.app_context():
            db.session.remove()
            db.engine.dispose()


@pytest.fixture
def hasher_calls(monkeypatch):
    """Counts argon2 verifications (every password check goes through verify_secret)."""
    calls = []
    real = argon2._password_hasher.verify_secret

    def counting(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(argon2._password_hasher, "verify_secret", counting)
    return calls


def stored_hash(app, email):
    """The password hash stored for an email."""
    with app.app_context():
        return db.session.scalar(select(User.password_hash).where(User.email == email))


def password_is(app, email, password):
    """True when the account's stored hash verifies `password`."""
    return verify_password(stored_hash(app, email), password)


# AU-1 per-account throttle ---------------------------------------------------------------------


def test_account_limit_config_stays_under_asvs_100_failures_per_hour(app):
    assert worst_case_per_hour(app.config["LOGIN_ACCOUNT_LIMIT"]) <= ASVS_FAILED_LOGINS_PER_HOUR


def test_worst_case_helper_would_flag_a_limit_above_asvs():
    assert worst_case_per_hour("200 per hour") > ASVS_FAILED_LOGINS_PER_HOUR
    assert worst_case_per_hour("10 per minute") > ASVS_FAILED_LOGINS_PER_HOUR


def test_wrong_passwords_from_rotating_ips_hit_the_account_limit(app, make_user, hasher_calls):
    user = make_user()
    allowed = first_limit(app.config["LOGIN_ACCOUNT_LIMIT"])

    statuses = [attempt_login(app, user.email, WRONG, rotating_ip(n)) for n in range(101)]

    assert statuses[:allowed] == [422] * allowed
    assert statuses[allowed:] == [429] * (101 - allowed)
    processed = len(hasher_calls)  # passwords actually checked
    assert processed == allowed <= ASVS_FAILED_LOGINS_PER_HOUR
    # While the account is throttled even the right password waits (a soft lock).
    assert attempt_login(app, user.email, PASSWORD, rotating_ip(500)) == 429


def test_the_account_limit_answers_with_a_retry_after(app, make_user):
    user = make_user()
    for n in range(first_limit(app.config["LOGIN_ACCOUNT_LIMIT"])):
        attempt_login(app, user.email, WRONG, rotating_ip(n))
    client = browser(app, rotating_ip(300))
    token = csrf_from(client.get("/login").get_data(as_text=True))
    response = client.post(
        "/login", data={"csrf_token": token, "email": user.email, "password": WRONG}
    )
    assert response.status_code == 429
    assert int(response.headers["Retry-After"]) > 0
    assert "Too many attempts" in response.get_data(as_text=True)


def test_successful_logins_do_not_count_against_the_account(app, make_user):
    user = make_user()
    allowed = first_limit(app.config["LOGIN_ACCOUNT_LIMIT"])

    successes = [
        attempt_login(app, user.email, PASSWORD, rotating_ip(n)) for n in range(allowed + 5)
    ]
    failures = [attempt_login(app, user.email, WRONG, rotating_ip(100 + n)) for n in range(allowed)]

    assert successes == [302] * (allowed + 5)
    assert failures == [422] * allowed
    assert attempt_login(app, user.email, WRONG, rotating_ip(200)) == 429


def test_the_account_limit_keys_on_the_normalised_email(app, make_user):
    user = make_user(email="case@example.com")
    allowed = first_limit(app.config["LOGIN_ACCOUNT_LIMIT"])
    spellings = ["case@example.com", "CASE@example.com", " Case@Example.com "]
    statuses = [
        attempt_login(app, spellings[n % 3], WRONG, rotating_ip(n)) for n in range(allowed + 1)
    ]
    assert statuses == [422] * allowed + [429]
    assert user.email == spellings[0]


def test_throttled_account_can_sign_in_once_the_window_passes(test_settings, make_user):
    user = make_user()
    with extra_app(test_settings, LOGIN_ACCOUNT_LIMIT="3 per 3 seconds") as small:
        started = time.monotonic()
        statuses = [attempt_login(small, user.email, WRONG, rotating_ip(n)) for n in range(4)]
        assert statuses == [422, 422, 422, 429]

        deadline = started + 10
        status = 429
        while status == 429 and time.monotonic() < deadline:
            time.sleep(0.5)
            status = attempt_login(small, user.email, PASSWORD, rotating_ip(50))

        assert status == 302  # no permanent lockout
        assert time.monotonic() - started < 10


# AU-2 limits shared by every process through Redis -----------------------------------------------


def test_account_limit_holds_across_two_app_instances(app, test_settings, make_user):
    user = make_user()
    allowed = first_limit(app.config["LOGIN_ACCOUNT_LIMIT"])
    with extra_app(test_settings) as other:
        instances = [app, other]
        statuses = [
            attempt_login(instances[n % 2], user.email, WRONG, rotating_ip(n))
            for n in range(allowed + 2)
        ]
    assert statuses == [422] * allowed + [429, 429]
    keys = app.extensions["redis"].keys(f"*account:{user.email}*")
    assert keys, "the per-account counter must live in Redis"


CHILD_ATTEMPTS = """
import json, os, re, sys
from portal import create_app
from tests.conftest import https_client
app = create_app("testing", json.loads(os.environ["DUET_TEST_SETTINGS"]))
email, password, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
statuses = []
for n in range(count):
    client = https_client(app)
    client.environ_base.update({"REMOTE_ADDR": f"192.0.2.{n + 1}"})
    html = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html).group(1)
    data = {"csrf_token": token, "email": email, "password": password}
    statuses.append(client.post("/login", data=data).status_code)
print("STATUSES " + json.dumps(statuses))
"""


def attempts_in_another_process(test_settings, email, password, count):
    """Sign-in attempts made by a separate Python process; their status codes."""
    env = child_env(test_settings, {"DUET_TEST_SETTINGS": json.dumps(test_settings)})
    result = subprocess.run(
        [sys.executable, "-c", CHILD_ATTEMPTS, email, password, str(count)],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    line = next(x for x in result.stdout.splitlines() if x.startswith("STATUSES "))
    return json.loads(line.removeprefix("STATUSES "))


def test_account_limit_holds_across_two_real_processes(app, test_settings, make_user):
    user = make_user()
    allowed = first_limit(app.config["LOGIN_ACCOUNT_LIMIT"])
    half = allowed // 2

    here = [attempt_login(app, user.email, WRONG, rotating_ip(n)) for n in range(half)]
    there = attempts_in_another_process(test_settings, user.email, WRONG, allowed - half + 1)
    after = attempt_login(app, user.email, WRONG, rotating_ip(99))

    assert here == [422] * half
    assert there == [422] * (allowed - half) + [429]
    assert after == 429


SIGNUP_REFUSED = {
    "account_type": "brand",
    "name": "Sam",
    "email": "not-an-email",
    "password": "long enough passphrase",
    "brand_name": "Sam Co",
    "timezone": "UTC",
}


@pytest.mark.parametrize(
    ("path", "limit_name", "data", "status"),
    [
        ("/forgot-password", "RESET_IP_LIMIT", {"email": "nobody@example.com"}, 200),
        ("/signup", "SIGNUP_IP_LIMIT", SIGNUP_REFUSED, 422),
        ("/login", "LOGIN_IP_LIMIT", None, 422),
    ],
)
def test_per_ip_limit_answers_429_across_two_app_instances(
    app, test_settings, path, limit_name, data, status
):
    allowed = first_limit(app.config[limit_name])
    ip = "203.0.113.77"
    with extra_app(test_settings) as other:
        instances = [app, other]
        statuses = []
        for n in range(allowed + 1):
            # Logins use a new email each time so only the per-IP limit can trigger.
            form = data or {"email": f"nobody{n}@example.com", "password": WRONG}
            statuses.append(post_form(instances[n % 2], path, form, ip).status_code)
        assert statuses == [status] * allowed + [429]
        assert app.extensions["redis"].keys(f"*/{ip}/*"), "the per-IP counter must live in Redis"
        # Another address is not affected.
        form = data or {"email": "someone@example.com", "password": WRONG}
        assert post_form(app, path, form, "203.0.113.78").status_code == status


# AU-3 no enumeration ---------------------------------------------------------------------------


CSRF_VALUES = re.compile(r'(name="csrf_token"[^>]*value="|"X-CSRFToken": ")[^"]+')


def without_csrf(response):
    """The body with the (per-response) CSRF tokens blanked out."""
    html, count = CSRF_VALUES.subn(r"\1CSRF-TOKEN", response.get_data(as_text=True))
    assert count >= 1
    return html


def test_login_failure_looks_the_same_for_unknown_wrong_password_and_disabled(app, make_user):
    email = "target@example.com"

    unknown = post_form(app, "/login", {"email": email, "password": WRONG}, "203.0.113.1")
    make_user(email=email)
    wrong = post_form(app, "/login", {"email": email, "password": WRONG}, "203.0.113.2")
    with app.app_context():
        db.session.scalar(select(User).where(User.email == email)).is_disabled = True
        db.session.commit()
    disabled = post_form(app, "/login", {"email": email, "password": PASSWORD}, "203.0.113.3")

    assert unknown.status_code == wrong.status_code == disabled.status_code == 422
    assert without_csrf(unknown) == without_csrf(wrong) == without_csrf(disabled)
    assert "Email or password is incorrect." in without_csrf(unknown)


def test_forgot_password_answers_the_same_for_unknown_and_known_email(app, make_user):
    email = "target@example.com"

    unknown = post_form(app, "/forgot-password", {"email": email}, "203.0.113.1")
    make_user(email=email)
    known = post_form(app, "/forgot-password", {"email": email}, "203.0.113.2")

    assert unknown.status_code == known.status_code == 200
    assert without_csrf(unknown) == without_csrf(known)
    with app.app_context():  # and the known one really did get a link
        assert db.session.scalar(select(PasswordResetToken.id)) is not None


def test_unknown_email_login_runs_the_password_hasher_too(app, make_user, hasher_calls):
    user = make_user()
    post_form(app, "/login", {"email": "ghost@example.com", "password": WRONG}, "203.0.113.1")
    assert len(hasher_calls) == 1
    post_form(app, "/login", {"email": user.email, "password": WRONG}, "203.0.113.2")
    assert len(hasher_calls) == 2


def test_unknown_email_login_takes_about_as_long_as_a_wrong_password(app, make_user):
    user = make_user()

    def timed(email, n):
        started = time.perf_counter()
        status = post_form(app, "/login", {"email": email, "password": WRONG}, rotating_ip(n))
        assert status.status_code == 422
        return time.perf_counter() - started

    unknown = [timed(f"ghost{n}@example.com", n) for n in range(5)]
    wrong = [timed(user.email, 10 + n) for n in range(5)]
    assert median(unknown) >= 0.5 * median(wrong)
    assert median(wrong) >= 0.5 * median(unknown)


# AU-4 password policy --------------------------------------------------------------------------

SIGNUP = {
    "account_type": "brand",
    "name": "Pat Policy",
    "email": "pat@example.com",
    "brand_name": "Policy Works",
    "display_name": "",
    "timezone": "Europe/Paris",
}
SEED = "vK3q9Lm2Xr7T"


def of_length(n):
    """A password that is not in any list, exactly n characters long."""
    return (SEED * (n // len(SEED) + 1))[:n]


ACCEPTED = [
    pytest.param(of_length(8), id="8-chars"),
    pytest.param(of_length(15), id="15-chars"),
    pytest.param(of_length(64), id="64-chars"),
    pytest.param(of_length(128), id="128-chars"),
    pytest.param("🦊🌲🔥🌊🍂🎈🚲🧭", id="8-emoji"),
    pytest.param("purple elephants dance quietly", id="all-lowercase-passphrase"),
    pytest.param("mañana-über-straße", id="non-ascii"),
]
REFUSED = [
    pytest.param(of_length(7), "Use at least 8 characters.", id="7-chars"),
    pytest.param("🦊🌲🔥🌊🍂🎈🚲", "Use at least 8 characters.", id="7-emoji"),
    pytest.param("password1", "This password is too common", id="password1"),
    pytest.param("iloveyou", "This password is too common", id="iloveyou"),
    pytest.param("qwertyuiop", "This password is too common", id="qwertyuiop"),
]


def field_error(html, field_id):
    """The error text shown next to one field, or None."""
    match = re.search(rf'<small id="{field_id}-error" class="field-error">([^<]*)</small>', html)
    return match.group(1) if match else None


@pytest.mark.parametrize("password", ACCEPTED)
def test_signup_accepts_password(app, web, password):
    response = web.post("/signup", {**SIGNUP, "password": password})
    assert response.status_code == 302, field_error(response.get_data(as_text=True), "password")
    assert password_is(app, SIGNUP["email"], password)


@pytest.mark.parametrize(("password", "message"), REFUSED)
def test_signup_refuses_password_next_to_the_field_and_keeps_what_was_typed(
    app, web, password, message
):
    response = web.post("/signup", {**SIGNUP, "password": password})
    html = response.get_data(as_text=True)

    assert response.status_code == 422
    assert message in field_error(html, "password")
    assert 'aria-describedby="password-hint password-error"' in html
    assert 'value="Pat Policy"' in html
    assert 'value="pat@example.com"' in html
    assert 'value="Policy Works"' in html
    assert re.search(r'<option selected value="Europe/Paris">', html)
    assert password not in html  # the password itself is never echoed back
    assert stored_hash(app, SIGNUP["email"]) is None


def change_password(web, current, new):
    """Submit the change-password form."""
    return web.post(
        "/account/password",
        {"current_password": current, "new_password": new},
        token_from="/account",
    )


@pytest.mark.parametrize("password", ACCEPTED)
def test_change_password_accepts_password(app, web, make_user, password):
    user = make_user()
    web.login(user.email)
    response = change_password(web, PASSWORD, password)
    assert response.status_code == 302, field_error(response.get_data(as_text=True), "new_password")
    assert password_is(app, user.email, password)


@pytest.mark.parametrize(("password", "message"), REFUSED)
def test_change_password_refuses_password_next_to_the_field(app, web, make_user, password, message):
    user = make_user()
    web.login(user.email)
    response = change_password(web, PASSWORD, password)
    html = response.get_data(as_text=True)

    assert response.status_code == 422
    assert message in field_error(html, "new_password")
    assert PASSWORD not in html and password not in html
    assert password_is(app, user.email, PASSWORD)


# AU-5 / AU-6 hashing -----------------------------------------------------------------------------


def test_passwords_are_not_truncated_at_72_bytes(app, make_user):
    first = "x" * 72 + "AAAAAAAA"
    second = "x" * 72 + "BBBBBBBB"
    assert len(first.encode()) == len(second.encode()) == 80

    hashed = hash_password(first)
    assert verify_password(hashed, first)
    assert not verify_password(hashed, second)

    user = make_user(password=first)
    assert attempt_login(app, user.email, second, "203.0.113.1") == 422
    assert attempt_login(app, user.email, first, "203.0.113.2") == 302


ARGON2 = re.compile(r"^\$argon2id\$v=19\$m=(\d+),t=(\d+),p=(\d+)\$[^$]+\$[^$]+$")


def meets_asvs_hash_parameters(password_hash):
    """argon2id with at least ASVS Appendix C / OWASP's m=19 MiB, t=2."""
    match = ARGON2.match(password_hash or "")
    if not match:
        return False
    memory_kib, iterations, _parallelism = map(int, match.groups())
    return memory_kib >= 19456 and iterations >= 2


def test_signup_stores_an_argon2id_hash_with_strong_parameters(app, web):
    password = "a perfectly fine passphrase"
    assert web.post("/signup", {**SIGNUP, "password": password}).status_code == 302
    stored = stored_hash(app, SIGNUP["email"])
    assert stored.startswith("$argon2id$")
    assert meets_asvs_hash_parameters(stored), stored
    assert password not in stored


def test_changed_and_reset_passwords_get_the_same_strong_hash(app, web, make_user):
    user = make_user()
    web.login(user.email)
    assert change_password(web, PASSWORD, NEW_PASSWORD).status_code == 302
    assert meets_asvs_hash_parameters(stored_hash(app, user.email))


@pytest.mark.parametrize(
    "weak",
    [
        pytest.param(generate_password_hash("pw"), id="werkzeug-default-scrypt-32768-8-1"),
        pytest.param(generate_password_hash("pw", method="pbkdf2"), id="werkzeug-pbkdf2"),
        pytest.param(
            argon2.PasswordHasher(memory_cost=4096, time_cost=3).hash("pw"), id="argon2id-4MiB"
        ),
        pytest.param(
            argon2.PasswordHasher(time_cost=1, memory_cost=19456).hash("pw"), id="argon2id-t1"
        ),
        pytest.param(argon2.PasswordHasher(type=argon2.Type.I).hash("pw"), id="argon2i-not-id"),
    ],
)
def test_the_hash_check_rejects_weaker_schemes(weak):
    assert not meets_asvs_hash_parameters(weak)


def test_a_weaker_stored_hash_is_upgraded_at_the_next_login(app, make_user):
    user = make_user()
    with app.app_context():
        account = db.session.get(User, user.id)
        account.password_hash = argon2.PasswordHasher(memory_cost=4096, time_cost=1).hash(PASSWORD)
        db.session.commit()
    assert attempt_login(app, user.email, PASSWORD, "203.0.113.1") == 302
    assert meets_asvs_hash_parameters(stored_hash(app, user.email))


# AU-7 reset tokens -------------------------------------------------------------------------------

RESET_LINK = re.compile(r"https://localhost/reset/([A-Za-z0-9_\-]+)")


@pytest.fixture
def request_reset(app, smtp_server, run_worker):
    """Ask for a reset link through the form, deliver it with a real worker, read it from the mail.

    Returns (raw token, the worker's output)."""

    def ask(email):
        response = post_form(app, "/forgot-password", {"email": email}, "203.0.113.9")
        assert response.status_code == 200
        before = links_sent_to(email)
        worker = run_worker("mail", extra_env={"MAIL_PORT": smtp_server.port})
        new = links_sent_to(email) - before
        assert len(new) == 1
        return new.pop(), worker.stdout + worker.stderr

    def links_sent_to(email):
        return {RESET_LINK.search(body_text(m)).group(1) for m in smtp_server.to(email)}

    return ask


def use_reset(app, token, password=NEW_PASSWORD, client=None):
    """Submit a new password through a reset link; the response."""
    client = client or browser(app, "203.0.113.10")
    page = client.get(f"/reset/{token}")
    source = page if page.status_code == 200 else client.get("/login")
    csrf = csrf_from(source.get_data(as_text=True))
    return client.post(f"/reset/{token}", data={"csrf_token": csrf, "password": password})


def test_reset_link_works_once(app, make_user, request_reset):
    user = make_user()
    token, _ = request_reset(user.email)

    first = use_reset(app, token, NEW_PASSWORD)
    assert first.status_code == 302
    assert password_is(app, user.email, NEW_PASSWORD)
    assert attempt_login(app, user.email, NEW_PASSWORD, "203.0.113.1") == 302

    assert browser(app).get(f"/reset/{token}").status_code == 404
    second = use_reset(app, token, "yet another long passphrase")
    assert second.status_code == 404
    assert password_is(app, user.email, NEW_PASSWORD)


def test_expired_reset_link_is_refused(app, make_user, request_reset):
    user = make_user()
    token, _ = request_reset(user.email)
    with app.app_context():
        row = db.session.scalar(select(PasswordResetToken))
        row.expires_at = utcnow() - timedelta(minutes=1)
        db.session.commit()

    assert browser(app).get(f"/reset/{token}").status_code == 404
    assert use_reset(app, token).status_code == 404
    assert password_is(app, user.email, PASSWORD)


def test_reset_link_issued_before_a_password_change_is_refused_after_it(
    app, web, make_user, request_reset
):
    user = make_user()
    token, _ = request_reset(user.email)
    web.login(user.email)
    assert change_password(web, PASSWORD, NEW_PASSWORD).status_code == 302

    assert use_reset(app, token, "an attackers long passphrase").status_code == 404
    assert password_is(app, user.email, NEW_PASSWORD)


def test_using_one_reset_link_voids_the_older_ones(app, make_user, request_reset):
    user = make_user()
    older, _ = request_reset(user.email)
    newer, _ = request_reset(user.email)
    assert older != newer

    assert use_reset(app, newer).status_code == 302
    assert use_reset(app, older, "an attackers long passphrase").status_code == 404
    assert password_is(app, user.email, NEW_PASSWORD)


def test_using_a_reset_link_ends_every_session(app, make_user, request_reset):
    user = make_user()
    signed_in = [Browserless(browser(app)) for _ in range(2)]
    for other in signed_in:
        other.login(user.email)
        assert other.client.get("/account").status_code == 200
    token, _ = request_reset(user.email)

    assert use_reset(app, token).status_code == 302

    for other in signed_in:
        response = other.client.get("/account")
        assert response.status_code == 302
        assert urlsplit(response.headers["Location"]).path == "/login"


def test_reset_token_is_never_logged_and_stored_only_as_sha256(
    app, make_user, request_reset, caplog
):
    caplog.set_level(logging.DEBUG)
    user = make_user()
    token, worker_output = request_reset(user.email)
    assert use_reset(app, token).status_code == 302
    use_reset(app, token)  # a refused second use must not log it either
    # What the development server / gunicorn would write for these requests.
    logging.getLogger("werkzeug").info('127.0.0.1 - - "GET /reset/%s HTTP/1.1" 200 -', token)
    logging.getLogger("gunicorn.access").info('"POST /reset/%s HTTP/1.1" 302', token)

    # mail.log is aiosmtpd, the test's stand-in for the outside mail server, which logs the
    # message it receives; the app's own records are what is checked.
    records = [r for r in caplog.records if not r.name.startswith("mail.log")]
    assert records, "the flow is expected to log something"
    for record in records:
        assert token not in record.getMessage()
        assert token not in str(record.msg) + repr(record.args)
    assert token not in worker_output
    with app.app_context():
        rows = db.session.execute(text("SELECT * FROM password_reset_tokens")).all()
        assert len(rows) == 1
        assert hashlib.sha256(token.encode()).hexdigest() in rows[0]
        assert not any(token in str(value) for value in rows[0])


# AU-8 cookie flags -------------------------------------------------------------------------------


class HttpsBrowser(FlaskClient):
    """A test client whose requests really arrive over HTTPS (`request.is_secure`), sending a
    same-origin Referer on writes like a browser does (Flask-WTF checks it over HTTPS)."""

    def open(self, *args, **kwargs):
        if args and isinstance(args[0], str):
            kwargs.setdefault("base_url", "https://localhost")
            if kwargs.get("method", "GET") in ("POST", "PUT", "PATCH", "DELETE"):
                headers = Headers(kwargs.get("headers"))
                headers.setdefault("Referer", "https://localhost/login")
                kwargs["headers"] = headers
        return super().open(*args, **kwargs)


def cookie_attributes(header):
    """A Set-Cookie header as (name, value, {attribute lower-cased: value or True})."""
    pair, *attributes = (part.strip() for part in header.split(";"))
    name, _, value = pair.partition("=")
    parsed = {}
    for attribute in attributes:
        key, has_value, attribute_value = attribute.partition("=")
        parsed[key.lower()] = attribute_value if has_value else True
    return name, value, parsed


def login_set_cookies(mode_app, email):
    """Sign in over HTTPS on an app; the Set-Cookie headers of the login response."""
    client = HttpsBrowser(mode_app, mode_app.response_class)
    page = client.get("/login")
    assert page.status_code == 200
    response = client.post(
        "/login",
        data={
            "csrf_token": csrf_from(page.get_data(as_text=True)),
            "email": email,
            "password": PASSWORD,
        },
    )
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
    assert client.get("/account").status_code == 200
    return response.headers.getlist("Set-Cookie")


@contextmanager
def mode_app(config_name, test_settings):
    """The app built with production or development settings on the test database."""
    built = portal.create_app(config_name, dict(test_settings))
    try:
        yield built
    finally:
        with built.app_context():
            db.session.remove()
            db.engine.dispose()


def test_production_session_cookie_is_host_prefixed_secure_httponly_lax(
    app, test_settings, make_user, monkeypatch
):
    monkeypatch.setenv("SECRET_KEY", "a-production-secret-from-the-environment-0123456789")
    monkeypatch.setenv("TRUSTED_HOSTS", "localhost")
    user = make_user()
    with mode_app("production", test_settings) as production:
        headers = login_set_cookies(production, user.email)

    sessions = [h for h in headers if h.startswith("__Host-duet_session=")]
    assert len(sessions) == 1
    assert len(headers) == 1  # no remember-me or other cookie is set
    name, value, attributes = cookie_attributes(sessions[0])
    assert name == "__Host-duet_session"
    assert attributes.get("secure") is True
    assert attributes.get("httponly") is True
    assert attributes.get("samesite") == "Lax"
    assert attributes.get("path") == "/"
    assert "domain" not in attributes
    assert len(sessions[0].encode()) <= 4096
    assert len(f"{name}={value}".encode()) <= 4096


def test_development_session_cookie_is_httponly_and_lax(app, test_settings, make_user):
    user = make_user()
    with mode_app("development", test_settings) as development:
        headers = login_set_cookies(development, user.email)
    name, _, attributes = cookie_attributes(headers[0])
    assert name == development.config["SESSION_COOKIE_NAME"]
    assert attributes.get("httponly") is True
    assert attributes.get("samesite") == "Lax"
    assert attributes.get("path") == "/"
    assert "domain" not in attributes


# AU-9 re-authentication for the password change ------------------------------------------------


@pytest.mark.parametrize(
    ("current", "message"),
    [
        ("not my password", "Your current password is not correct."),
        ("", "This field is required."),
    ],
)
def test_password_change_requires_the_current_password(app, web, make_user, current, message):
    user = make_user()
    web.login(user.email)
    response = change_password(web, current, NEW_PASSWORD)
    html = response.get_data(as_text=True)

    assert response.status_code == 422
    assert message in field_error(html, "current_password")
    assert password_is(app, user.email, PASSWORD)
    assert not password_is(app, user.email, NEW_PASSWORD)
    assert web.client.get("/account").status_code == 200  # still signed in


# AU-10 auth events are logged, without secrets ---------------------------------------------------


def test_auth_events_are_logged_without_passwords_or_tokens(app, web, make_user, caplog):
    caplog.set_level(logging.INFO, logger="portal.auth")
    caplog.set_level(logging.INFO)
    creator = make_user(kind="creator")

    assert attempt_login(app, creator.email, WRONG, "203.0.113.21") == 422
    assert web.login(creator.email).status_code == 302
    assert web.client.get("/admin/users").status_code == 403
    web.logout()

    auth = [r for r in caplog.records if r.name == "portal.auth"]
    messages = [r.getMessage() for r in auth]
    assert any(m.startswith("login failed") and "203.0.113.21" in m for m in messages)
    assert any(m.startswith("login succeeded") and f"user_id={creator.id}" in m for m in messages)
    assert any(
        m.startswith("authorization denied") and f"user_id={creator.id}" in m and "admin.users" in m
        for m in messages
    )
    assert any(m.startswith("logout") for m in messages)
    failed = next(r for r in auth if r.getMessage().startswith("login failed"))
    assert failed.levelno >= logging.WARNING

    with app.app_context():
        sids = db.session.scalars(text("SELECT id FROM user_sessions")).all()
    cookie = web.client.get_cookie(app.config["SESSION_COOKIE_NAME"], domain="localhost")
    secrets = [WRONG, PASSWORD, *sids] + ([cookie.value] if cookie else [])
    for record in caplog.records:
        line = record.getMessage()
        for secret in secrets:
            assert secret not in line, f"{record.name} logged a secret: {line}"
