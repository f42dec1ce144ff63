"""Demo data for a first look: `flask --app wsgi seed-demo` (safe to run again)."""

from datetime import timedelta
from io import BytesIO

import click
from flask import current_app
from flask.cli import with_appcontext
from sqlalchemy import select, update
from werkzeug.datastructures import FileStorage

from portal import demo_lifecycle as lifecycle
from portal.accounts import services
from portal.accounts.models import (
    AccountKind,
    Brand,
    BrandMembership,
    BrandRole,
    Platform,
    RateKind,
    User,
)
from portal.campaigns import services as campaign_services
from portal.campaigns.models import Campaign, CampaignInvitation, CampaignStatus
from portal.contracts import services as contract_services
from portal.contracts.models import DeliverableKind
from portal.contracts.queries import contracts_of
from portal.contracts.terms import LineTerms, Terms
from portal.database import utcnow
from portal.deliverables import services as deliverable_services
from portal.deliverables.models import Deliverable, ReviewDecision
from portal.demo_conversation import seed_conversation
from portal.escrow import services as escrow_services
from portal.escrow.models import Milestone, Payout, PayoutState
from portal.escrow.providers import get_provider
from portal.extensions import db
from portal.mediation import services as mediation_services
from portal.notifications.models import Notification
from portal.workrooms.access import seat_of
from portal.workrooms.services import edit_message, open_workroom, post_message
from portal.workrooms.uploads import inspect

DEMO_PASSWORD = "duet-demo-2026"
BRAND_NAME = "Northwind Outdoors"
CAMPAIGN_NAME = "Spring Trails 2027"

DEMO_LOGINS = [
    ("brand@example.com", "brand owner, Northwind Outdoors"),
    ("manager@example.com", "brand manager, Northwind Outdoors"),
    ("creator@example.com", "creator (Instagram, TikTok; outdoor, travel)"),
    ("creator2@example.com", "creator (YouTube; cooking)"),
    ("creator3@example.com", "creator in a renewal window (Instagram; outdoor)"),
    ("creator4@example.com", "creator who exited mid-campaign (Instagram; climbing)"),
    ("creator5@example.com", "creator taking over the exited work (Instagram; outdoor)"),
    ("mediator@example.com", "mediator"),
    ("admin@example.com", "admin"),
]


def _user(email, name, kind, timezone):
    """The demo user with this email, created if missing."""
    user = db.session.scalar(select(User).where(User.email == email))
    if user is None:
        user = services.create_user(email, name, DEMO_PASSWORD, kind, timezone=timezone)
    return user


def _brand(owner, manager):
    """Northwind Outdoors with its owner and manager."""
    brand = db.session.scalar(select(Brand).where(Brand.name == BRAND_NAME))
    if brand is None:
        brand = services.create_brand(owner, BRAND_NAME)
    if services.membership_of(manager, brand) is None:
        db.session.add(BrandMembership(brand=brand, user=manager, role=BrandRole.manager))
    return brand


def _creator(email, name, timezone, **profile):
    """A demo creator with a filled-in profile (only when it has none yet)."""
    user = db.session.scalar(select(User).where(User.email == email))
    if user is None:
        user = services.register_creator(
            email, name, DEMO_PASSWORD, profile["display_name"], timezone=timezone
        )
    if not user.creator_profile.handles:
        services.update_creator_profile(user.creator_profile, **profile)
    return user


def _workroom_with_conversation(brand, owner, manager, creator, *, run_until):
    """The Northwind and Cora workroom with 220 messages, threads, edits and a note.

    Before each message, `run_until(when)` plays the other events that happened by then
    (deliverable work), so the log and the audit chain read in time order.
    """
    workroom = open_workroom(brand, creator, owner)
    seat = {u.id: seat_of(u, workroom) for u in (owner, manager, creator)}

    def post(author, text, when):
        run_until(when)
        return post_message(seat[author.id], author, text, now=when)

    def reply(root, author, text, when):
        run_until(when)
        return post_message(seat[author.id], author, text, parent=root, now=when)

    def edit(message, author, text, when):
        run_until(when)
        return edit_message(message, author, text, now=when)

    def note(author, text, when):
        run_until(when)
        return post_message(seat[author.id], author, text, internal=True, now=when)

    seed_conversation([owner, manager], creator, post=post, reply=reply, edit=edit, note=note)
    return workroom


