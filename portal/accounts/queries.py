"""Reads about accounts that pages and jobs share."""

from sqlalchemy import select
from sqlalchemy.orm import joinedload

from portal.accounts.models import BrandInvitation, BrandMembership
from portal.extensions import db


def brand_members(brand):
    """A brand's memberships with their users, in the order they joined."""
    return db.session.scalars(
        select(BrandMembership)
        .options(joinedload(BrandMembership.user))
        .where(BrandMembership.brand_id == brand.id)
        .order_by(BrandMembership.id)
    ).all()


def open_invitations(brand):
    """Invitations of a brand that are neither accepted nor withdrawn, newest first."""
    return db.session.scalars(
        select(BrandInvitation)
        .where(
            BrandInvitation.brand_id == brand.id,
            BrandInvitation.accepted_at.is_(None),
            BrandInvitation.revoked_at.is_(None),
        )
        .order_by(BrandInvitation.created_at.desc())
    ).all()
