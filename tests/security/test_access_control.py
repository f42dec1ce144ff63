"""AC-1..AC-4: who may use each route; other brands' objects stay out of reach.

`ACCESS` is the single table of who may use what. Every endpoint of the app must be in it,
so a new route fails `test_access_table_names_every_route` until someone decides its roles.
"""

import hashlib
import io
import mailbox
import re
from dataclasses import dataclass
from datetime import date
from email.message import EmailMessage
from urllib.parse import parse_qs, urlsplit

import pytest
from flask import url_for
from sqlalchemy import func, select

from portal.accounts import services
from portal.accounts.models import (
    AccountKind,
    Brand,
    BrandInvitation,
    BrandMembership,
    BrandRole,
    CreatorProfile,
    PasswordResetToken,
    Platform,
    User,
    UserSession,
)
from portal.accounts.passwords import verify_password
from portal.campaigns.models import Campaign
from portal.contracts import services as contract_services
from portal.contracts.models import DeliverableKind
from portal.contracts.terms import LineTerms, Terms
from portal.deliverables import services as deliverable_services
from portal.deliverables.models import Deliverable, ReviewDecision, RoundRequest
from portal.escrow import services as escrow_services
from portal.extensions import db
from portal.notifications.lists import unsubscribe_token
from portal.notifications.models import Kind, OutboundEmail
from portal.notifications.services import notify
from portal.workrooms import services as workroom_services
from portal.workrooms.access import seat_of
from portal.workrooms.uploads import Upload
from tests import factories
from tests.campaigns.samples import seed_campaign_invitations
from tests.conftest import Browserless, https_client
from tests.scheduling.samples import sample_feed_token

ROLES = ("anon", "brand_owner", "brand_manager", "brand_viewer", "creator", "mediator", "admin")
PUBLIC = "anyone, signed in or not"  # marker: the route is open to every role
SIGNED_IN = frozenset(ROLES) - {"anon"}
BRAND_MEMBERS = frozenset({"brand_owner", "brand_manager", "brand_viewer"})
ADMIN = frozenset({"admin"})
# A workroom is read by its brand's members, its creator and (read only) admins.
WORKROOM_READERS = BRAND_MEMBERS | {"creator", "admin"}
WORKROOM_WRITERS = frozenset({"brand_owner", "brand_manager", "creator"})
CAMPAIGN_WRITERS = frozenset({"brand_owner", "brand_manager"})
FOREIGN = "every object of the other brand"
# Roles that may use an endpoint on every brand's objects, not only their own.
SEES_EVERY_BRAND = {
    endpoint: ADMIN
    for endpoint in (
        "workrooms.show",
        "workrooms.older",
        "workrooms.thread",
        "workrooms.history",
        "workrooms.activity",
        "workrooms.attachment",
        "workrooms.search",
        "workrooms.poll",
        "workrooms.mark_read",
        "contracts.show",
        "contracts.version",
        "contracts.compare",
        "contracts.renewal",
        "deliverables.index",
        "deliverables.show",
        "deliverables.compare",
        "escrow.index",
        "escrow.show",
        "mediation.index",
        "mediation.show",
        "notifications.mute",
        "closeouts.show",
        "reports.contract",
        "reports.contract_csv",
        "reports.campaign",
        "reports.campaign_csv",
        "reports.creator",
        "reports.creator_csv",
        "reports.results",
        "exits.show",
    )
}

