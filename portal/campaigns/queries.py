"""Reads of campaigns, invitations and the creator roster that pages share."""

from sqlalchemy import String, case, exists, or_, select, type_coerce
from sqlalchemy.orm import joinedload, selectinload

from portal.accounts.models import (
    AccountKind,
    BrandMembership,
    CreatorHandle,
    CreatorNiche,
    CreatorProfile,
    User,
)
from portal.campaigns.models import Campaign, CampaignInvitation, CampaignStatus, InvitationStatus
from portal.database import utcnow
from portal.extensions import db

PER_PAGE = 25
ROSTER_PER_PAGE = 20
DASHBOARD_LIMIT = 5
# Running campaigns first, then drafts, then finished ones (compared as stored strings).
_STATUS_ORDER = case(
    {"active": 0, "draft": 1, "completed": 2, "archived": 3},
    value=type_coerce(Campaign.status, String),
)


def escape_like(text):
    """Treat %, _ and the escape character in a search as plain characters."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _contains(column, text):
    """Case-insensitive "contains", with the search text taken literally."""
    return column.ilike(f"%{escape_like(text.lower())}%", escape="\\")


def brand_campaigns(brand, *, page=1, per_page=PER_PAGE):
    """A brand's campaigns, running ones first, then by start date: one page of them."""
    query = (
        select(Campaign)
        .where(Campaign.brand_id == brand.id)
        .order_by(_STATUS_ORDER, Campaign.starts_on.desc(), Campaign.id.desc())
    )
    return db.paginate(query, page=page, per_page=per_page, error_out=False)


def campaign_invitations(campaign):
    """Every invitation of a campaign with its creator and profile, newest first."""
    return db.session.scalars(
        select(CampaignInvitation)
        .options(
            joinedload(CampaignInvitation.creator).joinedload(User.creator_profile),
            joinedload(CampaignInvitation.invited_by),
        )
        .where(CampaignInvitation.campaign_id == campaign.id)
        .order_by(CampaignInvitation.created_at.desc(), CampaignInvitation.id.desc())
    ).all()


def creator_invitations(user):
    """A creator's campaign invitations with campaign and brand; open ones first."""
    rows = db.session.scalars(
        select(CampaignInvitation)
        .options(
            joinedload(CampaignInvitation.campaign).joinedload(Campaign.brand),
            joinedload(CampaignInvitation.invited_by),
        )
        .where(CampaignInvitation.creator_id == user.id)
        .order_by(CampaignInvitation.created_at.desc(), CampaignInvitation.id.desc())
    ).all()
    now = utcnow()
    return sorted(rows, key=lambda invitation: not invitation.is_open(now))


def open_invitations_of(user, *, limit=DASHBOARD_LIMIT):
    """A creator's invitations still waiting on an answer, newest first."""
    return db.session.scalars(
        select(CampaignInvitation)
        .options(joinedload(CampaignInvitation.campaign).joinedload(Campaign.brand))
        .where(
            CampaignInvitation.creator_id == user.id,
            CampaignInvitation.status == InvitationStatus.pending,
            CampaignInvitation.expires_at > utcnow(),
        )
        .order_by(CampaignInvitation.created_at.desc())
        .limit(limit)
    ).all()


def active_campaigns_of(user, *, limit=DASHBOARD_LIMIT):
    """Running campaigns of every brand the user belongs to, soonest ending first."""
    return db.session.scalars(
        select(Campaign)
        .options(joinedload(Campaign.brand))
        .join(BrandMembership, BrandMembership.brand_id == Campaign.brand_id)
        .where(BrandMembership.user_id == user.id, Campaign.status == CampaignStatus.active)
        .order_by(Campaign.ends_on, Campaign.id)
        .limit(limit)
    ).all()


def open_campaigns(brand):
    """A brand's campaigns that take invitations (active), by name."""
    return db.session.scalars(
        select(Campaign)
        .where(Campaign.brand_id == brand.id, Campaign.status == CampaignStatus.active)
        .order_by(Campaign.name, Campaign.id)
    ).all()


def search_creators(*, q="", platform=None, niche="", page=1, per_page=ROSTER_PER_PAGE):
    """The roster: active creators matching a name/handle text, a platform and a niche.

    Handles and niches load in two extra queries per page, whatever the page size.
    """
    query = (
        select(CreatorProfile)
        .join(User, User.id == CreatorProfile.user_id)
        .options(selectinload(CreatorProfile.handles), selectinload(CreatorProfile.niches))
        .where(User.kind == AccountKind.creator, User.is_disabled.is_(False))
    )
    if q:
        handle = q.lstrip("@") or q
        query = query.where(
            or_(
                _contains(CreatorProfile.display_name, q),
                _contains(User.name, q),
                exists().where(
                    CreatorHandle.profile_id == CreatorProfile.id,
                    _contains(CreatorHandle.handle, handle),
                ),
            )
        )
    if platform is not None:
        query = query.where(
            exists().where(
                CreatorHandle.profile_id == CreatorProfile.id, CreatorHandle.platform == platform
            )
        )
    if niche:
        query = query.where(
            exists().where(
                CreatorNiche.profile_id == CreatorProfile.id, _contains(CreatorNiche.name, niche)
            )
        )
    query = query.order_by(CreatorProfile.audience_size.desc(), CreatorProfile.id)
    return db.paginate(query, page=page, per_page=per_page, error_out=False)


def invitation_states(campaign, creator_ids):
    """{creator id: invitation} of the open or accepted invitations among these creators."""
    if campaign is None or not creator_ids:
        return {}
    rows = db.session.scalars(
        select(CampaignInvitation)
        .where(
            CampaignInvitation.campaign_id == campaign.id,
            CampaignInvitation.creator_id.in_(creator_ids),
            CampaignInvitation.status.in_([InvitationStatus.pending, InvitationStatus.accepted]),
        )
        .order_by(CampaignInvitation.id)
    ).all()
    now = utcnow()
    return {
        row.creator_id: row
        for row in rows
        if row.status is InvitationStatus.accepted or not row.is_expired(now)
    }
