"""Reads of exits that pages and jobs share: the exit page, replacement candidates, the
post-exit facts and the brand's exits report."""

from collections import Counter, defaultdict
from dataclasses import dataclass

from sqlalchemy import exists, or_, select
from sqlalchemy.orm import joinedload, selectinload

from portal.accounts.models import (
    AccountKind,
    CreatorHandle,
    CreatorNiche,
    CreatorProfile,
    User,
)
from portal.campaigns.models import CampaignInvitation, InvitationStatus
from portal.closeouts.models import Closeout
from portal.contracts.models import Contract, ContractStatus
from portal.database import utcnow
from portal.exits.models import Exit, ExitReason, ExitStatus
from portal.extensions import db
from portal.mediation.models import Ticket
from portal.reports.facts import contract_facts, facts_of
from portal.workrooms.models import Workroom

#: how many candidates the replacement search ranks (the biggest audiences first)
CANDIDATE_POOL = 200
CANDIDATES_SHOWN = 20
#: contract states whose record counts as history
WITH_HISTORY = (
    ContractStatus.active,
    ContractStatus.completed,
    ContractStatus.partially_completed,
    ContractStatus.terminated,
    ContractStatus.expired,
)


def exit_page(exit_id):
    """An exit with its contract, versions, workroom and people, or None."""
    return db.session.scalar(
        select(Exit)
        .where(Exit.id == exit_id)
        .options(
            joinedload(Exit.contract).selectinload(Contract.versions),
            joinedload(Exit.workroom).joinedload(Workroom.brand),
            joinedload(Exit.workroom).joinedload(Workroom.creator),
            joinedload(Exit.started_by),
            joinedload(Exit.analysis),
        )
    )


def exit_of(contract_id):
    """The exit of a contract, or None."""
    return db.session.scalar(select(Exit).where(Exit.contract_id == contract_id))


def closeout_of(exit):
    """The exit's close-out, or None."""
    return db.session.get(Closeout, exit.closeout_id) if exit.closeout_id else None


def ticket_of(exit):
    """The exit's mediation ticket (for cause), or None."""
    return db.session.get(Ticket, exit.ticket_id) if exit.ticket_id else None


def invitation_of(exit):
    """The latest invitation sent from the exit, or None."""
    return db.session.get(CampaignInvitation, exit.invitation_id) if exit.invitation_id else None


# Replacement candidates ---------------------------------------------------------------------


@dataclass
class Candidate:
    """A creator the brand could invite, with their record."""

    profile: CreatorProfile
    on_time: int = 0
    judged: int = 0
    contracts: int = 0

    @property
    def on_time_rate(self):
        """Share of their deliverables that came in on time, or None without history."""
        return self.on_time / self.judged if self.judged else None


def leaving_profile(exit):
    """The creator profile of the creator who leaves, with handles and niches."""
    return db.session.scalar(
        select(CreatorProfile)
        .where(CreatorProfile.user_id == exit.workroom.creator_id)
        .options(selectinload(CreatorProfile.handles), selectinload(CreatorProfile.niches))
    )


def _in_campaign(campaign_id, now):
    """Ids of creators invited to (still open) or working in the campaign."""
    invited = db.session.execute(
        select(CampaignInvitation.creator_id, CampaignInvitation.status, CampaignInvitation).where(
            CampaignInvitation.campaign_id == campaign_id,
            CampaignInvitation.creator_id.is_not(None),
            CampaignInvitation.status.in_([InvitationStatus.pending, InvitationStatus.accepted]),
        )
    ).all()
    ids = {
        creator_id
        for creator_id, status, invitation in invited
        if status is InvitationStatus.accepted or not invitation.is_expired(now)
    }
    ids.update(
        db.session.scalars(
            select(Workroom.creator_id)
            .join(Contract, Contract.workroom_id == Workroom.id)
            .where(Contract.campaign_id == campaign_id)
        )
    )
    return ids