# endpoint -> roles allowed (PUBLIC, a set, or {method: set} when methods differ).
ACCESS = {
    "dashboard.index": PUBLIC,
    "accounts.signup": PUBLIC,
    "accounts.login": PUBLIC,
    "accounts.logout": PUBLIC,
    "accounts.forgot_password": PUBLIC,
    "accounts.reset_password": PUBLIC,  # the emailed token is the credential
    "accounts.invitation": PUBLIC,  # the emailed token is the credential
    "health.healthz": PUBLIC,
    "accounts.settings": SIGNED_IN,
    "accounts.change_password": SIGNED_IN,
    "accounts.team": {"GET": BRAND_MEMBERS, "POST": frozenset({"brand_owner"})},
    "accounts.revoke_invitation": frozenset({"brand_owner"}),
    "accounts.creator_profile": frozenset({"creator"}),
    "admin.users": ADMIN,
    "admin.new_mediator": ADMIN,
    "admin.disable_user": ADMIN,
    "admin.enable_user": ADMIN,
    "admin.mail": ADMIN,
    "admin.mail_message": ADMIN,
    "workrooms.index": SIGNED_IN,  # everyone lists their own workrooms (maybe none)
    "workrooms.show": WORKROOM_READERS,
    "workrooms.older": WORKROOM_READERS,
    "workrooms.thread": WORKROOM_READERS,
    "workrooms.history": WORKROOM_READERS,
    "workrooms.activity": WORKROOM_READERS,
    "workrooms.attachment": WORKROOM_READERS,  # a file of a message the reader sees
    "workrooms.search": WORKROOM_READERS,
    "workrooms.poll": WORKROOM_READERS,
    "workrooms.mark_read": WORKROOM_READERS,
    "workrooms.post": WORKROOM_WRITERS,
    "workrooms.edit": frozenset({"creator"}),  # only the author of the sample message
    "workrooms.delete": frozenset({"creator"}),
    "contracts.new": frozenset({"brand_owner", "brand_manager"}),
    "contracts.show": WORKROOM_READERS,
    "contracts.version": WORKROOM_READERS,
    "contracts.compare": WORKROOM_READERS,
    # The sample contract is proposed: the creator gets 409 here (only the brand revises a
    # proposal), but amends once it is active.
    "contracts.edit": WORKROOM_WRITERS,
    "contracts.accept": WORKROOM_WRITERS,  # the brand accepts a creator's amendment
    "contracts.decline": WORKROOM_WRITERS,
    # Renewals: both sides read the pack; the brand's owners and managers decide; either
    # side opts out of auto-renewal (on the proposed sample contract: 409, not active).
    "contracts.renewal": WORKROOM_READERS,
    "contracts.decide_renewal": CAMPAIGN_WRITERS,
    "contracts.opt_out": WORKROOM_WRITERS,
    # Deliverables: the sample has revision 1 in review, an extension request the creator
    # asked for and an extra round the brand asked for.
    "deliverables.index": WORKROOM_READERS,
    "deliverables.show": WORKROOM_READERS,
    "deliverables.compare": WORKROOM_READERS,
    "deliverables.submit": frozenset({"creator"}),
    "deliverables.review": CAMPAIGN_WRITERS,
    "deliverables.request_extension": WORKROOM_WRITERS,
    "deliverables.answer_extension": CAMPAIGN_WRITERS,  # the other side answers
    "deliverables.withdraw_extension": frozenset({"creator"}),  # the side that asked
    "deliverables.request_round": CAMPAIGN_WRITERS,
    "deliverables.answer_round": frozenset({"creator"}),
    "deliverables.waive": CAMPAIGN_WRITERS,
    "deliverables.cancel": CAMPAIGN_WRITERS,
    "deliverables.go_live": frozenset({"creator"}),
    # Money: both sides read the milestones; the brand's owners and managers add and fund
    # them (the sample milestone is pending and needs a sign-off); statements are per side.
    "escrow.index": WORKROOM_READERS,
    "escrow.show": WORKROOM_READERS,
    "escrow.new": CAMPAIGN_WRITERS,
    "escrow.fund": CAMPAIGN_WRITERS,
    "escrow.fund_contract": CAMPAIGN_WRITERS,
    "escrow.sign_off": CAMPAIGN_WRITERS,
    "escrow.brand_statement": BRAND_MEMBERS,
    "escrow.brand_statement_csv": BRAND_MEMBERS,
    "escrow.creator_statement": frozenset({"creator"}),
    "escrow.creator_statement_csv": frozenset({"creator"}),
    "escrow.ledger": ADMIN,  # admins read money; they move none
    "escrow.payouts": ADMIN,
    # Campaigns: members read, owners and managers change; admins have no brand pages.
    "campaigns.index": BRAND_MEMBERS,
    "campaigns.show": BRAND_MEMBERS,
    "campaigns.roster": BRAND_MEMBERS,
    "campaigns.new": CAMPAIGN_WRITERS,
    "campaigns.edit": CAMPAIGN_WRITERS,
    "campaigns.change_status": CAMPAIGN_WRITERS,
    "campaigns.invite": CAMPAIGN_WRITERS,
    "campaigns.invite_by_email": CAMPAIGN_WRITERS,
    "campaigns.withdraw": CAMPAIGN_WRITERS,
    # A creator sees and answers only the invitations addressed to them.
    "campaigns.my_invitations": frozenset({"creator"}),
    "campaigns.invitation": frozenset({"creator"}),
    "campaigns.accept": frozenset({"creator"}),
    "campaigns.decline": frozenset({"creator"}),
    "campaigns.join": PUBLIC,  # the emailed token is the credential
    # The calendar: brand members and creators see their own workrooms' dates; staff none.
    "scheduling.calendar": BRAND_MEMBERS | {"creator"},
    "scheduling.feed_address": BRAND_MEMBERS | {"creator"},  # each user's own feed
    "scheduling.feed": PUBLIC,  # the secret feed address is the credential
    # Mediation: the sample ticket of workroom A was opened by the creator, answered by the
    # brand and is Mediator's, with proposal 1 open and a finished evidence bundle; brand
    # B's ticket is another mediator's, so Mediator gets 404 there.
    "mediation.index": WORKROOM_READERS,
    "mediation.new": WORKROOM_WRITERS,
    "mediation.show": WORKROOM_READERS | {"mediator"},
    "mediation.post": WORKROOM_WRITERS | {"mediator"},
    "mediation.answer": WORKROOM_WRITERS,
    "mediation.withdraw": frozenset({"creator"}),  # the side that opened it
    "mediation.claim": frozenset({"mediator"}),
    "mediation.assign": frozenset({"mediator"}),
    "mediation.propose": frozenset({"mediator"}),
    "mediation.build_evidence": frozenset({"mediator"}),
    "mediation.bundle_status": frozenset({"mediator"}),
    "mediation.download_bundle": frozenset({"mediator"}),
    "mediation.queue": frozenset({"mediator"}),
    "mediation.dashboard": frozenset({"mediator", "admin"}),
    # Notifications: everyone has a bell and preferences; a notification opens only for
    # its own user (the sample is the brand owner's); a workroom's readers may mute it.
    "notifications.bell": SIGNED_IN,
    "notifications.index": SIGNED_IN,
    "notifications.mark_read": SIGNED_IN,
    "notifications.open_one": frozenset({"brand_owner"}),
    "notifications.preferences": SIGNED_IN,
    "notifications.mute": WORKROOM_READERS,
    # Close-outs: the sample was proposed by the brand, so the creator accepts (the brand
    # gets 409: already accepted) and only the brand's owners and managers withdraw it.
    "closeouts.new": WORKROOM_WRITERS,
    "closeouts.show": WORKROOM_READERS,
    "closeouts.accept": WORKROOM_WRITERS,
    "closeouts.escalate": WORKROOM_WRITERS,
    "closeouts.withdraw": CAMPAIGN_WRITERS,
    "mail_lists.unsubscribe": PUBLIC,  # the signed token in the address is the credential
    # Reports: both sides read a contract's; brand members their campaigns' and those of the
    # creators their brands work with; a creator their own; admins every one. Owners and
    # managers import results; the creator types them for their own live deliverables.
    "reports.contract": WORKROOM_READERS,
    "reports.contract_csv": WORKROOM_READERS,
    "reports.campaign": BRAND_MEMBERS | ADMIN,
    "reports.campaign_csv": BRAND_MEMBERS | ADMIN,
    "reports.creator": BRAND_MEMBERS | {"creator", "admin"},
    "reports.creator_csv": BRAND_MEMBERS | {"creator", "admin"},
    "reports.import_contract": CAMPAIGN_WRITERS,
    "reports.import_campaign": CAMPAIGN_WRITERS,
    "reports.template_contract": CAMPAIGN_WRITERS,
    "reports.template_campaign": CAMPAIGN_WRITERS,
    "reports.results": {"GET": WORKROOM_READERS, "POST": frozenset({"creator"})},
    # Exits: either side ends a contract and settles early; both read the exit; only the
    # brand's owners and managers replace the creator and write the analysis.
    "exits.new": WORKROOM_WRITERS,
    "exits.show": WORKROOM_READERS,
    "exits.settle": WORKROOM_WRITERS,
    "exits.invite": CAMPAIGN_WRITERS,
    "exits.analysis": CAMPAIGN_WRITERS,
    "exits.report": BRAND_MEMBERS,
}
# Flask's own file route: public by nature, checked in test_headers. The mail provider's
# webhook answers machines that sign their requests (tests/notifications, E-7).
NOT_IN_TABLE = {"static", "mail_lists.mail_events"}
CHECKED_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
HX = {"HX-Request": "true"}
TOKEN_IN_PAGE = re.compile(r'"X-CSRFToken": "([^"]+)"')


