"""Calendar reads: events land on the right local day, filters narrow, brands stay apart."""

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from portal.accounts.models import AccountKind, User
from portal.campaigns.models import Campaign
from portal.contracts import services as contract_services
from portal.deliverables import services as deliverable_services
from portal.deliverables.models import Deliverable, DeliverableStatus
from portal.extensions import db
from portal.scheduling import queries
from portal.scheduling.queries import EventKind, Filters, Window
from tests import factories
from tests.contracts.conftest import seat, seed_pair
from tests.scheduling.samples import calendar_terms

SPRING = (date(2030, 2, 1), date(2030, 7, 31))  # every sample date falls inside


def window(zone="UTC", first=SPRING[0], last=SPRING[1]):
    return Window(first, last, ZoneInfo(zone))


def events_of(user_id, win=None, **filters):
    user = db.session.get(User, user_id)
    return queries.events_for(user, win or window(user.timezone), Filters(**filters))


def days(events, zone="UTC"):
    """{(kind, title): local date}."""
    return {(e.kind, e.title): e.day(ZoneInfo(zone)) for e in events}


def test_deliverables_and_contract_dates_land_on_their_days(app_ctx, ours):
    found = days(events_of(ours.pair.owner.id))
    assert found == {
        (EventKind.deliverable_due, "Trail video"): date(2030, 3, 20),
        (EventKind.deliverable_due, "Trail story"): date(2030, 4, 2),
        (EventKind.contract_starts, "Spring Trails"): date(2030, 3, 1),
        (EventKind.contract_ends, "Spring Trails"): date(2030, 5, 31),
        (EventKind.renewal, "Spring Trails"): date(2030, 6, 15),
        (EventKind.renewal_notice, "Spring Trails"): date(2030, 5, 16),
    }


def test_a_due_time_falls_on_the_next_day_for_a_user_east_of_utc(app_ctx, ours):
    # Due 20 Mar 2030 23:59 UTC is 21 Mar 08:59 in Tokyo; contract dates are whole days.
    db.session.get(User, ours.pair.owner.id).timezone = "Asia/Tokyo"
    events = events_of(ours.pair.owner.id)
    video = next(e for e in events if e.title == "Trail video")
    assert video.at == datetime(2030, 3, 20, 23, 59, tzinfo=UTC)
    assert video.day(ZoneInfo("Asia/Tokyo")) == date(2030, 3, 21)
    starts = next(e for e in events if e.kind is EventKind.contract_starts)
    assert (starts.at, starts.day(ZoneInfo("Asia/Tokyo"))) == (None, date(2030, 3, 1))


def test_a_window_holds_the_moments_of_its_local_days_only(app_ctx, ours):
    tokyo_21 = window("Asia/Tokyo", date(2030, 3, 21), date(2030, 3, 21))
    utc_21 = window("UTC", date(2030, 3, 21), date(2030, 3, 21))
    assert [e.title for e in events_of(ours.pair.owner.id, tokyo_21)] == ["Trail video"]
    assert events_of(ours.pair.owner.id, utc_21) == []


def test_events_come_in_day_order_with_whole_days_first(app_ctx, ours):
    events = events_of(ours.pair.owner.id)
    zone = ZoneInfo("UTC")
    assert events == sorted(events, key=lambda e: e.sort_key(zone))
    assert events[0].kind is EventKind.contract_starts


def test_a_revision_in_review_shows_its_auto_approve_deadline(app_ctx, ours):
    creator = db.session.get(User, ours.pair.creator.id)
    video = db.session.get(Deliverable, ours.deliverable_ids[0])
    submitted = datetime(2030, 3, 15, 10, 0, tzinfo=UTC)
    deliverable_services.submit_revision(
        video, creator, seat(creator.id, ours.workroom_id), "Caption #ad", now=submitted
    )
    events = events_of(ours.pair.owner.id)
    deadline = next(e for e in events if e.kind is EventKind.auto_approve)
    assert deadline.at == datetime(2030, 3, 20, 10, 0, tzinfo=UTC)  # five days later
    assert (deadline.title, deadline.tone) == ("Trail video (revision 1)", "submitted")
    assert deadline.uid == f"revision-{video.revisions[0].id}-auto-approve@duet"


def test_a_proposed_contract_is_not_on_the_calendar(app, app_ctx):
    pair = seed_pair(app)
    owner = db.session.get(User, pair.owner.id)
    contract_services.create_contract(
        seat(owner.id, pair.workroom_id),
        owner,
        db.session.get(Campaign, pair.campaign_id),
        calendar_terms(),
    )
    db.session.commit()
    assert events_of(pair.owner.id) == []
    assert events_of(pair.creator.id) == []


