"""The message log: posting, threads, notes, edits, tombstones, polling and pagination."""

import re

from sqlalchemy import func, select

from portal.audit import AuditEvent, verify_all_chains
from portal.extensions import db
from portal.workrooms.models import Message, MessageRevision, Workroom
from tests.conftest import Browserless, https_client


def as_user(app, person):
    """A signed-in browser for one of the pair's people."""
    browser = Browserless(https_client(app))
    assert browser.login(person.email).status_code == 302
    return browser


def post(browser, pair, body, **extra):
    data = {"body": body, **extra}
    return browser.post(
        f"/workrooms/{pair.workroom_id}/messages", data, token_from=f"/workrooms/{pair.workroom_id}"
    )


def messages(app):
    with app.app_context():
        return db.session.scalars(select(Message).order_by(Message.seq)).all()


def test_both_sides_post_and_read_the_log(app, pair):
    brand, creator = as_user(app, pair.owner), as_user(app, pair.creator)
    assert post(brand, pair, "Hello **Cora**").status_code == 302
    assert post(creator, pair, "Hi Bea").status_code == 302
    page = creator.client.get(f"/workrooms/{pair.workroom_id}").get_data(as_text=True)
    assert "<strong>Cora</strong>" in page
    assert "Hi Bea" in page
    assert [m.seq for m in messages(app)] == [1, 2]


def test_internal_note_is_seen_only_by_its_side(app, pair):
    brand, creator = as_user(app, pair.manager), as_user(app, pair.creator)
    post(brand, pair, "Budget is tight, keep it quiet", internal="y")
    viewer = as_user(app, pair.viewer)
    assert "Budget is tight" in viewer.client.get(f"/workrooms/{pair.workroom_id}").get_data(
        as_text=True
    )
    creator_page = creator.client.get(f"/workrooms/{pair.workroom_id}").get_data(as_text=True)
    assert "Budget is tight" not in creator_page
    poll = creator.client.get(f"/workrooms/{pair.workroom_id}/poll?since=0&upto=0")
    assert "Budget is tight" not in poll.get_data(as_text=True)
    brand_page = brand.client.get(f"/workrooms/{pair.workroom_id}").get_data(as_text=True)
    assert "Internal note · only the brand team sees this" in brand_page


def test_retried_post_with_same_client_id_creates_one_message(app, pair):
    creator = as_user(app, pair.creator)
    post(creator, pair, "Only once", client_msg_id="abc-123")
    post(creator, pair, "Only once", client_msg_id="abc-123")
    assert len(messages(app)) == 1


def test_replies_form_one_level_threads(app, pair):
    brand, creator = as_user(app, pair.owner), as_user(app, pair.creator)
    post(brand, pair, "Root")
    root = messages(app)[0]
    post(creator, pair, "First reply", parent_id=root.id)
    first = messages(app)[1]
    post(brand, pair, "Reply to the reply", parent_id=first.id)
    rows = messages(app)
    assert rows[2].parent_id == root.id  # joined the root's thread
    assert rows[0].reply_count == 2
    thread = brand.client.get(f"/workrooms/{pair.workroom_id}/messages/{root.id}")
    html = thread.get_data(as_text=True)
    assert "First reply" in html and "Reply to the reply" in html
    main = brand.client.get(f"/workrooms/{pair.workroom_id}").get_data(as_text=True)
    assert "2 replies" in main
    assert "First reply" not in main


def test_edit_keeps_history_and_shows_edited_marker(app, pair):
    creator = as_user(app, pair.creator)
    post(creator, pair, "Draft v1")
    message = messages(app)[0]
    url = f"/workrooms/{pair.workroom_id}/messages/{message.id}/edit"
    assert creator.post(url, {"body": "Draft v2"}).status_code == 302
    page = creator.client.get(f"/workrooms/{pair.workroom_id}").get_data(as_text=True)
    assert "Draft v2" in page and ">edited</a>" in page
    history = creator.client.get(f"/workrooms/{pair.workroom_id}/messages/{message.id}/history")
    assert "Draft v1" in history.get_data(as_text=True)


def test_only_the_author_edits_or_deletes(app, pair):
    creator, brand = as_user(app, pair.creator), as_user(app, pair.owner)
    post(creator, pair, "Mine")
    message = messages(app)[0]
    base = f"/workrooms/{pair.workroom_id}/messages/{message.id}"
    assert (
        brand.post(f"{base}/edit", {"body": "Hijacked"}, token_from="/account").status_code == 403
    )
    assert brand.post(f"{base}/delete", {}, token_from="/account").status_code == 403
    assert messages(app)[0].body_md == "Mine"