def allowed_roles(endpoint, method):
    """The roles ACCESS lets use an endpoint with a method."""
    entry = ACCESS[endpoint]
    if entry == PUBLIC:
        return frozenset(ROLES)
    if isinstance(entry, dict):
        return entry[method]
    return entry


@dataclass
class World:
    """Two brands with pending invitations, one user per role, tokens and a mail key."""

    users: dict
    brand_a: int
    brand_b: int
    invitation_a: int
    invitation_b: int
    invitation_a_token: str
    invitation_b_token: str
    reset_token: str
    target_id: int
    disabled_id: int
    mail_key: str
    secrets: tuple  # what only brand B's people may see
    workroom_a: int = 0  # brand A with the "creator" role's user
    workroom_b: int = 0  # brand B with another creator
    message_a: int = 0  # written by the "creator" role's user in workroom A
    message_b: int = 0
    attachment_a: int = 0  # a text file on message A
    attachment_b: int = 0  # a text file on message B
    contract_a: int = 0  # proposed by brand A to the "creator" role's user, version 1 open
    contract_a_sha: str = ""
    contract_b: int = 0
    campaign_a: int = 0  # contract A's campaign
    campaign_b: int = 0  # contract B's campaign
    campaign_invitation_a: int = 0  # campaign A invites the "creator" role's user
    campaign_invitation_b: int = 0  # campaign B invites brand B's creator
    campaign_link_a: str = ""  # campaign A's emailed link to someone not on Duet yet
    deliverables_a: dict = None  # seed_deliverables' ids in workroom A
    deliverables_b: dict = None
    milestones_a: dict = None  # seed_milestones' ids in workroom A
    milestones_b: dict = None
    tickets_a: dict = None  # seed_ticket's ids in workroom A
    tickets_b: dict = None
    notification_a: int = 0  # the brand owner's
    notification_b: int = 0  # brand B's owner's
    unsubscribe_token: str = ""  # the creator's, for the digest
    renewal_a: int = 0  # seed_renewal's active auto-renew contract in workroom A
    closeouts_a: dict = None  # seed_closeout's ids in workroom A
    closeouts_b: dict = None
    results_a: dict = None  # seed_results' ids in workroom A
    exit_a: int = 0  # seed_exit's exit in workroom A, in its notice period
    exit_b: int = 0


def seed_workroom(brand, creator, text):
    """A workroom of a brand and a creator with one message by the creator."""
    workroom = workroom_services.open_workroom(brand, creator, creator)
    seat = seat_of(creator, workroom)
    return workroom, workroom_services.post_message(seat, creator, text)


def seed_attachment(message, author, name, text):
    """A text file on a message, stored in the test upload folder."""
    data = text.encode()
    workroom_services.lock_workroom(message.workroom)
    upload = Upload(name, "text/plain", io.BytesIO(data), len(data))
    return workroom_services.attach_files(message, [upload], author)[0]


def seed_contract(workroom, owner, title, lines=1, **settings):
    """A contract the brand proposed in a workroom, under a new campaign of the brand."""
    campaign = Campaign(
        brand_id=workroom.brand_id,
        name=f"{title} campaign",
        starts_on=date(2030, 1, 1),
        ends_on=date(2030, 12, 31),
        budget_minor=100000,
        currency="USD",
        created_by_id=owner.id,
    )
    db.session.add(campaign)
    terms = Terms(
        title,
        "Terms.",
        date(2030, 2, 1),
        date(2030, 4, 30),
        "USD",
        tuple(
            LineTerms(
                f"Post {n}", DeliverableKind.post, Platform.instagram, date(2030, 3, n), 50000
            )
            for n in range(1, lines + 1)
        ),
        **settings,
    )
    return contract_services.create_contract(seat_of(owner, workroom), owner, campaign, terms)


def seed_renewal(workroom, owner, creator):
    """An active auto-renew contract (nobody opted out yet): the renewal pages' writes."""
    contract = seed_contract(workroom, owner, "Renewing Trails", auto_renew=True)
    contract_services.accept_version(
        contract, creator, seat_of(creator, workroom), contract.latest_version.sha256
    )
    return contract.id


def seed_deliverables(workroom, owner, creator, title):
    """Deliverables under an active contract, one per state the write routes need:
    in review (with an extension request by the creator and an extra round asked by the
    brand), pending, in review with the revision budget spent, and approved."""
    contract = seed_contract(workroom, owner, title, lines=4)
    creator_seat, brand_seat = seat_of(creator, workroom), seat_of(owner, workroom)
    contract_services.accept_version(
        contract, creator, creator_seat, contract.latest_version.sha256
    )
    db.session.flush()
    review, pending, spent, approved = db.session.scalars(
        select(Deliverable)
        .where(Deliverable.contract_id == contract.id)
        .order_by(Deliverable.position)
    ).all()
    for deliverable in (review, spent, approved):
        deliverable_services.submit_revision(deliverable, creator, creator_seat, f"{title} draft")
    deliverable_services.review_revision(
        approved.revisions[-1], owner, brand_seat, ReviewDecision.approve
    )
    extension = deliverable_services.request_extension(
        review, creator, creator_seat, review.due_at.replace(year=2031), "Travel"
    )
    # Set directly: using up the budget through reviews takes several rounds of revisions.
    spent.rounds_used = contract.latest_version.revision_budget
    review.rounds_used = contract.latest_version.revision_budget
    extra_round = RoundRequest(deliverable=review, requested_by_id=owner.id, reason="More")
    db.session.add(extra_round)
    db.session.flush()
    return {
        "deliverable": review.id,
        "pending": pending.id,
        "spent": spent.id,
        "approved": approved.id,
        "extension": extension.id,
        "round": extra_round.id,
    }