def _campaign(brand, owner, *, now):
    """Spring Trails 2027, active since `now`, with a brief and a budget."""
    campaign = db.session.scalar(select(Campaign).where(Campaign.name == CAMPAIGN_NAME))
    if campaign is None:
        campaign = campaign_services.create_campaign(
            brand,
            owner,
            name=CAMPAIGN_NAME,
            starts_on=now.date(),
            ends_on=now.date() + timedelta(days=210),
            budget_minor=2_500_000,
            currency="USD",
            brief_md="Trail season launch for the **Trailhead** trail shoes.\n\n"
            "- Show the shoes in real conditions: mud, scree, wet rock\n"
            "- Disclose the partnership (#ad) in the first line\n"
            "- Tag @northwind.outdoors and link northwind.example/spring-trails",
            now=now,
        )
        campaign_services.change_campaign_status(campaign, owner, CampaignStatus.active, now=now)
    return campaign


def _joined(campaign, owner, creator, *, now):
    """The creator was invited to the campaign and accepted (opening the workroom)."""
    invited = db.session.scalar(
        select(CampaignInvitation).where(
            CampaignInvitation.campaign_id == campaign.id,
            CampaignInvitation.creator_id == creator.id,
        )
    )
    if invited is None:
        ttl = current_app.config["INVITATION_TTL"]
        invited = campaign_services.invite_creator(
            campaign, owner, creator, ttl, message="We love your trail content!", now=now
        )
        campaign_services.accept_invitation(invited, creator, now=now)


def _terms(title, *, lines, text, starts_on):
    """Contract terms for the demo: about five months from `starts_on`."""
    ends_on = starts_on + timedelta(days=180)
    return Terms(
        title=title,
        terms_md=text,
        starts_on=starts_on,
        ends_on=ends_on,
        currency="USD",
        renewal_date=ends_on - timedelta(days=30),
        auto_renew=False,
        lines=tuple(LineTerms(*line) for line in lines),
    )


#: what the brief asks of every piece (the creator ticks them when submitting)
DISCLOSE = "#ad in the first line of the caption or description"
TAG = "Tag @northwind.outdoors"
LINK = "Link northwind.example/spring-trails"
OUTSOLE = "Show the Trailhead outsole close-up"
CHECKLIST = (DISCLOSE, TAG, LINK, OUTSOLE)

#: Cora's lines as (title, kind, platform, days from today to the due date, price, checklist);
#: the story in _deliverable_story moves each to a different state
CORA_LINES = [
    ("Trailhead unboxing reel", DeliverableKind.reel, Platform.instagram, -14, 150_000, CHECKLIST),
    ("First-run review video", DeliverableKind.video, Platform.youtube, -9, 220_000, CHECKLIST),
    ("Gear story set", DeliverableKind.story, Platform.instagram, -4, 45_000, (DISCLOSE, TAG)),
    ("TikTok teaser", DeliverableKind.video, Platform.tiktok, 2, 90_000, (DISCLOSE, TAG)),
    ("Packing list carousel", DeliverableKind.post, Platform.instagram, 3, 60_000, CHECKLIST),
    ("Summit sunrise post", DeliverableKind.post, Platform.instagram, 4, 120_000, CHECKLIST),
    ("Trail race day stories", DeliverableKind.story, Platform.instagram, 20, 45_000, (TAG,)),
    ("Ultralight pack blog recap", DeliverableKind.blog, Platform.blog, 40, 80_000, (LINK,)),
]
TEASER = "TikTok teaser"  #: the line Cora asked for; the first proposal lacks it


