"""Results services called directly: the creator's readings and the brand's CSV import."""

from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from portal.accounts.models import AccountKind, User
from portal.audit import AuditEvent, verify_chain
from portal.campaigns.models import Campaign
from portal.deliverables.models import Deliverable
from portal.errors import NotAllowed
from portal.extensions import db
from portal.reports import services
from portal.reports.models import PerformanceResult, ResultSource
from portal.reports.services import ImportRefused, InvalidResults
from portal.workrooms.models import Message, MessageKind
from tests import factories
from tests.contracts.conftest import seat
from tests.reports.conftest import FIGURES, LIVE_ON, NOW, contract_of, csv_bytes, row


@pytest.fixture
def ctx(app_ctx, live):
    """Loaded rows and seats of the live fixture."""

    class Ctx:
        owner = db.session.get(User, live.pair.owner.id)
        creator = db.session.get(User, live.pair.creator.id)
        viewer = db.session.get(User, live.pair.viewer.id)
        brand = seat(live.pair.owner.id, live.workroom_id)
        maker = seat(live.pair.creator.id, live.workroom_id)
        contract = contract_of(live)
        deliverable = db.session.get(Deliverable, live.live_id)
        other = db.session.get(Deliverable, live.other_id)
        campaign = db.session.get(Campaign, live.pair.campaign_id)

    return Ctx


def readings():
    """Every stored reading as (deliverable, day, impressions, source)."""
    return [
        (r.deliverable_id, r.measured_on, r.impressions, r.source)
        for r in db.session.scalars(
            select(PerformanceResult).order_by(
                PerformanceResult.deliverable_id, PerformanceResult.measured_on
            )
        )
    ]


def system_lines():
    """The workroom log's system lines, oldest first."""
    return db.session.scalars(
        select(Message.body_md).where(Message.kind == MessageKind.system).order_by(Message.id)
    ).all()


# The creator records ------------------------------------------------------------------------


def test_the_creator_records_a_reading_with_an_audit_event_and_a_log_line(ctx):
    day = LIVE_ON + timedelta(days=5)
    result = services.record_results(ctx.deliverable, ctx.creator, ctx.maker, day, FIGURES, now=NOW)
    db.session.commit()
    assert readings() == [(ctx.deliverable.id, day, 12000, ResultSource.manual)]
    assert result.engagements == 600 + 40 + 30 + 30
    assert "recorded results for" in system_lines()[-1]
    event = db.session.scalar(select(AuditEvent).order_by(AuditEvent.id.desc()))
    assert event.action == "results.created"
    assert event.data["impressions"] == 12000 and event.data["measured_on"] == day.isoformat()
    assert verify_chain(f"workroom:{ctx.deliverable.workroom_id}") is None


def test_recording_the_same_day_again_corrects_it_and_an_identical_retry_changes_nothing(ctx):
    day = LIVE_ON + timedelta(days=5)
    services.record_results(ctx.deliverable, ctx.creator, ctx.maker, day, FIGURES, now=NOW)
    services.record_results(
        ctx.deliverable, ctx.creator, ctx.maker, day, {**FIGURES, "impressions": 15000}, now=NOW
    )
    lines = len(system_lines())
    services.record_results(
        ctx.deliverable, ctx.creator, ctx.maker, day, {**FIGURES, "impressions": 15000}, now=NOW
    )
    db.session.commit()
    assert readings() == [(ctx.deliverable.id, day, 15000, ResultSource.manual)]
    assert len(system_lines()) == lines
    assert "corrected the results of" in system_lines()[-1]


def test_blank_figures_count_as_zero(ctx):
    result = services.record_results(
        ctx.deliverable,
        ctx.creator,
        ctx.maker,
        LIVE_ON,
        {"impressions": "10", "likes": ""},
        now=NOW,
    )
    assert (result.impressions, result.likes, result.saves) == (10, 0, 0)


@pytest.mark.parametrize(
    ("figures", "message"),
    [
        ({"likes": "-3"}, "Likes can't be negative."),
        ({"views": "1,200"}, "Views must be a whole number"),
        ({"clicks": "2.5"}, "Clicks must be a whole number"),
        ({"reach": "9" * 17}, "Reach is too large."),
    ],
)
def test_bad_figures_are_refused_with_the_figure_named(ctx, figures, message):
    with pytest.raises(InvalidResults, match=message):
        services.record_results(ctx.deliverable, ctx.creator, ctx.maker, LIVE_ON, figures, now=NOW)
    assert readings() == []


@pytest.mark.parametrize(
    ("day", "message"),
    [
        (LIVE_ON - timedelta(days=1), "before “Trail video” went live"),
        (NOW.date() + timedelta(days=1), "can't be in the future"),
    ],
)
def test_dates_before_going_live_or_in_the_future_are_refused(ctx, day, message):
    with pytest.raises(InvalidResults, match=message):
        services.record_results(ctx.deliverable, ctx.creator, ctx.maker, day, FIGURES, now=NOW)