def seed_milestones(workroom, owner, deliverables, title):
    """A pending milestone (needing the brand's sign-off) on the active contract of
    seed_deliverables, released when its pending deliverable is approved."""
    pending = db.session.get(Deliverable, deliverables["pending"])
    contract = pending.contract
    milestone = escrow_services.add_milestone(
        contract,
        owner,
        seat_of(owner, workroom),
        title,
        75000,
        deliverables=[pending],
        requires_signoff=True,
    )
    return {"milestone": milestone.id, "contract": contract.id}


def seed_ticket(workroom, owner, creator, mediator, deliverables, subject):
    """A ticket the creator opened on the pending deliverable, answered by the brand, taken
    by `mediator`, with proposal 1 open and a finished evidence bundle."""
    from io import BytesIO

    from portal.mediation import evidence
    from portal.mediation import services as mediation_services
    from portal.mediation.models import BundleState, EvidenceBundle

    pending = db.session.get(Deliverable, deliverables["pending"])
    ticket = mediation_services.open_ticket(
        seat_of(creator, workroom),
        creator,
        "quality",
        subject,
        "The brief changed.",
        deliverables=[pending],
    )
    mediation_services.post_as_party(ticket, owner, seat_of(owner, workroom), "It did not.")
    mediation_services.claim(ticket, mediator)
    mediation_services.propose(ticket, mediator, [{"kind": "waive", "deliverable_id": pending.id}])
    stored = evidence.bundle_storage().save(BytesIO(b"PK\x05\x06" + b"\0" * 18))
    bundle = EvidenceBundle(
        ticket=ticket,
        requested_by=mediator,
        state=BundleState.ready,
        progress=100,
        storage_key=stored.key,
        size_bytes=stored.size,
        finished_at=ticket.created_at,
    )
    db.session.add(bundle)
    db.session.flush()
    return {
        "ticket": ticket.id,
        "bundle": bundle.id,
        "mediator": mediator.id,
        "deliverable": pending.id,
    }


def seed_waiting_ticket(workroom, owner, creator):
    """A ticket in the queue nobody took yet (every mediator may see it: workroom A's)."""
    from portal.mediation import services as mediation_services

    waiting = mediation_services.open_ticket(
        seat_of(creator, workroom), creator, "other", "Waiting", "Nobody took it."
    )
    mediation_services.post_as_party(waiting, owner, seat_of(owner, workroom), "Still open.")
    db.session.flush()
    return waiting.id


def seed_exit(workroom, owner, creator, title):
    """An exit in its notice period, started by the brand, of a one-line contract the
    creator accepted under an active campaign (so a replacement can be invited)."""
    from portal.campaigns.models import CampaignStatus
    from portal.exits import services as exit_services

    contract = seed_contract(workroom, owner, title)
    contract.campaign.status = CampaignStatus.active
    contract_services.accept_version(
        contract, creator, seat_of(creator, workroom), contract.latest_version.sha256
    )
    exit = exit_services.start_exit(contract, owner, seat_of(owner, workroom), "conflict")
    return exit.id


def seed_results(workroom, creator, deliverables):
    """The approved deliverable of seed_deliverables went live (on a past day, so results
    can be recorded for it); its contract and campaign take results imports."""
    approved = db.session.get(Deliverable, deliverables["approved"])
    creator_seat = seat_of(creator, workroom)
    url = "https://example.com/live"
    deliverable_services.record_go_live(approved, creator, creator_seat, url, date(2024, 1, 10))
    db.session.flush()
    return {
        "live": approved.id,
        "contract": approved.contract_id,
        "campaign": approved.contract.campaign_id,
    }


def seed_closeout(workroom, owner, creator, title):
    """A close-out the brand proposed on another active (two-line) contract of the
    workroom, waiting on the creator."""
    from portal.closeouts import services as closeout_services

    contract = seed_contract(workroom, owner, title, lines=2)
    contract_services.accept_version(
        contract, creator, seat_of(creator, workroom), contract.latest_version.sha256
    )
    closeout = closeout_services.propose_closeout(
        contract, owner, seat_of(owner, workroom), "The season ended early."
    )
    return {"closeout": closeout.id, "contract": contract.id}


