"""Demo stories of how contracts end: Rae's contract in its renewal window (with results
and a renewal pack), Dev's pilot closed out partially completed, and Sam's exit with Lee
taking over the remaining work. Each workroom's events are written in time order, so its
log and audit chain read as they happened."""

from datetime import timedelta

from flask import current_app
from sqlalchemy import select

from portal.accounts.models import Platform
from portal.campaigns import services as campaign_services
from portal.campaigns.models import Campaign, CampaignStatus
from portal.closeouts import services as closeout_services
from portal.contracts import services as contract_services
from portal.contracts.models import DeliverableKind
from portal.contracts.queries import contracts_of
from portal.contracts.terms import LineTerms, Terms
from portal.deliverables import services as deliverable_services
from portal.deliverables.models import Deliverable, ReviewDecision
from portal.escrow import services as escrow_services
from portal.escrow.models import Milestone, Payout, PayoutState
from portal.escrow.providers import get_provider
from portal.exits import services as exit_services
from portal.exits.models import ExitReason
from portal.extensions import db
from portal.reports import services as report_services
from portal.workrooms.access import seat_of
from portal.workrooms.services import open_workroom, post_message

AUTUMN_CAMPAIGN = "Autumn Ridge 2026"
REELS = ("Ridge sunrise reel", "Rain-shell field test reel", "First snow reel")


def _terms(title, text, starts_on, ends_on, lines, **settings):
    """Demo terms in USD."""
    return Terms(
        title=title,
        terms_md=text,
        starts_on=starts_on,
        ends_on=ends_on,
        currency="USD",
        lines=tuple(LineTerms(*line) for line in lines),
        **settings,
    )


def _activate(campaign, workroom, owner, creator, terms, *, now):
    """The brand proposes the terms and the creator accepts them an hour later."""
    contract = contract_services.create_contract(
        seat_of(owner, workroom), owner, campaign, terms, now=now
    )
    contract_services.accept_version(
        contract,
        creator,
        seat_of(creator, workroom),
        contract.latest_version.sha256,
        now=now + timedelta(hours=1),
    )
    return contract


def _deliverables(contract):
    """The contract's deliverables by position."""
    return db.session.scalars(
        select(Deliverable)
        .where(Deliverable.contract_id == contract.id)
        .order_by(Deliverable.position)
    ).all()


def _deliver(deliverable, owner, creator, *, sent, approved, decision=ReviewDecision.approve):
    """The creator submits a revision at `sent`; the brand reviews it at `approved`."""
    workroom = deliverable.workroom
    revision = deliverable_services.submit_revision(
        deliverable,
        creator,
        seat_of(creator, workroom),
        f"Here is **{deliverable.title}**: cut, captioned and disclosed (#ad).",
        links=["https://example.com/drafts/" + str(deliverable.id)],
        now=sent,
    )
    feedback = "" if decision is ReviewDecision.approve else "Lead with the trail, not the gear."
    deliverable_services.review_revision(
        revision, owner, seat_of(owner, workroom), decision, feedback=feedback, now=approved
    )


def _go_live_with_results(deliverable, creator, *, live, measured, figures):
    """The deliverable goes live and the creator records its results a week later."""
    seat = seat_of(creator, deliverable.workroom)
    deliverable_services.record_go_live(
        deliverable,
        creator,
        seat,
        f"https://instagram.example/p/{deliverable.id}",
        live.date(),
        now=live,
    )
    # The figures of the day before: that day is over wherever the creator lives.
    report_services.record_results(
        deliverable, creator, seat, measured.date() - timedelta(days=1), figures, now=measured
    )


def _settle(contract, *, now):
    """What the payouts worker does, played at `now`: settle what is releasable, pay it."""
    escrow_services.check_milestones_of(contract.id, now=now)
    made = db.session.scalars(select(Milestone).where(Milestone.contract_id == contract.id)).all()
    escrow_services.settle_milestones(made, now=now, send=False)
    waiting = db.session.scalars(
        select(Payout)
        .where(Payout.milestone_id.in_([m.id for m in made]), Payout.state == PayoutState.pending)
        .order_by(Payout.id)
    ).all()
    escrow_services.send_payouts(waiting, get_provider(), now=now)


def _milestone(contract, owner, title, amount, deliverables, *, now):
    """A milestone on the deliverables, added and funded by the brand."""
    seat = seat_of(owner, contract.workroom)
    milestone = escrow_services.add_milestone(
        contract, owner, seat, title, amount, deliverables=deliverables, now=now
    )
    escrow_services.fund_milestone(milestone, owner, seat, get_provider(), now=now)
    return milestone