def test_a_deliverable_that_is_not_live_takes_no_results(ctx):
    with pytest.raises(InvalidResults, match="no live post recorded yet"):
        services.record_results(ctx.other, ctx.creator, ctx.maker, LIVE_ON, FIGURES, now=NOW)


def test_only_the_creator_records(ctx):
    with pytest.raises(NotAllowed):
        services.record_results(ctx.deliverable, ctx.owner, ctx.brand, LIVE_ON, FIGURES, now=NOW)
    assert readings() == []


# CSV import ---------------------------------------------------------------------------------------


def test_a_good_file_is_saved_whole_with_a_log_line_per_workroom(ctx):
    d = ctx.deliverable.id
    data = csv_bytes(row(d, "2030-03-25"), row(d, "2030-04-01", impressions=20000))
    summary = services.import_results(ctx.contract, ctx.owner, data, now=NOW)
    db.session.commit()
    assert (summary.created, summary.corrected, summary.unchanged) == (2, 0, 0)
    assert readings() == [
        (d, date(2030, 3, 25), 12000, ResultSource.csv),
        (d, date(2030, 4, 1), 20000, ResultSource.csv),
    ]
    assert "imported 2 reading(s) of results for **Trail video**" in system_lines()[-1]
    actions = db.session.scalars(
        select(AuditEvent.action).where(AuditEvent.action.like("results.%"))
    ).all()
    assert actions == ["results.created", "results.created"]


def test_the_same_file_imported_twice_changes_nothing_the_second_time(ctx):
    data = csv_bytes(row(ctx.deliverable.id, "2030-03-25"))
    services.import_results(ctx.contract, ctx.owner, data, now=NOW)
    summary = services.import_results(ctx.contract, ctx.owner, data, now=NOW)
    assert (summary.created, summary.corrected, summary.unchanged) == (0, 0, 1)
    assert len(readings()) == 1


def test_a_campaign_import_takes_any_of_its_contracts_deliverables(ctx):
    data = csv_bytes(row(ctx.deliverable.id, "2030-03-25"))
    summary = services.import_results(ctx.campaign, ctx.owner, data, now=NOW)
    assert summary.created == 1


def test_extra_columns_are_ignored_and_missing_metric_columns_count_as_zero(ctx):
    data = csv_bytes(
        (ctx.deliverable.id, "2030-03-25", "Trail video", "77"),
        header=("deliverable_id", "measured_on", "deliverable", "likes"),
    )
    services.import_results(ctx.contract, ctx.owner, data, now=NOW)
    result = db.session.scalar(select(PerformanceResult))
    assert (result.likes, result.impressions) == (77, 0)


def problems_of(ctx, data, scope=None):
    """The (line, column, message) problems an import reports; nothing may be saved."""
    with pytest.raises(ImportRefused) as refused:
        services.import_results(scope or ctx.contract, ctx.owner, data, now=NOW)
    db.session.rollback()
    assert readings() == []
    return [(p.line, p.column, p.message) for p in refused.value.problems]


def test_one_bad_row_among_good_ones_saves_nothing_and_every_problem_is_listed(ctx):
    d = ctx.deliverable.id
    data = csv_bytes(
        row(d, "2030-03-25"),
        row(d, "25/03/2030"),
        row(d, "2030-03-26", likes=-4, views="1.5"),
        row(999999, "2030-03-26"),
        row(ctx.other.id, "2030-03-26"),
        row(d, "2030-03-25"),
        row("abc", "2030-03-27"),
        row(d, "2030-03-01"),
        row(d, "2030-05-01"),
    )
    problems = problems_of(ctx, data)
    assert [(line, column) for line, column, _ in problems] == [
        (3, "measured_on"),
        (4, "views"),
        (4, "likes"),
        (5, "deliverable_id"),
        (6, "deliverable_id"),
        (7, "measured_on"),
        (8, "deliverable_id"),
        (9, "measured_on"),
        (10, "measured_on"),
    ]
    messages = dict(((line, column), message) for line, column, message in problems)
    assert messages[(3, "measured_on")] == "“25/03/2030” is not a date (YYYY-MM-DD)."
    assert messages[(4, "likes")] == "Likes can't be negative."
    assert messages[(5, "deliverable_id")] == "There is no deliverable 999999 in this contract."
    assert "no live post recorded yet" in messages[(6, "deliverable_id")]
    assert messages[(7, "measured_on")].startswith("Line 2 already has deliverable")
    assert "is not a deliverable number" in messages[(8, "deliverable_id")]
    assert "before “Trail video” went live" in messages[(9, "measured_on")]
    assert "in the future" in messages[(10, "measured_on")]


