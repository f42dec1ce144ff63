"""Search within a workroom: FTS5 on SQLite, a GIN full-text index on PostgreSQL."""

import re

import pytest
from flask_migrate import downgrade, upgrade
from sqlalchemy import event, text

from portal.accounts.models import AccountKind, Brand, User
from portal.extensions import db
from portal.workrooms import queries, services
from portal.workrooms.access import seat_of
from portal.workrooms.models import Message, Workroom
from tests import factories
from tests.conftest import Browserless, https_client

BEFORE_SEARCH = "f81afbb1f2ad"  # the revision before the "message search" migration


def as_user(app, person):
    """A signed-in browser for one of the pair's people."""
    browser = Browserless(https_client(app))
    assert browser.login(person.email).status_code == 302
    return browser


def write(app, person, body, *, workroom_id, internal=False, parent=None):
    """Post a message (or a reply to `parent`) as a person; returns its id."""
    with app.app_context():
        user = db.session.get(User, person.id)
        seat = seat_of(user, db.session.get(Workroom, workroom_id))
        root = db.session.get(Message, parent) if parent else None
        message = services.post_message(seat, user, body, internal=internal, parent=root)
        db.session.commit()
        return message.id


def change(app, person, message_id, body=None):
    """Edit a message as its author, or delete it when no body is given."""
    with app.app_context():
        user = db.session.get(User, person.id)
        message = db.session.get(Message, message_id)
        if body is None:
            services.delete_message(message, user)
        else:
            services.edit_message(message, user, body)
        db.session.commit()


def found(app, person, q, *, workroom_id, **options):
    """The bodies a person's search finds in a workroom, in the order given."""
    with app.app_context():
        user = db.session.get(User, person.id)
        seat = seat_of(user, db.session.get(Workroom, workroom_id))
        return [message.body_md for message in queries.search(seat, q, **options)]


def search_page(browser, workroom_id, q, **headers):
    """The search page's response for a query."""
    return browser.client.get(
        f"/workrooms/{workroom_id}/search", query_string={"q": q}, headers=headers
    )


def dialect(app):
    """The test database's backend name."""
    with app.app_context():
        return db.engine.dialect.name


def test_search_finds_words_in_messages_and_replies_newest_first(app, pair):
    room = pair.workroom_id
    root = write(app, pair.owner, "Shooting the reel at the **lighthouse**", workroom_id=room)
    write(app, pair.creator, "Lighthouse permits are sorted", workroom_id=room, parent=root)
    write(app, pair.creator, "Unrelated chatter", workroom_id=room)
    assert found(app, pair.creator, "lighthouse", workroom_id=room) == [
        "Lighthouse permits are sorted",
        "Shooting the reel at the **lighthouse**",
    ]
    assert len(found(app, pair.viewer, "LIGHTHOUSE", workroom_id=room)) == 2
    # Every word must be there.
    assert found(app, pair.owner, "lighthouse permits", workroom_id=room) == [
        "Lighthouse permits are sorted"
    ]
    assert found(app, pair.owner, "lighthouse chatter", workroom_id=room) == []


def test_search_page_links_each_result_to_where_it_is_shown(app, pair):
    room = pair.workroom_id
    root = write(app, pair.owner, "Moodboard for the autumn drop", workroom_id=room)
    reply = write(app, pair.creator, "Autumn palette attached", workroom_id=room, parent=root)
    response = search_page(as_user(app, pair.creator), room, "autumn")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "Moodboard for the autumn drop" in html and "Autumn palette attached" in html
    assert f'href="/workrooms/{room}/messages/{root}#message-{reply}"' in html  # the thread
    assert f'href="/workrooms/{room}#message-{root}"' in html  # the log
    assert html.index("Autumn palette") < html.index("Moodboard")  # newest first
    assert 'value="autumn"' in html  # the box keeps the words