def _results(reach, likes):
    """A plausible set of figures for a reel reaching `reach` people."""
    return {
        "reach": reach,
        "impressions": reach * 13 // 10,
        "views": reach * 11 // 10,
        "likes": likes,
        "comments": likes // 18,
        "shares": likes // 9,
        "saves": likes // 6,
        "clicks": reach // 90,
        "conversions": reach // 2400,
    }


# Rae: a contract in its renewal window ----------------------------------------------------


def renewal_story(brand, owner, rae, *, now):
    """Autumn Ridge: Rae's three reels delivered (one late), live with results and paid;
    the term auto-renews in 40 days and notice is due in 10, so the renewal pack is open
    and waits for the brand's decision."""
    if db.session.scalar(select(Campaign).where(Campaign.name == AUTUMN_CAMPAIGN)):
        return
    start = now - timedelta(days=170)
    campaign = campaign_services.create_campaign(
        brand,
        owner,
        name=AUTUMN_CAMPAIGN,
        starts_on=start.date(),
        ends_on=now.date() + timedelta(days=60),
        budget_minor=1_500_000,
        currency="USD",
        brief_md="Autumn colours on the ridge trails with the **Ridgeline** jacket.\n\n"
        "- Golden hour, real weather\n- #ad in the first line",
        now=start,
    )
    campaign_services.change_campaign_status(campaign, owner, CampaignStatus.active, now=start)
    invitation = campaign_services.invite_creator(
        campaign, owner, rae, current_app.config["INVITATION_TTL"], now=start
    )
    campaign_services.accept_invitation(invitation, rae, now=start + timedelta(hours=1))
    workroom = open_workroom(brand, rae, owner)
    due = [start + timedelta(days=d) for d in (30, 75, 120)]
    lines = [
        (title, DeliverableKind.reel, Platform.instagram, when.date(), 150_000)
        for title, when in zip(REELS, due, strict=True)
    ]
    terms = _terms(
        "Autumn Ridge reels",
        "Three reels over the season; the brand may reuse them on its channels for 6 months.",
        start.date(),
        now.date() + timedelta(days=40),
        lines,
        auto_renew=True,
        renewal_notice_days=30,
        kill_fee_percent=20,
    )
    contract = _activate(campaign, workroom, owner, rae, terms, now=start + timedelta(hours=2))
    sunrise, shell, snow = _deliverables(contract)
    _milestone(
        contract,
        owner,
        "All three reels approved",
        450_000,
        [sunrise, shell, snow],
        now=start + timedelta(hours=4),
    )
    day = timedelta(days=1)
    _deliver(sunrise, owner, rae, sent=due[0] - 2 * day, approved=due[0] - day)
    _go_live_with_results(
        sunrise, rae, live=due[0] + day, measured=due[0] + 8 * day, figures=_results(58_000, 4_100)
    )
    _deliver(
        shell,
        owner,
        rae,
        sent=due[1] - day,
        approved=due[1],
        decision=ReviewDecision.request_changes,
    )
    _deliver(shell, owner, rae, sent=due[1] + 2 * day, approved=due[1] + 3 * day)
    _go_live_with_results(
        shell,
        rae,
        live=due[1] + 4 * day,
        measured=due[1] + 11 * day,
        figures=_results(71_500, 5_600),
    )
    _deliver(snow, owner, rae, sent=due[2] + 2 * day, approved=due[2] + 3 * day)
    _settle(contract, now=due[2] + 3 * day + timedelta(hours=1))
    _go_live_with_results(
        snow,
        rae,
        live=due[2] + 4 * day,
        measured=due[2] + 11 * day,
        figures=_results(66_000, 4_900),
    )
    post_message(
        seat_of(rae, workroom),
        rae,
        "Loved this season. The snow reel is still getting saves! Happy to talk about winter.",
        now=now - timedelta(days=2),
    )


# Dev: a pilot closed out with work unfinished ----------------------------------------------


