"""Every state change of campaigns and campaign invitations."""

import re

from sqlalchemy import select, update

from portal.accounts import services as accounts
from portal.accounts.models import AccountKind, BrandMembership, BrandRole, User
from portal.audit import record_event
from portal.campaigns.models import (
    CAMPAIGN_TRANSITIONS,
    Campaign,
    CampaignInvitation,
    CampaignStatus,
    InvitationStatus,
)
from portal.database import utcnow
from portal.errors import InvalidState, NotAllowed
from portal.exits import services as exit_services
from portal.extensions import db
from portal.markup import render_markdown
from portal.money import CURRENCIES
from portal.notifications.emails import public_url, queue_email
from portal.workrooms.services import open_workroom, post_system_event

MAX_BRIEF = 20_000
MAX_MESSAGE = 2_000
#: Campaigns whose details may still change.
EDITABLE = (CampaignStatus.draft, CampaignStatus.active)
#: Campaigns that take new invitations and acceptances.
INVITING = (CampaignStatus.active,)


class InvalidCampaign(InvalidState):
    """Campaign details that break a rule (dates out of order, negative budget, ...)."""

    status_code = 422


class DuplicateInvitation(InvalidState):
    """The creator already has an open invitation to (or joined) this campaign."""


class InvitationClosed(InvalidState):
    """The invitation was answered, withdrawn or has expired."""


TokenInvalid = accounts.TokenInvalid


def can_manage(user, brand_id):
    """True when the user is an owner or manager of the brand."""
    role = db.session.scalar(
        select(BrandMembership.role).where(
            BrandMembership.brand_id == brand_id, BrandMembership.user_id == user.id
        )
    )
    return role in (BrandRole.owner, BrandRole.manager)


def _require_manager(brand_id, actor):
    """Only the brand's owners and managers change campaigns."""
    if actor is None or not can_manage(actor, brand_id):
        raise NotAllowed("Only the brand's owners and managers can change campaigns.")


def _md(text):
    """Text safe to put inside Markdown emphasis in a system line."""
    return re.sub(r"([\\`*_\[\]<>#|~!])", r"\\\1", text)


def _check_details(name, brief_md, starts_on, ends_on, budget_minor, currency):
    """Refuse details the database would refuse, with a message a person can act on."""
    if not name.strip():
        raise InvalidCampaign("Give the campaign a name.")
    if len(brief_md) > MAX_BRIEF:
        raise InvalidCampaign(f"Briefs are limited to {MAX_BRIEF:,} characters.")
    if ends_on < starts_on:
        raise InvalidCampaign("The campaign can't end before it starts.")
    if budget_minor < 0:
        raise InvalidCampaign("The budget can't be negative.")
    if currency not in CURRENCIES:
        raise InvalidCampaign("Choose one of the listed currencies.")


def create_campaign(
    brand,
    actor,
    *,
    name,
    starts_on,
    ends_on,
    budget_minor,
    currency,
    brief_md="",
    now=None,
):
    """A brand owner or manager starts a campaign as a draft."""
    _require_manager(brand.id, actor)
    brief_md = (brief_md or "").strip()
    _check_details(name, brief_md, starts_on, ends_on, budget_minor, currency)
    now = now or utcnow()
    campaign = Campaign(
        brand=brand,
        name=name.strip(),
        brief_md=brief_md,
        brief_html=render_markdown(brief_md),
        starts_on=starts_on,
        ends_on=ends_on,
        budget_minor=budget_minor,
        currency=currency,
        status=CampaignStatus.draft,
        created_by_id=actor.id,
        created_at=now,
    )
    db.session.add(campaign)
    db.session.flush()
    record_event(
        actor,
        "campaign.created",
        campaign,
        data={"brand_id": brand.id, "name": campaign.name},
        now=now,
    )
    return campaign


def update_campaign(
    campaign, actor, *, name, starts_on, ends_on, budget_minor, currency, brief_md="", now=None
):
    """Change a draft or active campaign's details; the audit event names what changed."""
    _require_manager(campaign.brand_id, actor)
    if campaign.status not in EDITABLE:
        raise InvalidState(f"A {campaign.status.value} campaign can't be edited.")
    brief_md = (brief_md or "").strip()
    _check_details(name, brief_md, starts_on, ends_on, budget_minor, currency)
    values = {
        "name": name.strip(),
        "brief_md": brief_md,
        "starts_on": starts_on,
        "ends_on": ends_on,
        "budget_minor": budget_minor,
        "currency": currency,
    }
    changed = sorted(key for key, value in values.items() if getattr(campaign, key) != value)
    if not changed:
        return campaign
    for key in changed:
        setattr(campaign, key, values[key])
    if "brief_md" in changed:
        campaign.brief_html = render_markdown(brief_md)
    db.session.flush()
    record_event(actor, "campaign.updated", campaign, data={"changed": changed}, now=now)
    return campaign