def test_deleted_messages_never_match(app, pair):
    room = pair.workroom_id
    gone = write(app, pair.creator, "Draft caption with a typo", workroom_id=room)
    write(app, pair.creator, "Final caption", workroom_id=room)
    change(app, pair.creator, gone)  # deleted: the old text stays only in its history
    assert found(app, pair.owner, "caption", workroom_id=room) == ["Final caption"]
    assert found(app, pair.owner, "typo", workroom_id=room) == []
    html = search_page(as_user(app, pair.owner), room, "typo").get_data(as_text=True)
    assert "No messages match" in html and "Draft caption" not in html


def test_edited_text_is_found_and_the_old_text_is_not(app, pair):
    room = pair.workroom_id
    message = write(app, pair.creator, "Filming on Tuesday", workroom_id=room)
    change(app, pair.creator, message, "Filming on Thursday")
    assert found(app, pair.owner, "thursday", workroom_id=room) == ["Filming on Thursday"]
    assert found(app, pair.owner, "tuesday", workroom_id=room) == []
    assert found(app, pair.owner, "filming", workroom_id=room) == ["Filming on Thursday"]


def test_notes_of_the_other_side_never_appear(app, pair):
    room = pair.workroom_id
    write(app, pair.owner, "Secret budget ceiling is 5k", workroom_id=room, internal=True)
    note = write(app, pair.creator, "Secret floor: 3k", workroom_id=room, internal=True)
    write(app, pair.creator, "Secret floor reminder", workroom_id=room, parent=note)
    write(app, pair.manager, "No secret here", workroom_id=room)
    creator_finds = found(app, pair.creator, "secret", workroom_id=room)
    assert creator_finds == ["No secret here", "Secret floor reminder", "Secret floor: 3k"]
    for brand_person in (pair.owner, pair.manager, pair.viewer):
        brand_finds = found(app, brand_person, "secret", workroom_id=room)
        assert brand_finds == ["No secret here", "Secret budget ceiling is 5k"]
    # Admins read a workroom like an outsider to both sides: no notes at all.
    with app.app_context():
        workroom = db.session.get(Workroom, room)
        seat = seat_of(factories.user(kind=AccountKind.admin), workroom)
        assert [m.body_md for m in queries.search(seat, "secret")] == ["No secret here"]
        db.session.rollback()
    # The page as well: the creator never sees the brand's note, nor the brand the creator's.
    creator_page = search_page(as_user(app, pair.creator), room, "secret").get_data(as_text=True)
    assert "budget ceiling" not in creator_page and "Secret floor: 3k" in creator_page
    brand_page = search_page(as_user(app, pair.viewer), room, "secret").get_data(as_text=True)
    assert "Secret floor" not in brand_page and "budget ceiling" in brand_page
    assert "Internal note · only the brand team sees this" in brand_page


def test_results_stay_within_the_workroom(app, pair):
    room = pair.workroom_id
    with app.app_context():
        owner = db.session.get(User, pair.owner.id)
        other = services.open_workroom(
            db.session.get(Brand, owner.memberships[0].brand_id),
            db.session.get(User, pair.outsider.id),
            owner,
        )
        db.session.commit()
        other_room = other.id
    write(app, pair.owner, "Kickoff call on Monday", workroom_id=room)
    write(app, pair.owner, "Kickoff call with Olly", workroom_id=other_room)
    assert found(app, pair.owner, "kickoff", workroom_id=room) == ["Kickoff call on Monday"]
    assert found(app, pair.owner, "kickoff", workroom_id=other_room) == ["Kickoff call with Olly"]
    assert found(app, pair.owner, "olly", workroom_id=room) == []
    html = search_page(as_user(app, pair.owner), room, "kickoff").get_data(as_text=True)
    assert "Monday" in html and "Olly" not in html
    # Members of one workroom can't search another: the outsider gets 404 here.
    assert search_page(as_user(app, pair.outsider), room, "kickoff").status_code == 404


