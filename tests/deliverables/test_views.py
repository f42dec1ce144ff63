"""Deliverable pages through the client: forms without JS, refusals keep input, fragments."""

import io

import pytest
from sqlalchemy import select

from portal.accounts.models import User
from portal.deliverables import services
from portal.deliverables.models import (
    Deliverable,
    DeliverableStatus,
    ReviewDecision,
    Revision,
    RevisionState,
)
from portal.extensions import db
from tests.contracts.conftest import seat


def page_of(active, n=0):
    return f"/workrooms/{active.workroom_id}/deliverables/{active.deliverable_ids[n]}"


def status_of(app, deliverable_id):
    with app.app_context():
        return db.session.get(Deliverable, deliverable_id).status


def submit(web, active, text, **fields):
    page = page_of(active)
    data = {"text": text, "links": "", **fields}
    return web.post(f"{page}/revisions", data, token_from=page)


def review(web, active, number, decision, feedback="", internal=""):
    page = page_of(active)
    data = {
        "revision": str(number),
        "decision": decision,
        "feedback": feedback,
        "internal": internal,
    }
    return web.post(f"{page}/review", data, token_from=page)


def test_the_workroom_lists_its_deliverables_as_a_fragment_for_htmx(web, active):
    web.login(active.pair.creator.email)
    url = f"/workrooms/{active.workroom_id}/deliverables"
    full = web.client.get(url)
    fragment = web.client.get(url, headers={"HX-Request": "true"})
    assert full.status_code == fragment.status_code == 200
    assert "<html" in full.get_data(as_text=True)
    body = fragment.get_data(as_text=True)
    assert "<html" not in body and 'id="deliverable-list"' in body
    assert "Trail video" in body and "Trail story" in body and "Pending" in body
    assert "HX-Request" in fragment.headers["Vary"]
    workroom = web.client.get(f"/workrooms/{active.workroom_id}").get_data(as_text=True)
    assert f'hx-get="{url}"' in workroom  # the section loads the list


def test_submit_request_changes_resubmit_approve_with_corrections(web, active, app):
    web.login(active.pair.creator.email)
    page = web.client.get(page_of(active)).get_data(as_text=True)
    assert "Submit revision 1" in page and "#ad disclosure" in page
    response = submit(
        web,
        active,
        "First cut of the **caption** #ad",
        links="https://example.com/draft-1",
        checklist=["#ad disclosure"],
        files=(io.BytesIO(b"storyboard"), "storyboard.txt"),
    )
    assert response.status_code == 303, response.get_data(as_text=True)
    web.logout()

    web.login(active.pair.owner.email)
    page = web.client.get(page_of(active)).get_data(as_text=True)
    assert "Review revision 1" in page and "Auto-approves" in page and "storyboard.txt" in page
    response = review(web, active, 1, "request_changes", "Tag @northwind.", "Legal wants the tag.")
    assert response.status_code == 303
    web.logout()

    web.login(active.pair.creator.email)
    page = web.client.get(page_of(active)).get_data(as_text=True)
    assert "Tag @northwind." in page and "Legal wants the tag." not in page  # brand-only
    assert "1 of 2 change-request rounds used" in page
    assert submit(web, active, "Second cut #ad @northwind").status_code == 303
    web.logout()

    web.login(active.pair.owner.email)
    response = review(web, active, 2, "approve_with_corrections", "Use the spring logo.")
    assert response.status_code == 303
    page = web.client.get(page_of(active)).get_data(as_text=True)
    assert "Legal wants the tag." in page and "Approve with corrections" in page
    compare = web.client.get(f"{page_of(active)}/compare?old=1&new=2").get_data(as_text=True)
    assert "First cut of the **caption** #ad" in compare and "Second cut #ad @northwind" in compare
    assert status_of(app, active.deliverable_ids[0]) is DeliverableStatus.approved


def test_refused_input_stays_in_the_form_with_a_message_by_the_field(web, active, app):
    web.login(active.pair.creator.email)
    response = submit(web, active, "My caption draft", links="javascript:alert(1)")
    body = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "not a web link" in body and "My caption draft" in body
    assert status_of(app, active.deliverable_ids[0]) is DeliverableStatus.pending
    web.logout()

    with app.app_context():
        creator = db.session.get(User, active.pair.creator.id)
        deliverable = db.session.get(Deliverable, active.deliverable_ids[0])
        services.submit_revision(deliverable, creator, seat(creator.id, active.workroom_id), "v1")
        db.session.commit()
    web.login(active.pair.owner.email)
    response = review(web, active, 1, "request_changes", "", "Note to self")
    body = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "Say what should change." in body and "Note to self" in body