def test_delete_leaves_a_tombstone_and_keeps_the_text_in_history(app, pair):
    creator = as_user(app, pair.creator)
    post(creator, pair, "Regrettable words")
    message = messages(app)[0]
    creator.post(
        f"/workrooms/{pair.workroom_id}/messages/{message.id}/delete",
        {},
        token_from=f"/workrooms/{pair.workroom_id}",
    )
    page = creator.client.get(f"/workrooms/{pair.workroom_id}").get_data(as_text=True)
    assert "Message deleted" in page and "Regrettable words" not in page
    with app.app_context():
        kept = db.session.scalar(select(MessageRevision.body_md))
    assert kept == "Regrettable words"


def test_viewer_reads_but_cannot_post(app, pair):
    viewer = as_user(app, pair.viewer)
    page = viewer.client.get(f"/workrooms/{pair.workroom_id}").get_data(as_text=True)
    assert "You can read this workroom but not write in it." in page
    assert post(viewer, pair, "Can I?").status_code == 403
    assert messages(app) == []


def test_outsider_gets_404(app, pair):
    outsider = as_user(app, pair.outsider)
    assert outsider.client.get(f"/workrooms/{pair.workroom_id}").status_code == 404
    assert post(outsider, pair, "Let me in").status_code in (403, 404)


def test_unchanged_poll_is_204_with_one_query(app, pair, count_queries):
    creator = as_user(app, pair.creator)
    post(creator, pair, "Something")
    with app.app_context():
        last = db.session.get(Workroom, pair.workroom_id).last_change_seq
    url = f"/workrooms/{pair.workroom_id}/poll?since={last}&upto=1"
    creator.client.get(url)  # warm up
    with count_queries() as statements:
        response = creator.client.get(url)
    assert response.status_code == 204
    selects = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
    # one query for the session, the seat and the change number (portal/workrooms/poll.py)
    assert len(selects) == 1, statements


def test_poll_brings_new_messages_and_edits(app, pair):
    brand, creator = as_user(app, pair.owner), as_user(app, pair.creator)
    post(brand, pair, "First")
    post(creator, pair, "Second")
    html = brand.client.get(f"/workrooms/{pair.workroom_id}/poll?since=1&upto=1").get_data(
        as_text=True
    )
    assert "Second" in html and 'hx-swap-oob="beforeend:#message-list"' in html
    assert "since=2" in html.replace("&amp;", "&") and "upto=2" in html.replace("&amp;", "&")
    first = messages(app)[0]
    brand.post(f"/workrooms/{pair.workroom_id}/messages/{first.id}/edit", {"body": "First!"})
    html = creator.client.get(f"/workrooms/{pair.workroom_id}/poll?since=2&upto=2").get_data(
        as_text=True
    )
    assert f'id="message-{first.id}"' in html and 'hx-swap-oob="true"' in html


def test_older_messages_load_by_keyset(app, pair):
    creator = as_user(app, pair.creator)
    with app.app_context():
        from portal.workrooms.access import seat_of
        from portal.workrooms.services import post_message

        workroom = db.session.get(Workroom, pair.workroom_id)
        user = workroom.creator
        for n in range(1, 61):
            post_message(seat_of(user, workroom), user, f"Message number {n}")
        db.session.commit()
    page = creator.client.get(f"/workrooms/{pair.workroom_id}").get_data(as_text=True)
    assert "Message number 60" in page and "Message number 10<" not in page
    before = re.search(r"messages\?before=(\d+)", page).group(1)
    assert before == "11"
    older = creator.client.get(
        f"/workrooms/{pair.workroom_id}/messages?before={before}", headers={"HX-Request": "true"}
    ).get_data(as_text=True)
    assert "Message number 10<" in older and "Message number 11<" not in older
    assert "<html" not in older


def test_workroom_page_query_count_does_not_grow(app, pair, count_queries):
    creator = as_user(app, pair.creator)
    url = f"/workrooms/{pair.workroom_id}"
    post(creator, pair, "one")
    creator.client.get(url)
    with count_queries() as few:
        creator.client.get(url)
    for n in range(30):
        post(creator, pair, f"more {n}")
    with count_queries() as many:
        creator.client.get(url)
    assert len(many) == len(few)


def test_mark_read_clears_unread_count_on_the_workroom_list(app, pair):
    brand, creator = as_user(app, pair.owner), as_user(app, pair.creator)
    post(creator, pair, "Ping")
    post(creator, pair, "Ping again")
    assert '<strong class="badge">2 unread</strong>' in brand.client.get("/workrooms").get_data(
        as_text=True
    )
    brand.post(
        f"/workrooms/{pair.workroom_id}/read",
        {"seq": "2"},
        token_from=f"/workrooms/{pair.workroom_id}",
    )
    # The list's count is gone (the bell counts notifications, not messages read).
    assert 'class="badge">' not in brand.client.get("/workrooms").get_data(as_text=True)