def build_world(app, maildir):
    """Seed the world: brand A (owner, manager, viewer), brand B (owner), staff, creators."""
    with app.app_context():
        owner = factories.user(name="Olive Owner")
        brand_a = owner.memberships[0].brand_id
        people = {
            "brand_owner": owner,
            "brand_manager": factories.user(brand=brand_a, role=BrandRole.manager),
            "brand_viewer": factories.user(brand=brand_a, role=BrandRole.viewer),
            "creator": factories.user(kind=AccountKind.creator),
            "mediator": factories.user(kind=AccountKind.mediator),
            "admin": factories.user(kind=AccountKind.admin),
        }
        owner_b = factories.user(name="Bea Secretowner", email="bea.secret@example.com")
        brand_b = db.session.get(Brand, owner_b.memberships[0].brand_id)
        brand_b.name = "Zebra Secret Brand"
        target = factories.user(kind=AccountKind.creator, name="Tara Target")
        disabled = factories.user(kind=AccountKind.creator, disabled=True)
        ttl = app.config["INVITATION_TTL"]
        brand_a_row = db.session.get(Brand, brand_a)
        invitation_a, token_a = services.invite_member(
            brand_a_row, owner, "invitee.a@example.com", BrandRole.manager, ttl
        )
        invitation_b, token_b = services.invite_member(
            brand_b, owner_b, "hidden.invitee.b@example.com", BrandRole.manager, ttl
        )
        reset_token = services.create_password_reset(target, app.config["PASSWORD_RESET_TTL"])
        workroom_a, message_a = seed_workroom(brand_a_row, people["creator"], "Hello from A")
        workroom_b, message_b = seed_workroom(brand_b, target, "Zebra secret plan")
        attachment_a = seed_attachment(message_a, people["creator"], "brief-a.txt", "Brief A")
        attachment_b = seed_attachment(message_b, target, "zebra-secret.txt", "Zebra secret file")
        contract_a = seed_contract(workroom_a, owner, "Spring Trails")
        contract_b = seed_contract(workroom_b, owner_b, "Zebra secret contract")
        campaign_invitation_a, campaign_link_a = seed_campaign_invitations(
            contract_a.campaign, owner, people["creator"], ttl, email="newcomer.a@example.com"
        )
        campaign_invitation_b, _ = seed_campaign_invitations(
            contract_b.campaign, owner_b, target, ttl
        )
        deliverables_a = seed_deliverables(workroom_a, owner, people["creator"], "Trail video")
        deliverables_b = seed_deliverables(workroom_b, owner_b, target, "Zebra secret deliverable")
        milestones_a = seed_milestones(workroom_a, owner, deliverables_a, "Trail milestone")
        results_a = seed_results(workroom_a, people["creator"], deliverables_a)
        milestones_b = seed_milestones(
            workroom_b, owner_b, deliverables_b, "Zebra secret milestone"
        )
        tickets_a = seed_ticket(
            workroom_a, owner, people["creator"], people["mediator"], deliverables_a, "Brief"
        )
        tickets_a["waiting"] = seed_waiting_ticket(workroom_a, owner, people["creator"])
        renewal_a = seed_renewal(workroom_a, owner, people["creator"])
        closeouts_a = seed_closeout(workroom_a, owner, people["creator"], "Trail close-out")
        closeouts_b = seed_closeout(workroom_b, owner_b, target, "Zebra secret close-out")
        exit_a = seed_exit(workroom_a, owner, people["creator"], "Trail exit")
        exit_b = seed_exit(workroom_b, owner_b, target, "Zebra secret exit")
        tickets_b = seed_ticket(
            workroom_b,
            owner_b,
            target,
            factories.user(kind=AccountKind.mediator, name="Other Mediator"),
            deliverables_b,
            # Every mediator hears of a ticket reaching the queue, so its subject is no
            # secret from them (its page and its workroom stay out of their reach).
            "Brand B's dispute",
        )
        notes = [
            notify(owner, Kind.review, "A review", link="/"),
            notify(owner_b, Kind.review, "Zebra secret review", link="/"),
        ]
        db.session.flush()
        notification_a, notification_b = (note.id for note in notes)
        token = unsubscribe_token(people["creator"], "digest")
        db.session.commit()
        message = EmailMessage()
        message["Subject"] = "Sample sink message"
        message["From"] = "no-reply@duet.localhost"
        message["To"] = "someone@example.com"
        message.set_content("hello")
        mail_key = mailbox.Maildir(str(maildir), create=True).add(message)
        return World(
            users={role: factories.Snapshot.of(user) for role, user in people.items()},
            brand_a=brand_a,
            brand_b=brand_b.id,
            invitation_a=invitation_a.id,
            invitation_b=invitation_b.id,
            invitation_a_token=token_a,
            invitation_b_token=token_b,
            reset_token=reset_token,
            target_id=target.id,
            disabled_id=disabled.id,
            mail_key=mail_key,
            workroom_a=workroom_a.id,
            workroom_b=workroom_b.id,
            message_a=message_a.id,
            message_b=message_b.id,
            attachment_a=attachment_a.id,
            attachment_b=attachment_b.id,
            contract_a=contract_a.id,
            contract_a_sha=contract_a.latest_version.sha256,
            contract_b=contract_b.id,
            campaign_a=contract_a.campaign_id,
            campaign_b=contract_b.campaign_id,
            campaign_invitation_a=campaign_invitation_a.id,
            campaign_invitation_b=campaign_invitation_b.id,
            campaign_link_a=campaign_link_a,
            deliverables_a=deliverables_a,
            deliverables_b=deliverables_b,
            milestones_a=milestones_a,
            milestones_b=milestones_b,
            tickets_a=tickets_a,
            tickets_b=tickets_b,
            notification_a=notification_a,
            notification_b=notification_b,
            unsubscribe_token=token,
            renewal_a=renewal_a,
            closeouts_a=closeouts_a,
            closeouts_b=closeouts_b,
            results_a=results_a,
            exit_a=exit_a,
            exit_b=exit_b,
            secrets=(
                "Zebra secret review",
                "Zebra secret deliverable",
                "Zebra secret milestone",
                "Zebra secret contract",
                "Zebra secret close-out",
                "Zebra secret exit",
                "Zebra secret plan",
                "Zebra secret file",
                "zebra-secret.txt",
                "Zebra Secret Brand",
                "hidden.invitee.b@example.com",
                "bea.secret@example.com",
            ),
        )


@pytest.fixture
def world(app, tmp_path, monkeypatch):
    """The seeded world, with the development mail sink pointed at a private folder."""
    maildir = tmp_path / "mail"
    monkeypatch.setitem(app.config, "DEV_MAILDIR", str(maildir))
    return build_world(app, maildir)


def campaign_invitation_samples(w):
    """Campaign invitations: the "creator" role's own, and brand B's creator's."""
    return {"own": w.campaign_invitation_a, "other brand": w.campaign_invitation_b}


def deliverable_samples(w, key):
    """One of seed_deliverables' objects: workroom A's and brand B's."""
    return {"own": w.deliverables_a[key], "other brand": w.deliverables_b[key]}


def milestone_contracts(w):
    """The active contracts seed_milestones put milestones on."""
    return {"own": w.milestones_a["contract"], "other brand": w.milestones_b["contract"]}