def test_a_stale_review_of_an_old_revision_is_refused(web, active, app):
    with app.app_context():
        creator = db.session.get(User, active.pair.creator.id)
        owner = db.session.get(User, active.pair.owner.id)
        deliverable = db.session.get(Deliverable, active.deliverable_ids[0])
        maker, brand = seat(creator.id, active.workroom_id), seat(owner.id, active.workroom_id)
        first = services.submit_revision(deliverable, creator, maker, "v1")
        services.review_revision(first, owner, brand, ReviewDecision.request_changes, feedback="x")
        services.submit_revision(deliverable, creator, maker, "v2")
        db.session.commit()
    web.login(active.pair.owner.email)
    response = review(web, active, 1, "approve")
    assert response.status_code == 409
    assert "already reviewed" in response.get_data(as_text=True)
    with app.app_context():
        second = db.session.scalar(select(Revision).where(Revision.number == 2))
        assert second.state is RevisionState.in_review


def test_extension_asked_by_the_creator_and_accepted_by_the_brand(web, active, app):
    web.login(active.pair.creator.email)
    page = page_of(active)
    data = {"ext-new_date": "2030-04-10", "ext-new_time": "18:00", "ext-reason": "Rain delay"}
    assert web.post(f"{page}/extensions", data, token_from=page).status_code == 303
    web.logout()
    web.login(active.pair.owner.email)
    html = web.client.get(page).get_data(as_text=True)
    assert "Rain delay" in html and "Accept the new date" in html
    with app.app_context():
        request_id = db.session.scalar(
            select(services.ExtensionRequest.id).where(
                services.ExtensionRequest.deliverable_id == active.deliverable_ids[0]
            )
        )
    url = f"{page}/extensions/{request_id}/answer"
    assert web.post(url, {"answer": "accept"}, token_from=page).status_code == 303
    with app.app_context():
        due = db.session.get(Deliverable, active.deliverable_ids[0]).due_at
        assert (due.month, due.day, due.hour) == (4, 10, 18)  # the factory's users are on UTC


@pytest.mark.parametrize("role", ["creator", "viewer"])
def test_brand_only_actions_are_forbidden_to_the_creator_and_viewers(web, active, app, role):
    email = getattr(active.pair, role).email
    web.login(email)
    page = page_of(active)
    response = web.post(f"{page}/waive", {"waive-reason": "No"}, token_from=page)
    assert response.status_code == 403
    assert status_of(app, active.deliverable_ids[0]) is DeliverableStatus.pending


def test_the_deliverable_page_costs_the_same_queries_with_more_revisions(
    web, active, app, count_queries
):
    with app.app_context():
        creator = db.session.get(User, active.pair.creator.id)
        deliverable = db.session.get(Deliverable, active.deliverable_ids[0])
        maker = seat(creator.id, active.workroom_id)
        services.submit_revision(deliverable, creator, maker, "v1")
        db.session.commit()
    web.login(active.pair.owner.email)
    with count_queries() as few:
        assert web.client.get(page_of(active)).status_code == 200
    with app.app_context():
        creator = db.session.get(User, active.pair.creator.id)
        owner = db.session.get(User, active.pair.owner.id)
        maker, brand = seat(creator.id, active.workroom_id), seat(owner.id, active.workroom_id)
        deliverable = db.session.get(Deliverable, active.deliverable_ids[0])
        deliverable.extra_rounds = 5
        for n in range(4):
            revision = db.session.scalars(
                select(Revision).where(Revision.state == RevisionState.in_review)
            ).one()
            services.review_revision(
                revision, owner, brand, ReviewDecision.request_changes, feedback=f"round {n}"
            )
            services.submit_revision(deliverable, creator, maker, f"v{n + 2}")
        db.session.commit()
    with count_queries() as many:
        assert web.client.get(page_of(active)).status_code == 200
    assert len(many) == len(few)


def test_the_workroom_header_says_whose_turn_a_deliverable_is(web, active, app):
    web.login(active.pair.owner.email)
    page = web.client.get(f"/workrooms/{active.workroom_id}").get_data(as_text=True)
    assert "Trail video" not in page.split('aria-label="Whose turn it is"')[1].split("</div>")[0]
    with app.app_context():
        creator = db.session.get(User, active.pair.creator.id)
        deliverable = db.session.get(Deliverable, active.deliverable_ids[0])
        services.submit_revision(deliverable, creator, seat(creator.id, active.workroom_id), "v1")
        db.session.commit()
    page = web.client.get(f"/workrooms/{active.workroom_id}").get_data(as_text=True)
    turn = page.split('aria-label="Whose turn it is"')[1].split("</div>")[0]
    assert "Waiting on the brand (you):</strong> Review revision 1 of Trail video" in turn
    overview = web.client.get("/workrooms").get_data(as_text=True)
    assert "Review revision 1 of Trail video" in overview
