"""Sign-in costs: the password hash, the login request, a signed-in page."""

from bench.harness import bench_app, time_calls
from portal.accounts.models import AccountKind
from portal.accounts.passwords import hash_password, verify_password
from portal.accounts.services import create_user
from portal.extensions import db

PASSWORD = "benchmark passphrase 2026"


def run():
    """Figures as (name, value, unit)."""
    figures = []
    stored = hash_password(PASSWORD)
    median, _ = time_calls(lambda: verify_password(stored, PASSWORD), 20)
    figures.append(("argon2id_verify_median", round(median, 1), "ms"))

    with bench_app() as app:
        with app.app_context():
            create_user("bench@example.com", "Bench", PASSWORD, AccountKind.creator)
            db.session.commit()
        client = app.test_client()
        form = {"email": "bench@example.com", "password": PASSWORD}
        median, p95 = time_calls(lambda: client.post("/login", data=form), 20)
        figures.append(("login_post_median", round(median, 1), "ms"))
        figures.append(("login_post_p95", round(p95, 1), "ms"))
        median, p95 = time_calls(lambda: client.get("/account"), 200)
        figures.append(("signed_in_page_median", round(median, 2), "ms"))
        figures.append(("signed_in_page_p95", round(p95, 2), "ms"))
        median, _ = time_calls(lambda: client.get("/healthz"), 100)
        figures.append(("healthz_median", round(median, 2), "ms"))
    return figures