JUNK_BODY = "Tea OR coffee? Meet NEAR(the door), it's 50% off *today* for body_md fans"
# query -> does it find the message above (every word it holds is in it)?
JUNK = {
    '"': False,
    '""': False,
    "*": False,
    "'": False,
    "%": False,
    "%%_": False,
    "\\": False,
    "(": False,
    ")": False,
    "^": False,
    "-": False,
    ":": False,
    "';--": False,
    '" OR ""="': True,  # one word, OR, which the message holds
    "' OR 1=1--": False,
    "OR": True,
    "or": True,
    "NEAR(": True,
    "NEAR(tea coffee)": True,
    "NEAR(tea coffee, 2)": False,  # 2 is not in the message: a word like the others
    "tea OR nothing": False,  # OR is a word, not "either": both other words must match
    "NOT tea": False,  # NOT is a word too
    "tea AND": False,
    "-tea": True,
    "^tea": True,
    "coffee*": True,
    "cof*": False,  # no prefix search: * is dropped, "cof" is not a word of the message
    "tea:coffee": True,
    "body_md:tea": True,  # the column filter syntax is two words and a word, all present
    "{tea coffee}": True,
    "it's": True,
    "50%": True,
    '"tea': True,
    'tea"': True,
    "tea\tcoffee\n": True,
    "🙂": False,
    "ü": False,
    "x" * 500: False,
    " ".join(["tea"] * 100): True,
}


@pytest.mark.parametrize("htmx", [False, True], ids=["page", "htmx"])
@pytest.mark.parametrize("q", list(JUNK), ids=[repr(q[:30]) for q in JUNK])
def test_operators_and_junk_are_taken_as_words_and_never_break_the_page(app, pair, q, htmx):
    room = pair.workroom_id
    write(app, pair.creator, JUNK_BODY, workroom_id=room)
    headers = {"HX-Request": "true"} if htmx else {}
    response = search_page(as_user(app, pair.owner), room, q, **headers)
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert ("Meet NEAR(the door)" in html) is JUNK[q], html
    if q.strip(" \t\n") and not JUNK[q]:
        assert "No messages match" in html


@pytest.mark.parametrize("q", ["", " ", "   \t ", None])
def test_an_empty_search_finds_nothing(app, pair, q):
    room = pair.workroom_id
    write(app, pair.creator, "Anything at all", workroom_id=room)
    assert found(app, pair.owner, q, workroom_id=room) == []
    response = search_page(as_user(app, pair.owner), room, q or "")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "Anything at all" not in html and "No messages match" not in html
    assert "Type a few words" in html


def test_results_are_capped_at_the_limit_newest_first(app, pair):
    room = pair.workroom_id
    for n in range(1, 6):
        write(app, pair.creator, f"Take {n} of the intro", workroom_id=room)
    assert found(app, pair.owner, "intro", workroom_id=room, limit=3) == [
        "Take 5 of the intro",
        "Take 4 of the intro",
        "Take 3 of the intro",
    ]


def test_htmx_search_answers_with_the_results_fragment(app, pair):
    room = pair.workroom_id
    write(app, pair.creator, "Storyboard v2 is up", workroom_id=room)
    response = search_page(as_user(app, pair.owner), room, "storyboard", **{"HX-Request": "true"})
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Storyboard v2 is up" in html and "1 message matches" in html
    assert "<html" not in html and 'role="search"' not in html


def test_workroom_page_has_a_labelled_search_box(app, pair):
    room = pair.workroom_id
    html = as_user(app, pair.creator).client.get(f"/workrooms/{room}").get_data(as_text=True)
    form = re.search(r'<form[^>]*role="search"[^>]*>.*?</form>', html, re.S)
    assert form, "no search form on the workroom page"
    assert f'action="/workrooms/{room}/search"' in form.group(0)
    assert 'method="get"' in form.group(0)
    field = re.search(r'<input type="search" id="([^"]+)" name="q"', form.group(0))
    assert field and f'<label for="{field.group(1)}"' in form.group(0)