def replacement_candidates(exit, *, min_audience=None, max_audience=None, now=None):
    """Creators on any of the leaving creator's platforms or niches, within the audience
    range, not already in the campaign, ranked by their past on-time rate (no history
    last, then the bigger audience). Three queries plus the facts' five, whatever the pool."""
    now = now or utcnow()
    leaving = leaving_profile(exit)
    platforms = [h.platform for h in leaving.handles] if leaving else []
    niches = [n.name for n in leaving.niches] if leaving else []
    if not platforms and not niches:
        return []
    taken = _in_campaign(exit.campaign_id, now) | {exit.workroom.creator_id}
    query = (
        select(CreatorProfile)
        .join(User, User.id == CreatorProfile.user_id)
        .options(selectinload(CreatorProfile.handles), selectinload(CreatorProfile.niches))
        .where(
            User.kind == AccountKind.creator,
            User.is_disabled.is_(False),
            CreatorProfile.user_id.not_in(taken),
            or_(
                exists().where(
                    CreatorHandle.profile_id == CreatorProfile.id,
                    CreatorHandle.platform.in_(platforms),
                ),
                exists().where(
                    CreatorNiche.profile_id == CreatorProfile.id, CreatorNiche.name.in_(niches)
                ),
            ),
        )
    )
    if min_audience is not None:
        query = query.where(CreatorProfile.audience_size >= min_audience)
    if max_audience is not None:
        query = query.where(CreatorProfile.audience_size <= max_audience)
    profiles = db.session.scalars(
        query.order_by(CreatorProfile.audience_size.desc(), CreatorProfile.id).limit(CANDIDATE_POOL)
    ).all()
    candidates = {p.user_id: Candidate(p) for p in profiles}
    if not candidates:
        return []
    contracts = db.session.execute(
        select(Contract.id, Workroom.creator_id)
        .join(Workroom, Workroom.id == Contract.workroom_id)
        .where(Workroom.creator_id.in_(candidates), Contract.status.in_(WITH_HISTORY))
    ).all()
    facts = contract_facts([cid for cid, _ in contracts], now=now)
    for contract_id, creator_id in contracts:
        fact, candidate = facts[contract_id], candidates[creator_id]
        candidate.contracts += 1
        candidate.on_time += fact.on_time
        candidate.judged += fact.on_time + fact.late
    ranked = sorted(
        candidates.values(),
        key=lambda c: (
            c.on_time_rate is None,
            -(c.on_time_rate or 0),
            -c.profile.audience_size,
            c.profile.id,
        ),
    )
    return ranked[:CANDIDATES_SHOWN]


# Post-exit facts ----------------------------------------------------------------------------


@dataclass
class ExitFacts:
    """What the analysis shows beside the brand's answers, filled in from the records."""

    facts: object  #: portal.reports.facts.ContractFacts of the exited contract
    to_creator_minor: int | None  #: settled to the creator (close-out or mediation), if known
    to_brand_minor: int | None  #: settled back to the brand, if known
    days_to_replacement: int | None


def exit_facts(exit, *, now=None):
    """The contract's facts, the money settled and the days to a replacement."""
    to_creator = to_brand = None
    closeout = closeout_of(exit)
    ticket = ticket_of(exit)
    if closeout is not None and closeout.settled_at is not None:
        to_creator, to_brand = closeout.to_creator_minor, closeout.to_brand_minor
    elif ticket is not None and ticket.resolved_at is not None:
        to_creator, to_brand = ticket.released_minor, ticket.refunded_minor
    return ExitFacts(
        facts=facts_of(exit.contract, now=now),
        to_creator_minor=to_creator,
        to_brand_minor=to_brand,
        days_to_replacement=exit.days_to_replacement,
    )


# The brand's exits report -------------------------------------------------------------------


OUTCOMES = ("In progress", "Ended, replaced", "Ended, not replaced")


def outcome_of(exit):
    """How an exit turned out, for the report."""
    if not exit.is_over:
        return OUTCOMES[0]
    return OUTCOMES[1] if exit.replacement_contract_id else OUTCOMES[2]


@dataclass
class Report:
    """A brand's exits: the rows, and counts by month of reason and of outcome."""

    exits: list
    months: list  #: "YYYY-MM", newest first
    by_reason: dict  #: {month: Counter(ExitReason)}
    by_outcome: dict  #: {month: Counter(outcome)}
    reasons: list  #: the reasons that occur, in enum order
    totals: Counter  #: Counter(ExitReason) over every month


def brand_exits(brand_id):
    """Every exit of the brand's contracts, newest first, with what the list shows (a fixed
    number of queries whatever their number)."""
    return db.session.scalars(
        select(Exit)
        .join(Workroom, Workroom.id == Exit.workroom_id)
        .where(Workroom.brand_id == brand_id)
        .options(
            joinedload(Exit.contract).selectinload(Contract.versions),
            joinedload(Exit.workroom).joinedload(Workroom.creator),
            joinedload(Exit.replacement_creator),
        )
        .order_by(Exit.created_at.desc(), Exit.id.desc())
    ).all()


def brand_report(brand_id):
    """The exits report of a brand: reasons and outcomes over time."""
    exits = brand_exits(brand_id)
    by_reason, by_outcome, totals = defaultdict(Counter), defaultdict(Counter), Counter()
    for exit in exits:
        month = f"{exit.created_at:%Y-%m}"
        by_reason[month][exit.reason] += 1
        by_outcome[month][outcome_of(exit)] += 1
        totals[exit.reason] += 1
    return Report(
        exits=exits,
        months=sorted(by_reason, reverse=True),
        by_reason=dict(by_reason),
        by_outcome=dict(by_outcome),
        reasons=[r for r in ExitReason if totals[r]],
        totals=totals,
    )


def exits_to_sweep_query(today):
    """The ids of exits the sweep may move: notice periods over, mediations to check, and
    exits whose contract has ended."""
    return (
        select(Exit.id)
        .join(Contract, Contract.id == Exit.contract_id)
        .where(
            Exit.status != ExitStatus.ended,
            or_(
                Contract.status != ContractStatus.active,
                (Exit.status == ExitStatus.notice) & (Exit.effective_on <= today),
                Exit.status == ExitStatus.in_mediation,
            ),
        )
        .order_by(Exit.id)
    )