def change_campaign_status(campaign, actor, status, *, now=None):
    """Move a campaign along CAMPAIGN_TRANSITIONS; closing it withdraws pending invitations."""
    _require_manager(campaign.brand_id, actor)
    if status not in CAMPAIGN_TRANSITIONS[campaign.status]:
        raise InvalidState(f"A {campaign.status.value} campaign can't become {status.value}.")
    now = now or utcnow()
    previous, campaign.status = campaign.status, status
    withdrawn = []
    if status not in INVITING:
        pending = db.session.scalars(
            select(CampaignInvitation).where(
                CampaignInvitation.campaign_id == campaign.id,
                CampaignInvitation.status == InvitationStatus.pending,
            )
        ).all()
        for invitation in pending:
            invitation.status, invitation.responded_at = InvitationStatus.withdrawn, now
            withdrawn.append(invitation.id)
    db.session.flush()
    record_event(
        actor,
        "campaign.status_changed",
        campaign,
        data={"from": previous.value, "to": status.value, "withdrawn": sorted(withdrawn)},
        now=now,
    )
    return campaign


def _check_inviting(campaign, actor):
    """The actor may invite into this campaign, and the campaign takes invitations."""
    _require_manager(campaign.brand_id, actor)
    if campaign.status not in INVITING:
        raise InvalidState(
            "Activate the campaign before inviting creators."
            if campaign.status is CampaignStatus.draft
            else f"A {campaign.status.value} campaign takes no new invitations."
        )


def _check_not_duplicate(campaign, now, *, creator=None, email=None):
    """Refuse a second open invitation, or an invitation to someone who already joined."""
    who = (
        CampaignInvitation.creator_id == creator.id
        if creator is not None
        else CampaignInvitation.email == email
    )
    rows = db.session.scalars(
        select(CampaignInvitation).where(
            CampaignInvitation.campaign_id == campaign.id,
            who,
            CampaignInvitation.status.in_([InvitationStatus.pending, InvitationStatus.accepted]),
        )
    ).all()
    name = (
        creator.creator_profile.display_name
        if creator is not None and creator.creator_profile
        else (creator.name if creator is not None else email)
    )
    for row in rows:
        if row.status is InvitationStatus.accepted:
            raise DuplicateInvitation(f"{name} has already joined {campaign.name}.")
        if not row.is_expired(now):
            raise DuplicateInvitation(
                f"{name} already has a pending invitation to {campaign.name}."
            )


def _clean_message(message):
    """The optional note of an invitation."""
    message = (message or "").strip()
    if len(message) > MAX_MESSAGE:
        raise InvalidState(f"Messages are limited to {MAX_MESSAGE:,} characters.")
    return message


def _send_invitation(campaign, actor, ttl, message, now, *, data, **recipient):
    """Store a pending invitation (to a creator or an email) and audit it."""
    invitation = CampaignInvitation(
        campaign=campaign,
        message=message,
        invited_by=actor,
        created_at=now,
        expires_at=now + ttl,
        **recipient,
    )
    db.session.add(invitation)
    db.session.flush()
    record_event(
        actor,
        "campaign_invitation.sent",
        invitation,
        data={"campaign_id": campaign.id, **data},
        now=now,
    )
    return invitation


def invite_creator(campaign, actor, creator, ttl, *, message="", now=None):
    """Invite a creator from the roster to an active campaign."""
    _check_inviting(campaign, actor)
    if creator is None or creator.kind is not AccountKind.creator or creator.is_disabled:
        raise InvalidState("Choose a creator from the roster.")
    now = now or utcnow()
    message = _clean_message(message)
    _check_not_duplicate(campaign, now, creator=creator)
    return _send_invitation(
        campaign, actor, ttl, message, now, creator=creator, data={"creator_id": creator.id}
    )


def invite_by_email(campaign, actor, email, ttl, *, message="", now=None):
    """Invite anyone by email; returns (invitation, raw link token or None).

    An address of an existing creator becomes a roster invitation (no token: they sign in);
    any other address gets a single-use link whose SHA-256 alone is stored.
    """
    _check_inviting(campaign, actor)
    email = accounts.normalize_email(email)
    existing = db.session.scalar(select(User).where(User.email == email))
    if existing is not None and existing.kind is AccountKind.creator:
        return invite_creator(campaign, actor, existing, ttl, message=message, now=now), None
    if existing is not None:
        raise InvalidState(f"{email} belongs to a {existing.kind.value} account, not a creator.")
    now = now or utcnow()
    message = _clean_message(message)
    _check_not_duplicate(campaign, now, email=email)
    raw, digest = accounts.new_link_token()
    invitation = _send_invitation(
        campaign,
        actor,
        ttl,
        message,
        now,
        email=email,
        token_hash=digest,
        data={"by_email": True},
    )
    return invitation, raw