# URL argument -> {variant: value}; "own" is the acting user's (or a valid) object, the
# others belong to brand B.  An endpoint-specific sample wins over an argument-wide one.
SAMPLES = {
    "brand_id": lambda w: {"own": w.brand_a, "other brand": w.brand_b},
    "invitation_id": lambda w: {"own": w.invitation_a, "other brand": w.invitation_b},
    "user_id": lambda w: {"own": w.target_id},
    "key": lambda w: {"own": w.mail_key},
    ("accounts.reset_password", "token"): lambda w: {"own": w.reset_token},
    ("accounts.invitation", "token"): lambda w: {"own": w.invitation_a_token},
    "workroom_id": lambda w: {"own": w.workroom_a, "other brand": w.workroom_b},
    "message_id": lambda w: {"own": w.message_a, "other brand": w.message_b},
    "attachment_id": lambda w: {"own": w.attachment_a, "other brand": w.attachment_b},
    "contract_id": lambda w: {"own": w.contract_a, "other brand": w.contract_b},
    ("contracts.version", "number"): lambda w: {"own": 1},
    "campaign_id": lambda w: {"own": w.campaign_a, "other brand": w.campaign_b},
    ("campaigns.withdraw", "invitation_id"): campaign_invitation_samples,
    ("campaigns.invitation", "invitation_id"): campaign_invitation_samples,
    ("campaigns.accept", "invitation_id"): campaign_invitation_samples,
    ("campaigns.decline", "invitation_id"): campaign_invitation_samples,
    ("campaigns.join", "token"): lambda w: {"own": w.campaign_link_a},
    "deliverable_id": lambda w: deliverable_samples(w, "deliverable"),
    ("deliverables.answer_extension", "request_id"): lambda w: deliverable_samples(w, "extension"),
    ("deliverables.withdraw_extension", "request_id"): lambda w: deliverable_samples(
        w, "extension"
    ),
    ("deliverables.answer_round", "request_id"): lambda w: deliverable_samples(w, "round"),
    ("scheduling.feed", "token"): lambda w: {"own": sample_feed_token(w)},
    "milestone_id": lambda w: {
        "own": w.milestones_a["milestone"],
        "other brand": w.milestones_b["milestone"],
    },
    "ticket_id": lambda w: {"own": w.tickets_a["ticket"], "other brand": w.tickets_b["ticket"]},
    "notification_id": lambda w: {"own": w.notification_a, "other brand": w.notification_b},
    ("mail_lists.unsubscribe", "token"): lambda w: {"own": w.unsubscribe_token},
    ("mediation.answer", "number"): lambda w: {"own": 1},
    "bundle_id": lambda w: {"own": w.tickets_a["bundle"], "other brand": w.tickets_b["bundle"]},
    ("escrow.new", "contract_id"): lambda w: milestone_contracts(w),
    ("escrow.fund_contract", "contract_id"): lambda w: milestone_contracts(w),
    "closeout_id": lambda w: {
        "own": w.closeouts_a["closeout"],
        "other brand": w.closeouts_b["closeout"],
    },
    ("closeouts.new", "contract_id"): lambda w: milestone_contracts(w),  # active, none open
    "creator_id": lambda w: {"own": w.users["creator"].id, "other brand": w.target_id},
    "exit_id": lambda w: {"own": w.exit_a, "other brand": w.exit_b},
    ("exits.new", "contract_id"): lambda w: milestone_contracts(w),  # active, not ending
}


def samples_for(rule, world, samples=None):
    """{argument: {variant: value}} for a rule, or fail naming the missing sample."""
    samples = SAMPLES if samples is None else samples
    found = {}
    for argument in sorted(rule.arguments):
        sample = samples.get((rule.endpoint, argument)) or samples.get(argument)
        if sample is None:
            pytest.fail(f"{rule.rule}: add a sample value for <{argument}> to SAMPLES")
        found[argument] = sample(world)
    return found


def url_variants(rule, world, samples=None):
    """(variant name, values) pairs: other brands' objects one at a time and all together,
    then the user's own objects last (own POSTs may change state)."""
    samples = samples_for(rule, world, samples)
    own = {argument: values["own"] for argument, values in samples.items()}
    foreign = [argument for argument, values in samples.items() if len(values) > 1]
    variants = []
    for argument in foreign:
        values = dict(own, **{argument: samples[argument]["other brand"]})
        name = FOREIGN if len(foreign) == 1 else f"other brand's {argument}"
        variants.append((name, values))
    if len(foreign) > 1:
        values = {a: samples[a]["other brand" if a in foreign else "own"] for a in samples}
        variants.append((FOREIGN, values))
    variants.append(("own", own))
    return variants


def page_token(client):
    """The CSRF token of the client's session, read from hx-headers on the home page."""
    match = TOKEN_IN_PAGE.search(client.get("/").get_data(as_text=True))
    assert match, "no X-CSRFToken in the page's hx-headers"
    return match.group(1)


def client_as(app, world, role):
    """A client signed in as the role's user (anonymous for "anon")."""
    test_client = https_client(app)
    if role != "anon":
        response = Browserless(test_client).login(world.users[role].email)
        assert response.status_code == 302, f"{role} could not sign in"
    return test_client


def db_state(app):
    """Row count and a checksum of every column value, per table."""
    state = {}
    with app.app_context():
        for table in db.metadata.sorted_tables:
            rows = db.session.execute(select(table).order_by(*table.primary_key.columns)).all()
            digest = hashlib.sha256(repr([tuple(row) for row in rows]).encode()).hexdigest()
            state[table.name] = (len(rows), digest)
        db.session.remove()
    return state


def changed_tables(before, after):
    """Names of tables whose rows differ."""
    return sorted(name for name in before if before[name] != after[name])


def is_login_redirect(response):
    """A redirect to the sign-in page that carries where the user was going."""
    if response.status_code not in (302, 303):
        return False
    location = urlsplit(response.headers["Location"])
    return location.path == "/login" and "next" in parse_qs(location.query)


def send(client, method, url, token, *, htmx):
    """One request; unsafe methods carry the session's CSRF token as htmx sends it."""
    headers = dict(HX) if htmx else {}
    if method != "GET":
        headers["X-CSRFToken"] = token
    return client.open(url, method=method, headers=headers)


def rule_methods(rule):
    """The methods of a rule this walk calls (GET for pages, the unsafe ones for actions)."""
    return [method for method in CHECKED_METHODS if method in rule.methods]


def test_access_table_names_every_route(app):
    endpoints = {rule.endpoint for rule in app.url_map.iter_rules()} - NOT_IN_TABLE
    missing = sorted(endpoints - ACCESS.keys())
    stale = sorted(ACCESS.keys() - endpoints)
    assert not missing, (
        f"routes without an access rule: {missing}; add them to ACCESS with the roles allowed"
    )
    assert not stale, f"ACCESS names endpoints that no longer exist: {stale}; remove them"
    for rule in app.url_map.iter_rules():
        entry = ACCESS.get(rule.endpoint)
        if isinstance(entry, dict):
            assert set(entry) == set(rule_methods(rule)), (
                f"{rule.endpoint}: ACCESS lists methods {sorted(entry)}, "
                f"the route takes {rule_methods(rule)}"
            )


def test_access_table_names_only_known_roles():
    for endpoint, entry in ACCESS.items():
        groups = entry.values() if isinstance(entry, dict) else [entry]
        for roles in groups:
            assert roles == PUBLIC or set(roles) <= set(ROLES), endpoint


def check_allowed(response, what):
    """An allowed role is not turned away (and nothing breaks)."""
    status = response.status_code
    assert status not in (401, 403, 404), f"{what}: allowed role got {status}"
    assert not is_login_redirect(response), f"{what}: allowed role sent to sign in"
    assert status != 500, f"{what}: server error"


