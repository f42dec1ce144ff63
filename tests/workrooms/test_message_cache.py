"""Rendered log entries are cached (portal/workrooms/message_cache.py) without going stale or
leaking: edits, deletes, renames and time zones show at once; notes and actions stay per viewer."""

import re

from sqlalchemy import select, update

from portal.accounts.models import User
from portal.extensions import db
from portal.workrooms.models import Message
from tests.workrooms.test_message_log import as_user, messages, post

CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')


def page(browser, pair):
    """The workroom page as text."""
    return browser.client.get(f"/workrooms/{pair.workroom_id}").get_data(as_text=True)


def entry(html, message_id):
    """The <li> of one message in a page."""
    match = re.search(
        rf'<li id="message-{message_id}".*?</li>\s*(?=<li id="message-|</ol>)', html, re.S
    )
    assert match, f"message {message_id} not on the page"
    return match.group(0)


def cache_size(app):
    """How many rendered entries the app's cache holds."""
    return len(app.extensions["message_cache"])


def test_page_entries_come_from_the_cache_the_second_time(app, pair):
    creator = as_user(app, pair.creator)
    post(creator, pair, "Cached hello")
    message = messages(app)[0]
    first = entry(page(creator, pair), message.id)
    held = cache_size(app)
    assert held >= 1
    # Same markup (the delete form's token aside, which is filled in per request) ...
    assert CSRF_FIELD.sub("", entry(page(creator, pair), message.id)) == CSRF_FIELD.sub("", first)
    assert cache_size(app) == held  # ... and no new entries


def test_an_edit_is_shown_at_once(app, pair):
    creator, brand = as_user(app, pair.creator), as_user(app, pair.owner)
    post(creator, pair, "Original words")
    assert "Original words" in page(brand, pair)
    message = messages(app)[0]
    creator.post(
        f"/workrooms/{pair.workroom_id}/messages/{message.id}/edit",
        {"body": "Better words"},
    )
    html = page(brand, pair)
    assert "Better words" in html and "Original words" not in html
    assert ">edited</a>" in entry(html, message.id)


def test_a_delete_is_shown_at_once(app, pair):
    creator, brand = as_user(app, pair.creator), as_user(app, pair.owner)
    post(creator, pair, "Soon gone")
    assert "Soon gone" in page(brand, pair)
    message = messages(app)[0]
    creator.post(f"/workrooms/{pair.workroom_id}/messages/{message.id}/delete")
    html = page(brand, pair)
    assert "Soon gone" not in html
    assert "Message deleted" in entry(html, message.id)


def test_a_new_reply_count_is_shown_at_once(app, pair):
    creator, brand = as_user(app, pair.creator), as_user(app, pair.owner)
    post(creator, pair, "Thread starter")
    root = messages(app)[0]
    assert "Reply in thread" in entry(page(brand, pair), root.id)
    post(brand, pair, "A reply", parent_id=str(root.id))
    assert "1 reply" in entry(page(brand, pair), root.id)


def test_an_author_rename_is_shown_at_once(app, pair):
    creator, brand = as_user(app, pair.creator), as_user(app, pair.owner)
    post(creator, pair, "Who wrote this?")
    message = messages(app)[0]
    assert "Cora Creator" in entry(page(brand, pair), message.id)
    with app.app_context():
        db.session.execute(update(User).where(User.id == pair.creator.id).values(name="Cora New"))
        db.session.commit()
    assert "Cora New" in entry(page(brand, pair), message.id)


def test_times_follow_each_viewers_time_zone(app, pair):
    creator, brand = as_user(app, pair.creator), as_user(app, pair.owner)
    post(creator, pair, "What time is it?")
    message = messages(app)[0]
    with app.app_context():
        db.session.execute(
            update(User).where(User.id == pair.owner.id).values(timezone="Asia/Kolkata")
        )
        db.session.commit()
        created = db.session.get(Message, message.id).created_at
    # UTC and UTC+05:30 never show the same minutes.
    shown = created.strftime("%H:%M</time>")
    assert shown in entry(page(creator, pair), message.id)
    assert shown not in entry(page(brand, pair), message.id)


def test_internal_note_never_reaches_the_other_side_through_the_cache(app, pair):
    manager, viewer = as_user(app, pair.manager), as_user(app, pair.viewer)
    creator = as_user(app, pair.creator)
    post(manager, pair, "Budget is tight, keep it quiet", internal="y")
    post(creator, pair, "Public line")
    # Both brand members render (and so cache) the note first.
    assert "Budget is tight" in page(manager, pair)
    assert "Budget is tight" in page(viewer, pair)
    assert "Budget is tight" not in page(creator, pair)
    poll = creator.client.get(f"/workrooms/{pair.workroom_id}/poll?since=0&upto=0")
    assert "Budget is tight" not in poll.get_data(as_text=True)
    note = next(m for m in messages(app) if m.is_note)
    search = creator.client.get(f"/workrooms/{pair.workroom_id}/messages/{note.id}")
    assert search.status_code == 404


def test_edit_and_delete_show_only_for_the_author_who_can_write(app, pair):
    owner, manager = as_user(app, pair.owner), as_user(app, pair.manager)
    post(owner, pair, "Mine to change")
    message = messages(app)[0]
    edit_link = f"/workrooms/{pair.workroom_id}/messages/{message.id}/edit"
    assert edit_link in entry(page(owner, pair), message.id)  # cached for the author
    assert edit_link not in entry(page(manager, pair), message.id)
    assert edit_link not in entry(page(as_user(app, pair.viewer), pair), message.id)


def test_cached_delete_forms_carry_each_viewers_own_token(app, pair):
    owner = as_user(app, pair.owner)
    post(owner, pair, "First")
    post(owner, pair, "Second")
    other_browser = as_user(app, pair.owner)  # the same person signed in elsewhere
    ids = [m.id for m in messages(app)]
    for browser, message_id in zip((owner, other_browser), ids, strict=True):
        html = page(browser, pair)
        assert "csrf-placeholder" not in html
        tokens = set(CSRF_FIELD.findall(html))
        assert len(tokens) == 1  # every form of the page: the viewer's one token
        response = browser.client.post(
            f"/workrooms/{pair.workroom_id}/messages/{message_id}/delete",
            data={"csrf_token": tokens.pop()},
        )
        assert response.status_code == 302
    with app.app_context():
        deleted = db.session.scalars(select(Message).where(Message.deleted_at.is_not(None))).all()
    assert len(deleted) == 2