def find_invitation_by_token(raw_token, *, now=None):
    """The open emailed invitation for a raw link token, or raise TokenInvalid (404)."""
    invitation = db.session.scalar(
        select(CampaignInvitation).where(
            CampaignInvitation.token_hash == accounts.token_digest(raw_token)
        )
    )
    if invitation is None or not invitation.is_open(now):
        raise TokenInvalid("This invitation is invalid, used or expired. Ask the brand again.")
    return invitation


def claim_invitation(invitation, user, *, now=None):
    """The emailed person takes the invitation into their account; the link is spent."""
    if not invitation.is_open(now):
        raise InvitationClosed("This invitation can no longer be used.")
    if accounts.normalize_email(user.email) != invitation.email:
        raise NotAllowed("This invitation was sent to another email address.")
    if user.kind is not AccountKind.creator:
        raise InvalidState("Only creator accounts can join a campaign.")
    invitation.creator = user
    invitation.token_hash = None  # single use: the link opens nothing any more
    db.session.flush()
    record_event(
        user,
        "campaign_invitation.claimed",
        invitation,
        data={"campaign_id": invitation.campaign_id},
        now=now,
    )
    return invitation


def register_invited_creator(invitation, name, password, *, timezone="UTC", now=None):
    """Create the creator account of an emailed invitation and claim the invitation."""
    if not invitation.is_open(now):
        raise InvitationClosed("This invitation can no longer be used.")
    user = accounts.register_creator(
        invitation.email, name, password, name, timezone=timezone, now=now
    )
    claim_invitation(invitation, user, now=now)
    return user


def _check_answerable(invitation, actor, now):
    """The invited creator may still answer."""
    if actor is None or invitation.creator_id != actor.id:
        raise NotAllowed("This invitation is for another creator.")
    if invitation.status is not InvitationStatus.pending:
        raise InvitationClosed(f"This invitation was already {invitation.status.value}.")
    if invitation.is_expired(now):
        raise InvitationClosed("This invitation has expired. Ask the brand for a new one.")


def _leave_pending(invitation, status, now):
    """Move a pending invitation to `status` exactly once, even under a race."""
    moved = db.session.execute(
        update(CampaignInvitation)
        .where(
            CampaignInvitation.id == invitation.id,
            CampaignInvitation.status == InvitationStatus.pending,
        )
        .values(status=status, responded_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount
    if moved != 1:
        db.session.refresh(invitation)
        raise InvitationClosed(f"This invitation was already {invitation.status.value}.")
    db.session.refresh(invitation)


def accept_invitation(invitation, actor, *, now=None):
    """The creator joins the campaign: the pair's workroom opens (or is reused) and says so."""
    now = now or utcnow()
    _check_answerable(invitation, actor, now)
    campaign = invitation.campaign
    if campaign.status not in INVITING:
        raise InvitationClosed(f"{campaign.name} is {campaign.status.value}; it can't be joined.")
    _leave_pending(invitation, InvitationStatus.accepted, now)
    workroom = open_workroom(campaign.brand, actor, actor, now=now)
    invitation.workroom_id = workroom.id
    who = actor.creator_profile.display_name if actor.creator_profile else actor.name
    post_system_event(
        workroom,
        f"{_md(who)} accepted the invitation to **{_md(campaign.name)}**.",
        actor=actor,
        now=now,
    )
    record_event(
        actor,
        "campaign_invitation.accepted",
        invitation,
        data={"campaign_id": campaign.id, "workroom_id": workroom.id},
        now=now,
    )
    # An invitation sent from an exit carries the remaining work over to the new creator.
    exit_services.replacement_accepted(invitation, workroom, actor, now=now)
    return workroom


def decline_invitation(invitation, actor, *, now=None):
    """The creator says no."""
    now = now or utcnow()
    _check_answerable(invitation, actor, now)
    _leave_pending(invitation, InvitationStatus.declined, now)
    record_event(
        actor,
        "campaign_invitation.declined",
        invitation,
        data={"campaign_id": invitation.campaign_id},
        now=now,
    )
    return invitation


def withdraw_invitation(invitation, actor, *, now=None):
    """A brand owner or manager takes back a pending invitation; its link stops working."""
    _require_manager(invitation.campaign.brand_id, actor)
    if invitation.status is not InvitationStatus.pending:
        raise InvitationClosed(f"This invitation was already {invitation.status.value}.")
    now = now or utcnow()
    _leave_pending(invitation, InvitationStatus.withdrawn, now)
    record_event(
        actor,
        "campaign_invitation.withdrawn",
        invitation,
        data={"campaign_id": invitation.campaign_id},
        now=now,
    )
    return invitation


def email_invited_creator(invitation):
    """Email a creator on Duet about their new invitation (sent after the commit)."""
    campaign = invitation.campaign
    queue_email(
        "campaign_invitation",
        invitation.creator.email,
        invitation.creator.name,
        f"{campaign.brand.name} invited you to {campaign.name} on Duet",
        "campaign_invitation",
        invitation=invitation,
        link=public_url("campaigns.invitation", invitation_id=invitation.id),
    )