def test_search_page_query_count_does_not_grow_with_results(app, pair, count_queries):
    room = pair.workroom_id
    browser = as_user(app, pair.creator)
    url = f"/workrooms/{room}/search?q=update"
    write(app, pair.owner, "Status update", workroom_id=room)
    browser.client.get(url)
    with count_queries() as few:
        browser.client.get(url)
    root = write(app, pair.manager, "Another update", workroom_id=room)
    for n in range(20):
        who = pair.creator if n % 2 else pair.owner
        write(app, who, f"Update number {n}", workroom_id=room, parent=root if n % 3 else None)
    with count_queries() as many:
        response = browser.client.get(url)
    assert response.get_data(as_text=True).count('<li id="result-') == 22
    assert len(many) == len(few)


def test_migration_indexes_the_messages_written_before_it(app, pair):
    room = pair.workroom_id
    write(app, pair.creator, "Contract signed last spring", workroom_id=room)
    with app.app_context():
        db.session.remove()
        try:
            downgrade(revision=BEFORE_SEARCH)
            if db.engine.dialect.name == "sqlite":
                with db.engine.connect() as conn:
                    left = conn.execute(
                        text("SELECT name FROM sqlite_master WHERE name LIKE 'messages_fts%'")
                    ).all()
                assert left == []  # the table, its shadow tables and triggers are gone
        finally:
            upgrade()
    write(app, pair.owner, "Spring campaign kickoff", workroom_id=room)
    assert found(app, pair.owner, "spring", workroom_id=room) == [
        "Spring campaign kickoff",
        "Contract signed last spring",
    ]


def test_sqlite_full_text_table_stays_in_step_with_the_messages(app, pair):
    if dialect(app) != "sqlite":
        pytest.skip("the FTS5 table exists on SQLite only")
    room = pair.workroom_id
    first = write(app, pair.creator, "One", workroom_id=room)
    second = write(app, pair.creator, "Two", workroom_id=room, parent=first)
    change(app, pair.creator, first, "One, edited")
    change(app, pair.creator, second)

    def check():
        # rank 1: compare the index with the messages table; a mismatch raises an error.
        with db.engine.begin() as conn:
            conn.execute(
                text("INSERT INTO messages_fts (messages_fts, rank) VALUES ('integrity-check', 1)")
            )
            return conn.execute(text("SELECT count(*) FROM messages_fts_docsize")).scalar()

    with app.app_context():
        assert check() == 2
        with db.engine.begin() as conn:  # as the tests' truncate_all empties tables
            conn.execute(text("DELETE FROM message_revisions"))
            conn.execute(text("DELETE FROM audit_events"))
            conn.execute(text("DELETE FROM messages WHERE parent_id IS NOT NULL"))
            conn.execute(text("DELETE FROM messages"))
        assert check() == 0


def test_postgresql_search_uses_the_gin_index(app, pair):
    if dialect(app) != "postgresql":
        pytest.skip("the GIN index exists on PostgreSQL only")
    room = pair.workroom_id
    write(app, pair.creator, "Index me", workroom_id=room)
    with app.app_context(), db.engine.begin() as conn:
        # A long log (thousands of messages) where one holds the word: a realistic shape.
        conn.execute(
            text(
                "INSERT INTO messages (workroom_id, seq, changed_seq, kind, audience, body_md,"
                " body_html, reply_count, created_at)"
                " SELECT :room, n, n, 'message', 'everyone', 'filler line ' || n, '', 0, now()"
                " FROM generate_series(100, 5100) AS n"
            ),
            {"room": room},
        )
        conn.execute(text("ANALYZE messages"))
    searches = []

    def record(conn, cursor, statement, parameters, context, executemany):
        if "plainto_tsquery" in statement:
            searches.append((statement, parameters))

    with app.app_context():
        event.listen(db.engine, "before_cursor_execute", record)
        try:
            assert found(app, pair.owner, "index", workroom_id=room) == ["Index me"]
        finally:
            event.remove(db.engine, "before_cursor_execute", record)
        (statement, parameters), *_ = searches
        with db.engine.connect() as conn:
            plan = conn.exec_driver_sql("EXPLAIN " + statement, parameters).scalars().all()
            conn.rollback()
    assert "ix_messages_body_search" in "\n".join(plan), "\n".join(plan)
