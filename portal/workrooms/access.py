"""The one way routes load a workroom: membership is checked, outsiders get 404."""

from dataclasses import dataclass

from flask import abort
from sqlalchemy import select

from portal.accounts.models import AccountKind, BrandMembership, BrandRole
from portal.extensions import db
from portal.workrooms.models import Side, Workroom


@dataclass(frozen=True)
class Seat:
    """How the current user sits in a workroom."""

    workroom: Workroom
    side: Side | None  #: None for admins, who only read
    can_write: bool  #: brand viewers and admins read only
    brand_role: BrandRole | None = None

    @property
    def is_brand(self):
        """On the brand side."""
        return self.side is Side.brand

    @property
    def is_creator(self):
        """The workroom's creator."""
        return self.side is Side.creator


def seat_of(user, workroom):
    """The user's seat in a workroom, or None when they are not part of it."""
    if user.kind is AccountKind.creator and workroom.creator_id == user.id:
        return Seat(workroom, Side.creator, can_write=True)
    if user.kind is AccountKind.brand:
        role = db.session.scalar(
            select(BrandMembership.role).where(
                BrandMembership.brand_id == workroom.brand_id, BrandMembership.user_id == user.id
            )
        )
        if role is not None:
            return Seat(workroom, Side.brand, role is not BrandRole.viewer, role)
    if user.kind is AccountKind.admin:
        return Seat(workroom, None, can_write=False)
    return None


def load_workroom(user, workroom_id, *, write=False):
    """The workroom and the user's seat; 404 for outsiders, 403 for read-only seats writing."""
    workroom = db.session.get(Workroom, workroom_id)
    seat = seat_of(user, workroom) if workroom is not None else None
    if seat is None:
        abort(404)
    if write and not seat.can_write:
        abort(403)
    return seat
