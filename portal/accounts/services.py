"""Every state change of accounts: sign-up, sessions, passwords, brands, profiles."""

import hashlib
import secrets

from sqlalchemy import select, update

from portal.accounts.models import (
    AccountKind,
    Brand,
    BrandInvitation,
    BrandMembership,
    BrandRole,
    CreatorHandle,
    CreatorNiche,
    CreatorProfile,
    CreatorRate,
    PasswordResetToken,
    User,
    UserSession,
)
from portal.accounts.passwords import hash_password, needs_rehash, verify_password
from portal.audit import record_event
from portal.database import utcnow
from portal.errors import DomainError, InvalidState, NotAllowed
from portal.extensions import db


class EmailTaken(DomainError):
    """An account with this email exists already."""


class BrandNameTaken(DomainError):
    """A brand with this name exists already."""


class TokenInvalid(DomainError):
    """A reset or invitation link is unknown, used, revoked or expired."""

    status_code = 404


def normalize_email(email):
    """Emails compare case-insensitively and without surrounding space."""
    return email.strip().lower()


def token_digest(raw_token):
    """What is stored of a link token: its SHA-256, so a database leak opens nothing."""
    return hashlib.sha256(raw_token.encode()).hexdigest()


def new_link_token():
    """A random URL-safe token and its digest."""
    raw = secrets.token_urlsafe(32)
    return raw, token_digest(raw)


def _ensure_email_free(email):
    """Refuse an email another account uses."""
    if db.session.scalar(select(User.id).where(User.email == email)) is not None:
        raise EmailTaken("An account with this email already exists. Sign in instead.")


def create_user(email, name, password, kind, *, timezone="UTC", actor=None, now=None):
    """Create an account; password None leaves it without one until a reset link sets it."""
    email = normalize_email(email)
    _ensure_email_free(email)
    user = User(
        email=email,
        name=name.strip(),
        password_hash=hash_password(password) if password else None,
        kind=kind,
        timezone=timezone,
        created_at=now or utcnow(),
    )
    db.session.add(user)
    db.session.flush()
    record_event(actor or user, "account.created", user, data={"kind": kind.value}, now=now)
    return user


def create_brand(owner, name, *, now=None):
    """Create a brand with its first owner."""
    name = name.strip()
    if db.session.scalar(select(Brand.id).where(Brand.name == name)) is not None:
        raise BrandNameTaken("A brand with this name already exists.")
    brand = Brand(name=name, created_at=now or utcnow())
    brand.memberships.append(BrandMembership(user=owner, role=BrandRole.owner))
    db.session.add(brand)
    db.session.flush()
    record_event(owner, "brand.created", brand, now=now)
    return brand


def register_brand_member(email, name, password, brand_name, *, timezone="UTC", now=None):
    """Sign-up of a brand user together with their new brand."""
    user = create_user(email, name, password, AccountKind.brand, timezone=timezone, now=now)
    create_brand(user, brand_name, now=now)
    return user


def register_creator(email, name, password, display_name, *, timezone="UTC", now=None):
    """Sign-up of a creator with an empty creator profile."""
    user = create_user(email, name, password, AccountKind.creator, timezone=timezone, now=now)
    user.creator_profile = CreatorProfile(display_name=(display_name or name).strip())
    db.session.flush()
    return user


def authenticate(email, password, *, now=None):
    """The active user with these credentials, or None (same work either way).

    A failed attempt changes nothing (the view logs it); a success may upgrade the
    stored hash to the current KDF parameters, which is audited.
    """
    user = db.session.scalar(select(User).where(User.email == normalize_email(email)))
    ok = verify_password(user.password_hash if user else None, password)
    if not ok or user is None or user.is_disabled:
        return None
    if needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
        record_event(user, "password.rehashed", user, now=now)
    return user


def session_fingerprint(session_id):
    """A stable, non-secret name for a session in audit data (its id is the cookie's secret)."""
    return token_digest(session_id)[:16]


def start_session(user, *, user_agent="", ip_address="", now=None):
    """Record a new sign-in and return it; its id goes into the session cookie."""
    now = now or utcnow()
    record = UserSession(
        id=secrets.token_urlsafe(32),
        user=user,
        created_at=now,
        user_agent=user_agent[:255],
        ip_address=ip_address[:64],
    )
    db.session.add(record)
    db.session.flush()
    record_event(
        user,
        "session.started",
        user,
        data={"session": session_fingerprint(record.id)},
        now=now,
    )
    return record