def test_every_post_edit_and_delete_is_audited_in_an_intact_chain(app, pair):
    creator = as_user(app, pair.creator)
    post(creator, pair, "Audited")
    message = messages(app)[0]
    base = f"/workrooms/{pair.workroom_id}/messages/{message.id}"
    creator.post(f"{base}/edit", {"body": "Audited twice"})
    creator.post(f"{base}/delete", {}, token_from=f"/workrooms/{pair.workroom_id}")
    with app.app_context():
        chain = f"workroom:{pair.workroom_id}"
        actions = db.session.scalars(
            select(AuditEvent.action).where(AuditEvent.chain == chain).order_by(AuditEvent.id)
        ).all()
        assert actions == ["workroom.opened", "message.posted", "message.edited", "message.deleted"]
        assert verify_all_chains()[0] == {}
        event = db.session.scalar(
            select(AuditEvent).where(AuditEvent.chain == chain, AuditEvent.seq == 2)
        )
        event.data = {"seq": 99}
        db.session.commit()
        broken, _ = verify_all_chains()
        assert broken == {f"workroom:{pair.workroom_id}": (2, "content does not match its hash")}
    activity = creator.client.get(f"/workrooms/{pair.workroom_id}/activity")
    assert "message.edited" in activity.get_data(as_text=True)


def test_empty_message_keeps_the_form_with_a_message(app, pair):
    creator = as_user(app, pair.creator)
    response = post(creator, pair, "   ")
    assert response.status_code == 422
    assert "Write something first." in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(select(func.count(Message.id))) == 0


def test_poll_sends_replies_only_to_pages_showing_their_thread(app, pair):
    brand, creator = as_user(app, pair.owner), as_user(app, pair.creator)
    post(brand, pair, "Root")
    root = messages(app)[0]
    post(creator, pair, "A reply", parent_id=root.id)
    base = f"/workrooms/{pair.workroom_id}/poll?since=1&upto=1"
    workroom_page = brand.client.get(base).get_data(as_text=True)
    assert "#replies-" not in workroom_page and "1 reply" in workroom_page
    thread_page = brand.client.get(f"{base}&thread={root.id}").get_data(as_text=True)
    assert f"beforeend:#replies-{root.id}" in thread_page


def bulk_messages(app, workroom_id, author_id, count):
    """Insert `count` top-level messages quickly (numbered after the existing ones)."""
    from sqlalchemy import insert

    from portal.database import utcnow
    from portal.markup import render_markdown
    from portal.workrooms.models import Audience, MessageKind

    with app.app_context():
        workroom = db.session.get(Workroom, workroom_id)
        start = workroom.last_message_seq
        html = render_markdown("bulk **message**")
        rows = [
            {
                "workroom_id": workroom_id,
                "seq": start + n,
                "changed_seq": start + n,
                "author_id": author_id,
                "kind": MessageKind.message,
                "audience": Audience.everyone,
                "body_md": "bulk **message**",
                "body_html": html,
                "reply_count": 0,
                "created_at": utcnow(),
            }
            for n in range(1, count + 1)
        ]
        db.session.execute(insert(Message), rows)
        workroom.last_message_seq = workroom.last_change_seq = start + count
        db.session.commit()


def test_page_and_dashboard_queries_are_the_same_for_10_and_10000_messages(
    app, pair, count_queries
):
    brand = as_user(app, pair.owner)
    bulk_messages(app, pair.workroom_id, pair.creator.id, 10)
    counts = {}
    for size in (10, 10_000):
        if size == 10_000:
            bulk_messages(app, pair.workroom_id, pair.creator.id, 10_000 - 10)
        for path in (f"/workrooms/{pair.workroom_id}", "/"):
            with count_queries() as statements:
                assert brand.client.get(path).status_code == 200
            counts[(path, size)] = len(statements)
    assert (
        counts[(f"/workrooms/{pair.workroom_id}", 10)]
        == counts[(f"/workrooms/{pair.workroom_id}", 10_000)]
    )
    assert counts[("/", 10)] == counts[("/", 10_000)]


def test_dashboard_queries_do_not_grow_with_workrooms(app, pair, count_queries):
    from portal.accounts.models import Brand
    from portal.workrooms.services import open_workroom
    from tests import factories

    creator = as_user(app, pair.creator)
    post(as_user(app, pair.owner), pair, "Hello")

    def dashboard_queries():
        with count_queries() as statements:
            assert creator.client.get("/").status_code == 200
        return len(statements)

    one = dashboard_queries()
    with app.app_context():
        me = db.session.get(Workroom, pair.workroom_id).creator
        for _ in range(4):
            owner = factories.user()
            room = open_workroom(db.session.get(Brand, owner.memberships[0].brand_id), me, owner)
            post_message_as(room, me, "Hi")
        db.session.commit()
    assert dashboard_queries() == one


def post_message_as(workroom, user, text):
    from portal.workrooms.access import seat_of
    from portal.workrooms.services import post_message

    return post_message(seat_of(user, workroom), user, text)