def check_anonymous(response, path, what, *, htmx):
    """Anonymous visitors are sent to sign in: a redirect for pages, 401 for htmx."""
    if htmx:
        assert response.status_code == 401, f"{what}: anonymous htmx got {response.status_code}"
        assert urlsplit(response.headers["HX-Redirect"]).path == "/login", what
        return
    assert is_login_redirect(response), f"{what}: anonymous got {response.status_code}"
    location = urlsplit(response.headers["Location"])
    assert parse_qs(location.query)["next"] == [path], what


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("endpoint", sorted(ACCESS))
def test_route_answers_each_role_as_the_access_table_says(app, world, endpoint, role):
    rules = [rule for rule in app.url_map.iter_rules() if rule.endpoint == endpoint]
    assert rules, f"{endpoint} is in ACCESS but not in the app"
    client = client_as(app, world, role)
    token = page_token(client)
    with app.test_request_context():
        plans = [
            (rule, variant, url_for(endpoint, **values))
            for rule in rules
            for variant, values in url_variants(rule, world)
        ]
    for rule, variant, url in plans:
        for method in rule_methods(rule):
            allowed = role in allowed_roles(endpoint, method)
            sees_all = role in SEES_EVERY_BRAND.get(endpoint, frozenset())
            may = allowed and (variant == "own" or (sees_all and variant == FOREIGN))
            # An allowed signed-in action is sent once, plainly: it may change the session.
            modes = [False] if may and role != "anon" and method != "GET" else [False, True]
            for htmx in modes:
                what = f"{method} {url} ({variant}) as {role}{' via htmx' if htmx else ''}"
                before = None if may else db_state(app)
                response = send(client, method, url, token, htmx=htmx)
                body = response.get_data(as_text=True)
                if may:
                    check_allowed(response, what)
                elif role == "anon":
                    check_anonymous(response, url, what, htmx=htmx)
                else:
                    assert response.status_code in (403, 404), (
                        f"{what}: expected 403 or 404, got {response.status_code}"
                    )
                if before is not None:
                    changes = changed_tables(before, db_state(app))
                    assert not changes, f"{what}: refused request changed {changes}"
                if not (may and role == "admin"):
                    leaked = [secret for secret in world.secrets if secret in body]
                    assert not leaked, f"{what}: response shows brand B's {leaked}"


# AC-2: writes aimed at another brand's objects


def count(app, model, *where):
    """Rows of a model matching the conditions."""
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model).where(*where))


@pytest.mark.parametrize("htmx", [False, True], ids=["form", "htmx"])
def test_owner_inviting_into_another_brands_team_gets_404_and_nothing_is_created(app, world, htmx):
    client = client_as(app, world, "brand_owner")
    token = page_token(client)
    before = db_state(app)
    response = client.post(
        f"/brands/{world.brand_b}/team",
        data={"csrf_token": token, "email": "planted@example.com", "role": "owner"},
        headers=HX if htmx else {},
    )
    assert response.status_code == 404
    assert changed_tables(before, db_state(app)) == []
    assert count(app, BrandInvitation, BrandInvitation.email == "planted@example.com") == 0
    assert count(app, OutboundEmail, OutboundEmail.to_address == "planted@example.com") == 0


@pytest.mark.parametrize(
    "brand", ["other brand", "own brand"], ids=["via-other-brand-url", "via-own-brand-url"]
)
def test_owner_revoking_another_brands_invitation_gets_404_and_it_stays_open(app, world, brand):
    brand_id = world.brand_b if brand == "other brand" else world.brand_a
    client = client_as(app, world, "brand_owner")
    token = page_token(client)
    before = db_state(app)
    response = client.post(
        f"/brands/{brand_id}/invitations/{world.invitation_b}/revoke",
        data={"csrf_token": token},
    )
    assert response.status_code == 404
    assert changed_tables(before, db_state(app)) == []
    with app.app_context():
        assert db.session.get(BrandInvitation, world.invitation_b).revoked_at is None


@pytest.mark.parametrize("role", ["brand_manager", "brand_viewer"])
def test_non_owner_members_cannot_invite_or_revoke_in_their_own_brand(app, world, role):
    client = client_as(app, world, role)
    token = page_token(client)
    before = db_state(app)
    invite = client.post(
        f"/brands/{world.brand_a}/team",
        data={"csrf_token": token, "email": "planted@example.com", "role": "owner"},
    )
    revoke = client.post(
        f"/brands/{world.brand_a}/invitations/{world.invitation_a}/revoke",
        data={"csrf_token": token},
    )
    assert (invite.status_code, revoke.status_code) == (403, 403)
    assert changed_tables(before, db_state(app)) == []


# AC-3: admin actions from everyone else


ADMIN_ACTIONS = {
    "disable user": lambda w: (f"/admin/users/{w.target_id}/disable", {}),
    "enable user": lambda w: (f"/admin/users/{w.disabled_id}/enable", {}),
    "new mediator": lambda w: (
        "/admin/mediators/new",
        {"name": "Mallory Mediator", "email": "mallory@example.com"},
    ),
}


@pytest.mark.parametrize("action", sorted(ADMIN_ACTIONS))
@pytest.mark.parametrize(
    "role", ["creator", "mediator", "brand_owner", "brand_manager", "brand_viewer"]
)
def test_non_admins_calling_admin_actions_get_403_and_nothing_changes(app, world, role, action):
    client = client_as(app, world, role)
    token = page_token(client)
    url, data = ADMIN_ACTIONS[action](world)
    before = db_state(app)
    response = client.post(url, data={"csrf_token": token, **data})
    assert response.status_code == 403
    assert changed_tables(before, db_state(app)) == []
    with app.app_context():
        assert db.session.get(User, world.target_id).is_disabled is False
        assert db.session.get(User, world.disabled_id).is_disabled is True
        assert db.session.scalar(select(User).where(User.email == "mallory@example.com")) is None


@pytest.mark.parametrize("role", ["mediator", "admin", "brand_owner"])
def test_only_creators_edit_a_creator_profile(app, world, role):
    client = client_as(app, world, role)
    token = page_token(client)
    before = db_state(app)
    response = client.post(
        "/creator/profile",
        data={"csrf_token": token, "display_name": "Hijacked", "currency": "USD"},
    )
    assert response.status_code == 403
    assert changed_tables(before, db_state(app)) == []


# AC-4: extra form fields are ignored