def end_session(session_id, *, reason="signed_out", now=None):
    """Revoke one sign-in (logout); True when it was still open and is now ended."""
    now = now or utcnow()
    record = db.session.get(UserSession, session_id)
    if record is None:
        return False
    ended = db.session.execute(
        update(UserSession)
        .where(UserSession.id == session_id, UserSession.revoked_at.is_(None))
        .values(revoked_at=now)
    ).rowcount
    if ended:
        record_event(
            record.user,
            "session.ended",
            record.user,
            data={"session": session_fingerprint(session_id), "reason": reason},
            now=now,
        )
    return bool(ended)


def end_sessions(user, *, keep_session_id=None, now=None):
    """Revoke every sign-in of a user, except optionally the current one; returns how many.

    It writes no audit event itself: its callers' events (password.changed, password.reset,
    account.disabled) carry the count.
    """
    condition = [UserSession.user_id == user.id, UserSession.revoked_at.is_(None)]
    if keep_session_id:
        condition.append(UserSession.id != keep_session_id)
    result = db.session.execute(
        update(UserSession).where(*condition).values(revoked_at=now or utcnow())
    )
    return result.rowcount


def _set_password(user, new_password, *, keep_session_id=None, now=None):
    """Store a new password, void reset links and end other sessions; returns sessions ended."""
    now = now or utcnow()
    user.password_hash = hash_password(new_password)
    db.session.execute(
        update(PasswordResetToken)
        .where(PasswordResetToken.user_id == user.id, PasswordResetToken.used_at.is_(None))
        .values(used_at=now)
    )
    return end_sessions(user, keep_session_id=keep_session_id, now=now)


def change_password(user, current_password, new_password, *, keep_session_id, now=None):
    """Change a password after re-checking the current one; other sessions end."""
    if not verify_password(user.password_hash, current_password):
        raise NotAllowed("Your current password is not correct.")
    ended = _set_password(user, new_password, keep_session_id=keep_session_id, now=now)
    record_event(user, "password.changed", user, data={"sessions_ended": ended}, now=now)


def create_password_reset(user, ttl, *, actor=None, now=None):
    """A new single-use reset link for a user; returns the raw token to email.

    The actor is the user themself (forgot password) or the admin who created them.
    """
    now = now or utcnow()
    raw, digest = new_link_token()
    reset = PasswordResetToken(user=user, token_hash=digest, created_at=now, expires_at=now + ttl)
    db.session.add(reset)
    db.session.flush()
    record_event(
        actor or user,
        "password.reset_requested",
        user,
        data={"reset_id": reset.id, "expires_at": reset.expires_at.isoformat()},
        now=now,
    )
    return raw


def find_reset_token(raw_token, *, now=None):
    """The usable reset token for a raw link token, or raise TokenInvalid."""
    now = now or utcnow()
    token = db.session.scalar(
        select(PasswordResetToken).where(PasswordResetToken.token_hash == token_digest(raw_token))
    )
    if token is None or token.used_at or token.expires_at <= now or token.user.is_disabled:
        raise TokenInvalid("This reset link is invalid or has expired. Ask for a new one.")
    return token


def reset_password(raw_token, new_password, *, now=None):
    """Set a new password through a reset link; the link and every session end."""
    now = now or utcnow()
    token = find_reset_token(raw_token, now=now)
    ended = _set_password(token.user, new_password, now=now)
    record_event(token.user, "password.reset", token.user, data={"sessions_ended": ended}, now=now)
    return token.user


def update_settings(user, name, timezone, *, now=None):
    """Change a user's name and time zone."""
    user.name = name.strip()
    user.timezone = timezone
    record_event(user, "account.settings_changed", user, data={"timezone": timezone}, now=now)


def set_user_disabled(user, actor, disabled, *, now=None):
    """Disable (ending every session) or re-enable an account; admins only."""
    if not actor.is_admin:
        raise NotAllowed("Only administrators can disable users.")
    if user.id == actor.id:
        raise InvalidState("You can't disable your own account.")
    user.is_disabled = disabled
    data = {"sessions_ended": end_sessions(user, now=now)} if disabled else None
    record_event(
        actor, "account.disabled" if disabled else "account.enabled", user, data=data, now=now
    )


