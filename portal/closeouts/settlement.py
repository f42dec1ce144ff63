"""The arithmetic of a pro-rata settlement, in integer minor units and nothing else: no
database, no floats. The services feed it the contract's lines and what escrow holds.

- `split_exact` shares an amount by weights (largest remainder), so parts always sum to it.
- `line_terms` says what one deliverable's price pays the creator and returns to the brand.
- `plan` adds the lines up and says what to release from, and refund out of, each
  milestone's escrow, after what the creator already received.
"""

import enum
from dataclasses import dataclass, field


class LineBasis(enum.Enum):
    """Why a deliverable's price goes where it goes in a close-out."""

    approved = "approved"  #: the work was approved: paid in full
    in_progress = "in_progress"  #: submitted at least once, not approved: the kill fee is paid
    not_started = "not_started"  #: nothing submitted: the price goes back to the brand
    excused = "excused"  #: waived, cancelled or reassigned earlier: nothing either way

    @property
    def label(self):
        """The basis as people read it."""
        return LABELS[self]


LABELS = {
    LineBasis.approved: "Approved: paid in full",
    LineBasis.in_progress: "In progress: kill fee",
    LineBasis.not_started: "Not started: refunded",
    LineBasis.excused: "Excused earlier",
}


def split_exact(total, weights):
    """`total` shared in proportion to `weights`: non-negative integers that sum exactly to
    `total` (largest remainder; ties go to the earlier weight, so the result is the same on
    every run). A zero weight gets nothing."""
    weights = list(weights)
    if total < 0 or any(w < 0 for w in weights):
        raise ValueError("split_exact takes a non-negative total and weights")
    whole = sum(weights)
    if whole == 0:
        if total:
            raise ValueError("nothing to share by: every weight is zero")
        return [0] * len(weights)
    parts = [total * w // whole for w in weights]
    remainders = [total * w % whole for w in weights]
    left = total - sum(parts)
    # Fewer than len(weights) units are left, and at least `left` remainders are above zero.
    for index in sorted(range(len(weights)), key=lambda i: (-remainders[i], i))[:left]:
        parts[index] += 1
    return parts


def line_terms(price_minor, basis, kill_fee_percent):
    """(to the creator, back to the brand) of one deliverable's price."""
    if price_minor < 0 or not 0 <= kill_fee_percent <= 100:
        raise ValueError("a price of zero or more and a kill fee from 0 to 100 %")
    basis = LineBasis(basis)
    if basis is LineBasis.approved:
        return price_minor, 0
    if basis is LineBasis.in_progress:
        to_creator, to_brand = split_exact(price_minor, [kill_fee_percent, 100 - kill_fee_percent])
        return to_creator, to_brand
    if basis is LineBasis.not_started:
        return 0, price_minor
    return 0, 0


@dataclass(frozen=True)
class Plan:
    """A settlement, line by line and milestone by milestone (all minor units)."""

    parts: list  #: (to creator, to brand) per line, in the lines' order
    creator_total: int  #: what the lines pay the creator in all
    brand_total: int  #: what the lines give back to the brand in all
    already_released: int  #: what escrow already released (or is releasing) to the creator
    held: int  #: what escrow still holds for the contract
    releases: dict = field(default_factory=dict)  #: {milestone id: release to the creator}
    refunds: dict = field(default_factory=dict)  #: {milestone id: refund to the brand}

    @property
    def release_total(self):
        """What escrow releases to the creator now."""
        return sum(self.releases.values())

    @property
    def refund_total(self):
        """What escrow returns to the brand now."""
        return sum(self.refunds.values())

    @property
    def shortfall(self):
        """What the creator is owed beyond what escrow holds (the brand pays it outside)."""
        return max(self.creator_total - self.already_released, 0) - self.release_total

    @property
    def overpaid(self):
        """What the creator already received beyond the lines (nothing is clawed back)."""
        return max(self.already_released - self.creator_total, 0)


def plan(lines, kill_fee_percent, already_released, escrow_by_milestone):
    """The settlement of `lines` ((price, basis) pairs) given what escrow already released
    to the creator and what it holds per milestone ({id: amount}, in the order to draw on).

    The creator is owed the lines' total less what was already released; that is released
    from the milestones in order, and whatever escrow holds beyond it is refunded. If escrow
    holds less than is owed, the difference is the shortfall."""
    if already_released < 0 or any(amount < 0 for amount in escrow_by_milestone.values()):
        raise ValueError("amounts are zero or more")
    parts = [line_terms(price, basis, kill_fee_percent) for price, basis in lines]
    creator_total = sum(c for c, _ in parts)
    owed = max(creator_total - already_released, 0)
    releases, refunds = {}, {}
    for milestone_id, amount in escrow_by_milestone.items():
        release = min(owed, amount)
        owed -= release
        if release:
            releases[milestone_id] = release
        if amount - release:
            refunds[milestone_id] = amount - release
    return Plan(
        parts=parts,
        creator_total=creator_total,
        brand_total=sum(b for _, b in parts),
        already_released=already_released,
        held=sum(escrow_by_milestone.values()),
        releases=releases,
        refunds=refunds,
    )