def test_renewal_dates_leave_the_calendar_when_the_contract_ends(app_ctx, ours):
    from portal.contracts.models import Contract, ContractStatus

    db.session.get(Contract, ours.contract_id).status = ContractStatus.completed
    kinds = {e.kind for e in events_of(ours.pair.owner.id)}
    assert EventKind.contract_starts in kinds and EventKind.contract_ends in kinds
    assert EventKind.renewal not in kinds and EventKind.renewal_notice not in kinds


def test_cancelled_deliverables_show_only_when_asked_for(app_ctx, ours):
    db.session.get(Deliverable, ours.deliverable_ids[1]).status = DeliverableStatus.cancelled
    titles = [e.title for e in events_of(ours.pair.owner.id)]
    assert "Trail story" not in titles
    cancelled = events_of(ours.pair.owner.id, status=DeliverableStatus.cancelled)
    assert [e.title for e in cancelled] == ["Trail story"]


def test_the_status_filter_keeps_matching_deliverables_only(app_ctx, ours):
    db.session.get(Deliverable, ours.deliverable_ids[0]).status = DeliverableStatus.missed
    missed = events_of(ours.pair.owner.id, status=DeliverableStatus.missed)
    assert [(e.title, e.tone) for e in missed] == [("Trail video", "missed")]
    assert events_of(ours.pair.owner.id, status=DeliverableStatus.approved) == []


def test_campaign_and_creator_filters_narrow_every_source(app, app_ctx, ours):
    owner = ours.pair.owner.id
    assert len(events_of(owner, campaign_id=ours.pair.campaign_id)) == 6
    assert events_of(owner, campaign_id=ours.pair.campaign_id + 1000) == []
    assert len(events_of(owner, creator_id=ours.pair.creator.id)) == 6
    assert events_of(owner, creator_id=ours.pair.owner.id) == []


def test_another_brands_workrooms_never_appear(app_ctx, ours, theirs):
    for user_id, side in [
        (ours.pair.owner.id, ours),
        (ours.pair.viewer.id, ours),
        (ours.pair.creator.id, ours),
        (theirs.pair.owner.id, theirs),
        (theirs.pair.creator.id, theirs),
    ]:
        events = events_of(user_id)
        assert len(events) == 6
        assert {e.workroom_id for e in events} == {side.workroom_id}
    # Even when the filters name the other brand's campaign or creator.
    assert events_of(ours.pair.owner.id, campaign_id=theirs.pair.campaign_id) == []
    assert events_of(ours.pair.owner.id, creator_id=theirs.pair.creator.id) == []


def test_filter_choices_are_the_users_own(app_ctx, ours, theirs):
    owner = db.session.get(User, ours.pair.owner.id)
    creator = db.session.get(User, ours.pair.creator.id)
    assert queries.campaign_choices(owner) == [(ours.pair.campaign_id, "Spring launch")]
    assert queries.creator_choices(owner) == [(ours.pair.creator.id, "Cora Creator")]
    assert queries.campaign_choices(creator) == [(ours.pair.campaign_id, "Spring launch")]
    assert queries.creator_choices(creator) == []


@pytest.mark.parametrize("kind", [AccountKind.mediator, AccountKind.admin])
def test_staff_see_no_events_until_tickets_bring_them_in(app_ctx, ours, kind):
    staff = factories.user(kind=kind)
    assert queries.events_for(staff, window()) == []


def test_month_window_covers_whole_weeks(app_ctx):
    march = queries.month_window(date(2030, 3, 1), ZoneInfo("UTC"))
    assert (march.first, march.last) == (date(2030, 2, 25), date(2030, 3, 31))
    weeks = queries.month_weeks(date(2030, 3, 1), march, [], date(2030, 3, 20))
    assert len(weeks) == 5 and all(len(week) == 7 for week in weeks)
    assert [d.on for d in weeks[0]][:2] == [date(2030, 2, 25), date(2030, 2, 26)]
    assert not weeks[0][0].in_month and weeks[0][4].in_month
    assert [d.on for week in weeks for d in week if d.is_today] == [date(2030, 3, 20)]
    assert queries.shift_month(date(2030, 1, 1), -1) == date(2029, 12, 1)
    assert queries.shift_month(date(2030, 12, 1), 1) == date(2031, 1, 1)