def test_a_deliverable_of_a_contract_outside_the_scope_is_named(ctx):
    other_campaign = Campaign(
        brand_id=ctx.campaign.brand_id,
        name="Autumn",
        starts_on=ctx.campaign.starts_on,
        ends_on=ctx.campaign.ends_on,
        budget_minor=1000,
        currency="USD",
        created_by_id=ctx.owner.id,
    )
    db.session.add(other_campaign)
    db.session.commit()
    problems = problems_of(ctx, csv_bytes(row(ctx.deliverable.id, "2030-03-25")), other_campaign)
    assert problems == [
        (
            2,
            "deliverable_id",
            f"Deliverable {ctx.deliverable.id} (“Trail video”) belongs to another campaign;"
            " import it there.",
        )
    ]


def test_another_brands_deliverable_is_not_found(ctx):
    stranger = factories.user(name="Other Owner")
    other_campaign = Campaign(
        brand_id=stranger.memberships[0].brand_id,
        name="Elsewhere",
        starts_on=ctx.campaign.starts_on,
        ends_on=ctx.campaign.ends_on,
        budget_minor=1000,
        currency="USD",
        created_by_id=stranger.id,
    )
    db.session.add(other_campaign)
    db.session.commit()
    with pytest.raises(ImportRefused) as refused:
        services.import_results(
            other_campaign, stranger, csv_bytes(row(ctx.deliverable.id, "2030-03-25")), now=NOW
        )
    assert refused.value.problems[0].message == (
        f"There is no deliverable {ctx.deliverable.id} in this campaign."
    )


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "The file is empty."),
        (b"deliverable_id,measured_on\n", "The file has a header but no rows."),
        (b"measured_on,likes\n2030-03-25,3\n", "The column deliverable_id is missing."),
        (b"\xff\xfe\x00d\x00", "Save the file as CSV in UTF-8."),
        (b"x" * (services.MAX_IMPORT_BYTES + 1), "The file is larger than 1,000 kB."),
        (
            b"deliverable_id,measured_on,likes,likes\n1,2030-03-25,1,2\n",
            "The column likes appears twice.",
        ),
    ],
)
def test_files_that_are_not_the_expected_csv_are_refused_as_a_whole(ctx, data, message):
    problems = problems_of(ctx, data)
    assert message in [m for _, _, m in problems]


def test_too_many_rows_are_refused(ctx, monkeypatch):
    monkeypatch.setattr(services, "MAX_IMPORT_ROWS", 2)
    d = ctx.deliverable.id
    data = csv_bytes(row(d, "2030-03-25"), row(d, "2030-03-26"), row(d, "2030-03-27"))
    assert problems_of(ctx, data) == [(0, "", "A file has at most 2 rows.")]


def test_a_row_longer_than_the_header_is_refused(ctx):
    data = csv_bytes(
        (ctx.deliverable.id, "2030-03-25", 5, 99), header=("deliverable_id", "measured_on", "likes")
    )
    assert problems_of(ctx, data) == [(2, "", "The row has more cells than the header.")]


def test_a_byte_order_mark_and_blank_lines_are_fine(ctx):
    data = b"\xef\xbb\xbf" + csv_bytes(row(ctx.deliverable.id, "2030-03-25")) + b"\n,,\n"
    assert services.import_results(ctx.contract, ctx.owner, data, now=NOW).created == 1


@pytest.mark.parametrize("who", ["viewer", "creator", "outsider"])
def test_only_the_brands_owners_and_managers_import(ctx, who):
    actor = {
        "viewer": ctx.viewer,
        "creator": ctx.creator,
        "outsider": factories.user(kind=AccountKind.brand),
    }[who]
    with pytest.raises(NotAllowed):
        services.import_results(
            ctx.contract, actor, csv_bytes(row(ctx.deliverable.id, "2030-03-25")), now=NOW
        )
    assert readings() == []


def test_a_failure_while_saving_leaves_nothing_behind(ctx, monkeypatch):
    """Even past validation, an error midway rolls the whole import back."""
    d = ctx.deliverable.id
    calls = []
    real = services._audit

    def failing_audit(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("disk full")
        return real(*args, **kwargs)

    monkeypatch.setattr(services, "_audit", failing_audit)
    data = csv_bytes(row(d, "2030-03-25"), row(d, "2030-03-26"))
    with pytest.raises(RuntimeError):
        services.import_results(ctx.contract, ctx.owner, data, now=NOW)
    db.session.rollback()
    assert readings() == []
    assert (
        db.session.scalar(
            select(func.count()).select_from(AuditEvent).where(AuditEvent.action.like("results.%"))
        )
        == 0
    )