def _cora_lines(today, *, teaser=True):
    """Cora's contract lines with due dates counted from today."""
    return [
        (title, kind, platform, today + timedelta(days=days), price, checklist)
        for title, kind, platform, days, price, checklist in CORA_LINES
        if teaser or title != TEASER
    ]


def _cora_contract(campaign, workroom, owner, creator, *, now):
    """Proposed, changes asked, revised and accepted: an active contract with history.

    Returns the contract when it was made now, None when the workroom already has one.
    """
    if contracts_of(workroom):
        return None
    brand_seat, creator_seat = seat_of(owner, workroom), seat_of(creator, workroom)
    text = (
        "Content stays live for 12 months. Usage rights: organic only.\n\n"
        "Every piece discloses the partnership (#ad) and is approved in the workroom first."
    )
    today = utcnow().date()

    def terms(teaser):
        lines = _cora_lines(today, teaser=teaser)
        return _terms(CAMPAIGN_NAME, lines=lines, text=text, starts_on=now.date())

    contract = contract_services.create_contract(
        brand_seat, owner, campaign, terms(teaser=False), now=now
    )
    first = contract.latest_version
    contract_services.decline_version(
        contract,
        creator,
        creator_seat,
        first.sha256,
        "Could we add the TikTok teaser? My audience there is growing fast.",
        now=now,
    )
    revised = contract_services.revise_contract(
        contract,
        owner,
        brand_seat,
        terms(teaser=True),
        comment="Added the TikTok teaser.",
        now=now,
    )
    contract_services.accept_version(contract, creator, creator_seat, revised.sha256, now=now)
    return contract


def _upload(filename, data):
    """A file as the upload checks accept it."""
    config = current_app.config
    return inspect(
        FileStorage(BytesIO(data), filename=filename),
        max_bytes=config["MAX_ATTACHMENT_BYTES"],
        max_pixels=config["MAX_IMAGE_PIXELS"],
    )