PLANTED = {
    "is_disabled": "1",
    "kind": "admin",
    "role": "owner",
    "id": "999999",
    "user_id": "999999",
    "password_hash": "plaintext-not-a-hash",
    "is_admin": "1",
    "created_at": "2000-01-01T00:00:00",
}


@pytest.mark.parametrize("account_type", ["brand", "creator"])
def test_signup_ignores_planted_fields(app, world, account_type):
    client = https_client(app)
    token = page_token(client)
    response = client.post(
        "/signup",
        data={
            **PLANTED,
            "brand_id": str(world.brand_b),
            "csrf_token": token,
            "account_type": account_type,
            "name": "Nora New",
            "email": "nora@example.com",
            "password": "a long enough passphrase",
            "brand_name": "Nora Goods",
            "display_name": "Nora Makes",
            "timezone": "UTC",
        },
    )
    assert response.status_code == 302
    with app.app_context():
        user = db.session.scalar(select(User).where(User.email == "nora@example.com"))
        assert user.kind is AccountKind(account_type)
        assert user.is_disabled is False
        assert user.id != 999999
        assert user.created_at.year > 2000
        assert verify_password(user.password_hash, "a long enough passphrase")
        memberships = db.session.scalars(
            select(BrandMembership).where(BrandMembership.user_id == user.id)
        ).all()
        if account_type == "brand":
            assert len(memberships) == 1
            assert memberships[0].brand_id != world.brand_b
            assert memberships[0].brand.name == "Nora Goods"
        else:
            assert memberships == []
    assert count(app, BrandMembership, BrandMembership.brand_id == world.brand_b) == 1


def test_settings_ignore_planted_fields(app, world):
    owner = world.users["brand_owner"]
    with app.app_context():
        before = db.session.get(User, owner.id)
        hash_before, created_before = before.password_hash, before.created_at
    client = client_as(app, world, "brand_owner")
    response = client.post(
        "/account",
        data={
            **PLANTED,
            "csrf_token": page_token(client),
            "email": "taken.over@example.com",
            "name": "Renamed Owner",
            "timezone": "Europe/Paris",
        },
    )
    assert response.status_code == 302
    with app.app_context():
        user = db.session.get(User, owner.id)
        assert (user.name, user.timezone) == ("Renamed Owner", "Europe/Paris")
        assert user.email == owner.email
        assert user.kind is AccountKind.brand
        assert user.is_disabled is False
        assert (user.password_hash, user.created_at) == (hash_before, created_before)
        assert db.session.get(User, 999999) is None


def test_creator_profile_ignores_planted_fields(app, world):
    creator = world.users["creator"]
    client = client_as(app, world, "creator")
    response = client.post(
        "/creator/profile",
        data={
            **PLANTED,
            "csrf_token": page_token(client),
            "profile_id": "1",
            "display_name": "Cleo Creates",
            "currency": "EUR",
            "audience_size": "1200",
        },
    )
    assert response.status_code == 302
    with app.app_context():
        profiles = db.session.scalars(select(CreatorProfile)).all()
        mine = [p for p in profiles if p.user_id == creator.id]
        assert len(mine) == 1
        assert (mine[0].display_name, mine[0].currency) == ("Cleo Creates", "EUR")
        assert mine[0].id != 999999
        user = db.session.get(User, creator.id)
        assert (user.kind, user.is_disabled) == (AccountKind.creator, False)
        others = [p for p in profiles if p.user_id != creator.id]
        assert "Cleo Creates" not in [p.display_name for p in others]


def test_invite_ignores_planted_fields(app, world):
    owner = world.users["brand_owner"]
    client = client_as(app, world, "brand_owner")
    response = client.post(
        f"/brands/{world.brand_a}/team",
        data={
            **PLANTED,
            "csrf_token": page_token(client),
            "brand_id": str(world.brand_b),
            "invited_by_id": str(world.users["admin"].id),
            "accepted_at": "2000-01-01T00:00:00",
            "token_hash": "0" * 64,
            "email": "teammate@example.com",
            "role": "viewer",
        },
    )
    assert response.status_code == 302
    with app.app_context():
        invitation = db.session.scalar(
            select(BrandInvitation).where(BrandInvitation.email == "teammate@example.com")
        )
        assert invitation.brand_id == world.brand_a
        assert invitation.role is BrandRole.viewer
        assert invitation.invited_by_id == owner.id
        assert invitation.accepted_at is None
        assert invitation.token_hash != "0" * 64
        assert invitation.id != 999999


def test_joining_by_invitation_ignores_planted_fields(app, world):
    client = https_client(app)
    response = client.post(
        f"/invitations/{world.invitation_a_token}",
        data={
            **PLANTED,
            "csrf_token": page_token(client),
            "brand_id": str(world.brand_b),
            "email": "someone.else@example.com",
            "name": "Ina Invitee",
            "password": "a long enough passphrase",
            "timezone": "UTC",
        },
    )
    assert response.status_code == 302
    with app.app_context():
        user = db.session.scalar(select(User).where(User.email == "invitee.a@example.com"))
        assert (user.kind, user.is_disabled) == (AccountKind.brand, False)
        assert (
            db.session.scalar(select(User).where(User.email == "someone.else@example.com")) is None
        )
        memberships = db.session.scalars(
            select(BrandMembership).where(BrandMembership.user_id == user.id)
        ).all()
        assert [(m.brand_id, m.role) for m in memberships] == [(world.brand_a, BrandRole.manager)]


def test_sessions_and_reset_tokens_are_not_touched_by_planted_fields(app, world):
    """A settings post naming another user's id changes nothing of theirs."""
    victim = world.users["admin"]
    client = client_as(app, world, "creator")
    with app.app_context():
        sessions_before = db.session.scalar(select(func.count()).select_from(UserSession))
        resets_before = db.session.scalar(select(func.count()).select_from(PasswordResetToken))
        victim_before = db.session.get(User, victim.id).name
    response = client.post(
        "/account",
        data={
            "csrf_token": page_token(client),
            "id": str(victim.id),
            "user_id": str(victim.id),
            "name": "Creator Renamed",
            "timezone": "UTC",
        },
    )
    assert response.status_code == 302
    with app.app_context():
        assert db.session.get(User, victim.id).name == victim_before
        assert db.session.get(User, world.users["creator"].id).name == "Creator Renamed"
        assert db.session.scalar(select(func.count()).select_from(UserSession)) == sessions_before
        assert (
            db.session.scalar(select(func.count()).select_from(PasswordResetToken)) == resets_before
        )