def create_mediator(actor, email, name, *, now=None):
    """An admin adds a mediator, who sets a password through an emailed link."""
    if not actor.is_admin:
        raise NotAllowed("Only administrators can create mediators.")
    return create_user(email, name, None, AccountKind.mediator, actor=actor, now=now)


def membership_of(user, brand):
    """The user's membership of a brand, or None."""
    return db.session.scalar(
        select(BrandMembership).where(
            BrandMembership.brand_id == brand.id, BrandMembership.user_id == user.id
        )
    )


def invite_member(brand, actor, email, role, ttl, *, now=None):
    """An owner invites a teammate by email; returns the invitation and its raw token."""
    membership = membership_of(actor, brand)
    if membership is None or membership.role is not BrandRole.owner:
        raise NotAllowed("Only brand owners can invite teammates.")
    email = normalize_email(email)
    existing = db.session.scalar(select(User).where(User.email == email))
    if existing is not None and membership_of(existing, brand) is not None:
        raise InvalidState(f"{email} is already on the team.")
    if existing is not None and existing.kind is not AccountKind.brand:
        raise InvalidState(f"{email} belongs to a {existing.kind.value} account.")
    now = now or utcnow()
    raw, digest = new_link_token()
    invitation = BrandInvitation(
        brand=brand,
        email=email,
        role=role,
        token_hash=digest,
        invited_by=actor,
        created_at=now,
        expires_at=now + ttl,
    )
    db.session.add(invitation)
    db.session.flush()
    record_event(actor, "brand.member_invited", invitation, data={"role": role.value}, now=now)
    return invitation, raw


def find_invitation(raw_token, *, now=None):
    """The open invitation for a raw link token, or raise TokenInvalid."""
    now = now or utcnow()
    invitation = db.session.scalar(
        select(BrandInvitation).where(BrandInvitation.token_hash == token_digest(raw_token))
    )
    if (
        invitation is None
        or invitation.accepted_at
        or invitation.revoked_at
        or invitation.expires_at <= now
    ):
        raise TokenInvalid("This invitation is invalid, used or expired. Ask for a new one.")
    return invitation


def accept_invitation(invitation, user, *, now=None):
    """The invited person joins the brand with the invited role."""
    if normalize_email(user.email) != invitation.email:
        raise NotAllowed("This invitation was sent to another email address.")
    if user.kind is not AccountKind.brand:
        raise InvalidState("Only brand accounts can join a brand team.")
    invitation.accepted_at = now or utcnow()
    if membership_of(user, invitation.brand) is None:
        db.session.add(BrandMembership(brand=invitation.brand, user=user, role=invitation.role))
    db.session.flush()
    record_event(user, "brand.member_joined", invitation, now=now)


def revoke_invitation(invitation, actor, *, now=None):
    """An owner withdraws an invitation that has not been accepted."""
    membership = membership_of(actor, invitation.brand)
    if membership is None or membership.role is not BrandRole.owner:
        raise NotAllowed("Only brand owners can withdraw invitations.")
    if invitation.accepted_at:
        raise InvalidState("This invitation was already accepted.")
    invitation.revoked_at = invitation.revoked_at or now or utcnow()
    record_event(actor, "brand.invitation_withdrawn", invitation, now=now)


def update_creator_profile(
    profile, *, display_name, bio, audience_size, currency, handles, niches, rates, now=None
):
    """Replace a creator's profile details: handles {platform: handle}, rates {kind: minor}."""
    profile.display_name = display_name.strip()
    profile.bio = bio.strip()
    profile.audience_size = audience_size
    profile.currency = currency
    # Delete the old rows first: the unit of work would insert before deleting.
    profile.handles.clear()
    profile.niches.clear()
    profile.rates.clear()
    db.session.flush()
    profile.handles = [
        CreatorHandle(platform=platform, handle=handle.strip().lstrip("@"))
        for platform, handle in handles.items()
        if handle and handle.strip().lstrip("@")
    ]
    profile.niches = [CreatorNiche(name=name) for name in sorted(set(niches))]
    profile.rates = [
        CreatorRate(kind=kind, amount_minor=amount, currency=currency)
        for kind, amount in rates.items()
        if amount
    ]
    db.session.flush()
    record_event(profile.user, "creator_profile.updated", profile, now=now)