def _deliverable_story(contract, owner, manager, creator, *, now):
    """What happened to Cora's deliverables, as (when, step) pairs: every status appears.

    Each step calls a service with `now=when`; the caller plays them in time order. In the
    end: the unboxing reel approved and live, the review video approved after three
    revisions, the story set missed (Bea proposes a new date), the TikTok teaser in review
    and auto-approved in about 18 hours, the carousel sent back for changes (Cora asks for
    two more days), the sunrise post pending, the race-day stories waived and the blog
    recap cancelled.
    """
    workroom = contract.workroom
    brand, max_, cora = (seat_of(u, workroom) for u in (owner, manager, creator))
    by_title = {
        d.title: d
        for d in db.session.scalars(
            select(Deliverable).where(Deliverable.contract_id == contract.id)
        )
    }
    window = timedelta(days=contract.accepted_version.auto_approve_days)

    def submit(title, text, *, links=(), checked=CHECKLIST, files=()):
        def step(at):
            uploads = [_upload(name, data) for name, data in files]
            deliverable_services.submit_revision(
                by_title[title],
                creator,
                cora,
                text,
                links=links,
                checked=checked,
                uploads=uploads,
                now=at,
            )

        return step

    def review(title, reviewer, seat, decision, feedback="", internal=""):
        def step(at):
            revision = by_title[title].revisions[-1]
            deliverable_services.review_revision(
                revision, reviewer, seat, decision, feedback=feedback, internal=internal, now=at
            )

        return step

    def went_live(title, url):
        def step(at):
            deliverable_services.record_go_live(
                by_title[title], creator, cora, url, at.date(), now=at
            )

        return step

    def missed(title):
        def step(at):
            deliverable_services.mark_missed(by_title[title], now=at)

        return step

    def extension(title, actor, seat, moved_by_days, reason):
        def step(at):
            deliverable = by_title[title]
            new_due_at = deliverable.due_at + timedelta(days=moved_by_days)
            deliverable_services.request_extension(
                deliverable, actor, seat, new_due_at, reason, now=at
            )

        return step

    def end(title, service, seat, actor, reason):
        def step(at):
            service(by_title[title], actor, seat, reason, now=at)

        return step

    approve, corrections, changes = (
        ReviewDecision.approve,
        ReviewDecision.approve_with_corrections,
        ReviewDecision.request_changes,
    )
    reel, video, stories = "Trailhead unboxing reel", "First-run review video", "Gear story set"
    carousel, race, blog = (
        "Packing list carousel",
        "Trail race day stories",
        "Ultralight pack blog recap",
    )

    def days(n, hours=0):
        """`n` days and `hours` hours before now."""
        return now - timedelta(days=n, hours=hours)

    stories_missed = deliverable_services.missed_after(by_title[stories]) + timedelta(minutes=7)
    return [
        (
            days(18, 3),
            submit(
                reel,
                "#ad Unboxing the new **Northwind Trailhead** trail shoes before their first"
                " muddy run. 280 g, 6 mm drop and a lug pattern made for wet rock.\n\n"
                "Thanks @northwind.outdoors! Spring Trails sale: northwind.example/spring-trails",
                links=["https://share.example.com/cora/trailhead-unboxing-v1.mp4"],
            ),
        ),
        (days(17, 20), review(reel, owner, brand, approve, internal="Legal checked the caption.")),
        (days(15, 22), went_live(reel, "https://www.instagram.com/reel/demoTrailheadUnbox/")),
        (
            days(15, 6),
            submit(
                video,
                "**100 km in the Northwind Trailhead: an honest first-run review**\n\n"
                "I ran the Eagle Creek loop, the ridge scree and a wet boardwalk in the new"
                " trail shoes from @northwind.outdoors. Paid partnership. #ad\n\n"
                "00:00 Why these shoes\n03:10 Outsole and grip\n07:45 Verdict",
                links=["https://share.example.com/cora/first-run-review-v1.mp4"],
                checked=(TAG, OUTSOLE),
            ),
        ),
        (
            days(14, 4),
            review(
                video,
                owner,
                brand,
                changes,
                "Please move the #ad disclosure to the first line of the description, and say"
                ' "paid partnership" out loud in the first 30 seconds.',
                internal="Legal flagged the disclosure placement.",
            ),
        ),
        (
            days(12, 8),
            submit(
                video,
                "#ad Paid partnership with @northwind.outdoors.\n\n"
                "**100 km in the Northwind Trailhead: an honest first-run review**\n\n"
                "Eagle Creek loop, ridge scree, wet boardwalk.\n\n"
                "00:00 Why these shoes\n03:10 Outsole and grip\n07:45 Verdict",
                links=["https://share.example.com/cora/first-run-review-v2.mp4"],
                checked=(DISCLOSE, TAG, OUTSOLE),
            ),
        ),
        (
            days(11, 2),
            review(
                video,
                manager,
                max_,
                changes,
                "Much better. The outsole close-up at 03:10 lasts under a second: hold it for"
                " two seconds so the lug pattern reads, and add the spring-trails link to the"
                " description.",
            ),
        ),
        (
            days(10, 5),
            submit(
                video,
                "#ad Paid partnership with @northwind.outdoors.\n\n"
                "**100 km in the Northwind Trailhead: an honest first-run review**\n\n"
                "Eagle Creek loop, ridge scree, wet boardwalk. Shoes and the Spring Trails"
                " sale: https://northwind.example/spring-trails\n\n"
                "00:00 Why these shoes\n03:10 Outsole and grip (held for 2 s)\n07:45 Verdict",
                links=["https://share.example.com/cora/first-run-review-v3.mp4"],
                files=[("thumbnail.png", _mood_board_png())],
            ),
        ),
        (
            days(9, 3),
            review(
                video,
                owner,
                brand,
                corrections,
                "Approved. When you publish, pin a comment with the code TRAILS15 and keep the"
                " chapter markers.",
            ),
        ),
        (
            days(8, 1),
            end(
                blog,
                deliverable_services.cancel_deliverable,
                brand,
                owner,
                "The ultralight pack was pulled from the spring range, so there is nothing to"
                " recap. Dropping the line.",
            ),
        ),
        (
            days(6, 4),
            end(
                race,
                deliverable_services.waive_deliverable,
                max_,
                manager,
                "The organisers called off the Eagle Creek trail race. You're released from the"
                " race-day stories; no need to replace them.",
            ),
        ),
        (
            now - window + timedelta(hours=18),
            submit(
                TEASER,
                "#ad 3 trails, 1 pair of shoes, 0 blisters. The Trailhead from @northwind.outdoors"
                " on mud, scree and wet rock. Which trail next?",
                links=["https://share.example.com/cora/tiktok-teaser-v1.mp4"],
                checked=(DISCLOSE, TAG),
            ),
        ),
        (
            days(3, 2),
            submit(
                carousel,
                "#ad What's in my pack for a spring day hike, slide by slide: water filter, shell,"
                " snacks, and the Trailhead from @northwind.outdoors on my feet."
                " northwind.example/spring-trails",
                links=["https://share.example.com/cora/packing-carousel-v1.pdf"],
                checked=(DISCLOSE, TAG, LINK),
            ),
        ),
        (stories_missed, missed(stories)),
        (
            days(2),
            review(
                carousel,
                manager,
                max_,
                changes,
                "Slide 2 shows a competitor's water bottle; please swap it. Also add the outsole"
                " close-up as the last slide.",
            ),
        ),
        (
            days(1, 2),
            extension(
                stories,
                owner,
                brand,
                9,
                "We can still run the story set with the spring sale. Could you post it next week?",
            ),
        ),
        (
            days(0, 20),
            extension(
                carousel,
                creator,
                cora,
                2,
                "Reshooting slide 2 needs daylight and it's raining until Thursday.",
            ),
        ),
    ]