def partial_completion_story(campaign, owner, dev, *, now):
    """Dev's Camp Kitchen pilot: one short approved, the chili video sent back for changes,
    one short not started; Dev had to stop, the brand proposed a close-out and Dev accepted
    it, so the pilot ended partially completed with a pro-rata settlement."""
    workroom = open_workroom(campaign.brand, dev, owner)
    start = now - timedelta(days=30)
    day = timedelta(days=1)
    lines = [
        (
            "Stove unboxing short",
            DeliverableKind.reel,
            Platform.youtube,
            (start + 9 * day).date(),
            60_000,
        ),
        (
            "One-pot trail chili video",
            DeliverableKind.video,
            Platform.youtube,
            (start + 19 * day).date(),
            180_000,
        ),
        (
            "Campfire coffee short",
            DeliverableKind.reel,
            Platform.youtube,
            (now + 9 * day).date(),
            60_000,
        ),
    ]
    terms = _terms(
        "Camp Kitchen pilot",
        "A three-piece pilot before a longer partnership.",
        start.date(),
        start.date() + timedelta(days=90),
        lines,
        kill_fee_percent=25,
    )
    contract = _activate(campaign, workroom, owner, dev, terms, now=start)
    unboxing, chili, coffee = _deliverables(contract)
    _milestone(
        contract,
        owner,
        "Both shorts approved",
        120_000,
        [unboxing, coffee],
        now=start + timedelta(hours=2),
    )
    _milestone(
        contract, owner, "Chili video approved", 180_000, [chili], now=start + timedelta(hours=3)
    )
    due_unboxing, due_chili = (start + 9 * day, start + 19 * day)
    _deliver(unboxing, owner, dev, sent=due_unboxing - day, approved=due_unboxing)
    _deliver(
        chili,
        owner,
        dev,
        sent=due_chili - day,
        approved=due_chili,
        decision=ReviewDecision.request_changes,
    )
    post_message(
        seat_of(dev, workroom),
        dev,
        "I'm sorry, a family matter means I have to stop the pilot here.",
        now=now - 4 * day,
    )
    closeout = closeout_services.propose_closeout(
        contract,
        owner,
        seat_of(owner, workroom),
        "Dev has to stop; we settle the pilot as it stands.",
        now=now - 3 * day,
    )
    closeout_services.accept_closeout(closeout, dev, seat_of(dev, workroom), now=now - 2 * day)


# Sam leaves, Lee takes over ----------------------------------------------------------------


def exit_story(campaign, owner, sam, lee, *, now):
    """Sam delivered a story set, then withdrew for an expedition: the brand started the
    exit with the reel and carousel marked for reassignment, the notice ran out, the
    close-out settled, Lee accepted the invitation to take over (the carried-over contract
    waits for Lee's acceptance) and the brand wrote the post-exit analysis."""
    workroom = open_workroom(campaign.brand, sam, owner)
    if contracts_of(workroom):
        return
    day = timedelta(days=1)
    start = now - 30 * day
    lines = [
        (
            "Crag day story set",
            DeliverableKind.story,
            Platform.instagram,
            (start + 7 * day).date(),
            50_000,
        ),
        (
            "Approach-shoe reel",
            DeliverableKind.reel,
            Platform.instagram,
            (now + 5 * day).date(),
            150_000,
        ),
        (
            "Bouldering carousel",
            DeliverableKind.post,
            Platform.instagram,
            (now + 20 * day).date(),
            80_000,
        ),
    ]
    terms = _terms(
        "Spring Trails climbing",
        "Climbing content in the Trailhead shoes: a story set, a reel and a carousel.",
        start.date(),
        start.date() + timedelta(days=120),
        lines,
        termination_notice_days=14,
    )
    contract = _activate(campaign, workroom, owner, sam, terms, now=start)
    stories, reel, carousel = _deliverables(contract)
    _milestone(
        contract, owner, "Story set approved", 50_000, [stories], now=start + timedelta(hours=2)
    )
    _milestone(
        contract,
        owner,
        "Reel and carousel approved",
        230_000,
        [reel, carousel],
        now=start + timedelta(hours=3),
    )
    due_stories = start + 7 * day
    _deliver(stories, owner, sam, sent=due_stories - day, approved=due_stories)
    _settle(contract, now=due_stories + timedelta(hours=1))
    post_message(
        seat_of(sam, workroom),
        sam,
        "Big news and bad timing: I've been offered a season-long expedition and have to"
        " step back from the reel and the carousel.",
        now=now - 21 * day,
    )
    exit = exit_services.start_exit(
        contract,
        owner,
        seat_of(owner, workroom),
        ExitReason.creator_withdraws.value,
        "Sam leaves for an expedition; we hand the reel and the carousel to someone else.",
        reassign=[reel.id, carousel.id],
        now=now - 20 * day,
    )
    closeout = exit_services.end_notice(exit, now=now - 6 * day)
    closeout_services.accept_closeout(closeout, sam, seat_of(sam, workroom), now=now - 5 * day)
    exit_services.close_exit(exit, now=now - 5 * day + timedelta(hours=1))
    invitation = exit_services.invite_replacement(
        exit,
        owner,
        lee,
        current_app.config["INVITATION_TTL"],
        message="Sam had to leave mid-campaign: would you take over a reel and a carousel?",
        now=now - 4 * day,
    )
    campaign_services.accept_invitation(invitation, lee, now=now - 3 * day)
    exit_services.record_analysis(
        exit,
        owner,
        seat_of(owner, workroom),
        ExitReason.creator_withdraws.value,
        ["availability", "schedule"],
        "Ask about the creator's season plans before booking work late in the campaign.",
        now=now - 2 * day,
    )