def _milestone_story(contract, owner, *, now):
    """Cora's milestones, as (when, step) pairs: the unboxing reel's (live 14 days) and the
    review video's paid out, the teaser-and-carousel one funded but blocked, the sunrise
    post's waiting to be funded, and a wrap-up that waits for all of them and a sign-off."""
    workroom = contract.workroom
    brand = seat_of(owner, workroom)
    provider = get_provider()
    by_title = {
        d.title: d
        for d in db.session.scalars(
            select(Deliverable).where(Deliverable.contract_id == contract.id)
        )
    }
    made = {}

    def add(title, amount, *, deliverables=(), prior=(), live_days=None, signoff=False):
        def step(at):
            made[title] = escrow_services.add_milestone(
                contract,
                owner,
                brand,
                title,
                amount,
                deliverables=[by_title[name] for name in deliverables],
                prior_milestones=[made[name] for name in prior],
                live_days=live_days,
                requires_signoff=signoff,
                now=at,
            )

        return step

    def fund(title):
        def step(at):
            escrow_services.fund_milestone(made[title], owner, brand, provider, now=at)

        return step

    def settle(at):
        """What the payouts worker does, played at `at` so the log reads in order."""
        escrow_services.check_milestones_of(contract.id, now=at)
        escrow_services.settle_milestones(list(made.values()), now=at, send=False)
        waiting = db.session.scalars(
            select(Payout)
            .where(Payout.milestone_id.in_([m.id for m in made.values()]))
            .where(Payout.state == PayoutState.pending)
            .order_by(Payout.id)
        ).all()
        escrow_services.send_payouts(waiting, provider, now=at)

    def days(n, hours=0):
        return now - timedelta(days=n, hours=hours)

    reel, video, teaser, carousel, sunrise = (
        "Trailhead unboxing reel",
        "First-run review video",
        TEASER,
        "Packing list carousel",
        "Summit sunrise post",
    )
    first, second, third, fourth = (
        "Unboxing reel, live two weeks",
        "Review video approved",
        "Teaser and carousel approved",
        "Sunrise post approved",
    )
    return [
        (days(25), add(first, 150_000, deliverables=[reel], live_days=14)),
        (days(25, -1), add(second, 220_000, deliverables=[video])),
        (days(25, -2), add(third, 150_000, deliverables=[teaser, carousel])),
        (days(25, -3), add(fourth, 120_000, deliverables=[sunrise])),
        (
            days(25, -4),
            add(
                "Campaign wrap-up",
                50_000,
                prior=[first, second, third, fourth],
                signoff=True,
            ),
        ),
        (days(19), fund(first)),
        (days(19, -1), fund(second)),
        (days(12), fund(third)),
        (days(7), fund(fourth)),
        (days(0, 3), settle),
    ]


def _ticket_story(contract, owner, manager, creator, mediator, *, now):
    """Three mediation tickets in Cora's workroom, as (when, step) pairs: one resolved with a
    partial release of the sunrise post's milestone, one with the mediator's proposal
    waiting for Cora, and one waiting in the mediators' queue."""
    workroom = contract.workroom
    brand, max_, cora = (seat_of(u, workroom) for u in (owner, manager, creator))
    deliverables = {
        d.title: d
        for d in db.session.scalars(
            select(Deliverable).where(Deliverable.contract_id == contract.id)
        )
    }
    tickets = {}

    def milestone(title):
        """Read when a step runs: the milestones are added by _milestone_story's steps."""
        return db.session.scalar(
            select(Milestone).where(Milestone.contract_id == contract.id, Milestone.title == title)
        )

    def days(n, hours=0):
        return now - timedelta(days=n, hours=hours)

    def opened(name, seat, actor, category, subject, text, asked, *, items=(), money=()):
        def step(at):
            tickets[name] = mediation_services.open_ticket(
                seat,
                actor,
                category,
                subject,
                text,
                asked,
                deliverables=[deliverables[title] for title in items],
                milestones=[milestone(title) for title in money],
                now=at,
            )

        return step

    def said(name, seat, actor, text):
        def step(at):
            mediation_services.post_as_party(tickets[name], actor, seat, text, now=at)

        return step

    def claimed(name):
        def step(at):
            mediation_services.claim(tickets[name], mediator, now=at)

        return step

    def mediator_said(name, text, private=False):
        def step(at):
            mediation_services.post_as_mediator(
                tickets[name], mediator, text, private=private, now=at
            )

        return step

    def proposed(name, actions, note):
        def step(at):
            mediation_services.propose(tickets[name], mediator, actions(), note, now=at)

        return step

    def accepted(name, seat, actor):
        def step(at):
            mediation_services.answer(tickets[name].open_proposal, actor, seat, True, now=at)

        return step

    sunrise, stories, carousel = (
        "Sunrise post approved",
        "Gear story set",
        "Packing list carousel",
    )

    def half_of_sunrise():
        """Read when the step runs: what is in escrow is known then."""
        held = milestone(sunrise)
        amount = held.in_escrow_minor // 2
        return [{"kind": "release", "milestone_id": held.id, "amount_minor": amount}]

    def new_story_date():
        story_set = deliverables[stories]
        return [
            {"kind": "extend", "deliverable_id": story_set.id, "due_at": now + timedelta(days=9)}
        ]

    return [
        (
            days(6),
            opened(
                "sunrise",
                cora,
                creator,
                "payment",
                "Sunrise shoot: paid for the scouting?",
                "Two summit hikes at 4 am to scout the sunrise shot; the brand then moved the"
                " launch and the post is on hold. The scouting cost me two days.",
                "Half of the milestone now for the scouting, the rest when the post is live.",
                items=["Summit sunrise post"],
                money=[sunrise],
            ),
        ),
        (days(5, 20), said("sunrise", brand, owner, "Fair point; we did move the launch.")),
        (days(5, 8), claimed("sunrise")),
        (days(5, 7), proposed("sunrise", half_of_sunrise, "Half now for the scouting days.")),
        (days(5, 2), accepted("sunrise", brand, owner)),
        (days(4, 22), accepted("sunrise", cora, creator)),
        (
            days(3),
            opened(
                "stories",
                cora,
                creator,
                "missed_deliverable",
                "Story set: the race was called off",
                "The story set was planned around the Eagle Creek race, which was cancelled."
                " I could not post it on the due date.",
                "A new date next week, with the spring sale.",
                items=[stories],
            ),
        ),
        (days(2, 20), said("stories", max_, manager, "Agreed it was not Cora's fault.")),
        (days(2, 4), claimed("stories")),
        (
            days(2, 3),
            mediator_said("stories", "Both sides agree on the cause; checking the sale dates."),
        ),
        (days(2, 2), mediator_said("stories", "Brand is flexible; propose +9 days.", True)),
        (days(1, 22), proposed("stories", new_story_date, "A new date that meets the sale.")),
        (days(1, 20), accepted("stories", brand, owner)),
        (
            days(1, 6),
            opened(
                "carousel",
                brand,
                owner,
                "quality",
                "Carousel shows a competitor's bottle",
                "Slide 2 of the packing-list carousel shows a competitor's water bottle after we"
                " asked twice to swap it.",
                "A corrected slide before the next review.",
                items=[carousel],
            ),
        ),
        (days(0, 9), said("carousel", cora, creator, "The reshoot needs daylight; it rained.")),
    ]


def _read_older_notifications(before):
    """A month of history rang everyone's bell: what is older than `before` counts as read,
    so the bell shows what happened lately."""
    db.session.execute(
        update(Notification)
        .where(Notification.created_at < before, Notification.read_at.is_(None))
        .values(read_at=before)
    )


def _played_in_order(steps):
    """A `run_until(when)` that plays the steps due by `when`, each once, oldest first."""
    queue = sorted(steps, key=lambda pair: pair[0])

    def run_until(when):
        while queue and queue[0][0] <= when:
            at, step = queue.pop(0)
            step(at)

    return run_until


def _dev_contract(campaign, workroom, owner, *, now):
    """A proposal waiting on the creator."""
    due_on = now.date() + timedelta(days=70)
    lines = [
        ("Camp stove recipe video", DeliverableKind.video, Platform.youtube, due_on, 250_000),
    ]
    text = "One dedicated video, 60 days exclusivity."
    contract_services.create_contract(
        seat_of(owner, workroom),
        owner,
        campaign,
        _terms("Camp Kitchen", lines=lines, text=text, starts_on=now.date()),
        now=now,
    )


def _attachments(workroom, creator, *, now):
    """A shot list and a mood board image on a message of the creator's."""
    uploads = [
        _upload("shot-list.csv", b"shot,place\ntrailhead wide,Eagle Creek\nboots close-up,camp\n"),
        _upload("mood-board.png", _mood_board_png()),
    ]
    post_message(
        seat_of(creator, workroom),
        creator,
        "Shot list and mood board for the trail reel.",
        uploads=uploads,
        now=now,
    )


def _mood_board_png():
    """A small generated PNG."""
    from PIL import Image

    image = Image.new("RGB", (64, 40), (46, 125, 50))
    buffer = BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def _lifecycle_creators():
    """Rae (renewal window), Sam (exited) and Lee (took over Sam's work)."""
    rae = _creator(
        "creator3@example.com",
        "Rae Kim",
        "America/Vancouver",
        display_name="Rae Outdoors",
        bio="Ridge walks, golden hours and honest gear notes.",
        audience_size=126_000,
        currency="USD",
        handles={Platform.instagram: "rae.outdoors"},
        niches=["outdoor", "hiking"],
        rates={RateKind.reel: 150_000},
    )
    sam = _creator(
        "creator4@example.com",
        "Sam Rivera",
        "America/Denver",
        display_name="Sam Climbs",
        bio="Crags, approaches and long days on rock.",
        audience_size=141_000,
        currency="USD",
        handles={Platform.instagram: "samclimbs", Platform.tiktok: "sam.climbs"},
        niches=["outdoor", "climbing"],
        rates={RateKind.reel: 150_000, RateKind.story: 50_000},
    )
    lee = _creator(
        "creator5@example.com",
        "Lee Park",
        "Europe/Berlin",
        display_name="Lee on Trails",
        bio="Alpine trails and the gear that survives them.",
        audience_size=98_000,
        currency="USD",
        handles={Platform.instagram: "leeontrails"},
        niches=["outdoor", "climbing"],
        rates={RateKind.reel: 140_000, RateKind.post: 80_000},
    )
    return rae, sam, lee


def seed_demo():
    """Create every demo account and its data if it is not there yet."""
    owner = _user("brand@example.com", "Bea Brandt", AccountKind.brand, "America/Denver")
    manager = _user("manager@example.com", "Max Manning", AccountKind.brand, "America/New_York")
    brand = _brand(owner, manager)
    cora = _creator(
        "creator@example.com",
        "Cora Reyes",
        "Europe/Lisbon",
        display_name="Cora on the Trail",
        bio="Hiking, gear tests and slow travel.",
        audience_size=184_000,
        currency="USD",
        handles={Platform.instagram: "coraonthetrail", Platform.tiktok: "cora.trails"},
        niches=["outdoor", "travel"],
        rates={RateKind.post: 120_000, RateKind.story: 45_000, RateKind.reel: 150_000},
    )
    dev = _creator(
        "creator2@example.com",
        "Dev Okafor",
        "Europe/London",
        display_name="Dev Cooks",
        bio="Weeknight recipes from a tiny kitchen.",
        audience_size=92_500,
        currency="GBP",
        handles={Platform.youtube: "DevCooks"},
        niches=["cooking"],
        rates={RateKind.video: 250_000},
    )
    mia = _user("mediator@example.com", "Mia Mediator", AccountKind.mediator, "Europe/Berlin")
    db.session.flush()
    month_ago = utcnow() - timedelta(days=31)
    campaign = _campaign(brand, owner, now=month_ago)
    _joined(campaign, owner, cora, now=month_ago)
    _joined(campaign, owner, dev, now=month_ago)
    cora_room = open_workroom(brand, cora, owner)
    fresh = cora_room.last_message_seq <= 1  # only the "accepted the invitation" line
    contract = _cora_contract(campaign, cora_room, owner, cora, now=month_ago + timedelta(hours=2))
    if fresh:
        steps = []
        if contract is not None:
            now = utcnow()
            steps = _deliverable_story(contract, owner, manager, cora, now=now)
            steps += _milestone_story(contract, owner, now=now)
            steps += _ticket_story(contract, owner, manager, cora, mia, now=now)
        run_until = _played_in_order(steps)
        _workroom_with_conversation(brand, owner, manager, cora, run_until=run_until)
        hour_ago = utcnow() - timedelta(hours=1)
        run_until(hour_ago)
        _attachments(cora_room, cora, now=hour_ago)
    dev_room = open_workroom(brand, dev, owner)
    if dev_room.last_message_seq <= 1:
        lifecycle.partial_completion_story(campaign, owner, dev, now=utcnow())
        post_message(
            seat_of(dev, dev_room),
            dev,
            "Hi Northwind! Happy to talk about recipes with your camping stove line.",
            now=utcnow() - timedelta(hours=1),
        )
        _dev_contract(campaign, dev_room, owner, now=utcnow() - timedelta(minutes=30))
    rae, sam, lee = _lifecycle_creators()
    db.session.flush()
    lifecycle.renewal_story(brand, owner, rae, now=utcnow())
    _joined(campaign, owner, sam, now=month_ago + timedelta(days=1))
    lifecycle.exit_story(campaign, owner, sam, lee, now=utcnow())
    _user("admin@example.com", "Ada Admin", AccountKind.admin, "UTC")
    _read_older_notifications(utcnow() - timedelta(hours=12))
    db.session.commit()


@click.command("seed-demo")
@with_appcontext
def seed_demo_command():
    """Load the demo accounts (idempotent)."""
    seed_demo()
    click.echo(f"Demo data ready. Every demo account's password is {DEMO_PASSWORD}:")
    for email, role in DEMO_LOGINS:
        click.echo(f"  {email:<24} {role}")
