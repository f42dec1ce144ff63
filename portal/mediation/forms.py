"""Forms of the mediation pages: a new ticket, a post, an answer, and the resolution
composer (one row per named deliverable and milestone, read by `read_actions`)."""

from dataclasses import dataclass, field
from datetime import date

from flask_wtf import FlaskForm
from wtforms import BooleanField, SelectChoice, SelectField, StringField, TextAreaField
from wtforms.validators import InputRequired, Length, Optional

from portal.deliverables.models import DeliverableStatus
from portal.deliverables.services import due_at_for
from portal.escrow.forms import CheckboxListField
from portal.escrow.models import MilestoneStatus
from portal.mediation.models import TicketCategory
from portal.money import AmountError, format_amount, parse_amount

#: what a resolution can still do to a named deliverable or milestone
OPEN_WORK = (
    DeliverableStatus.pending,
    DeliverableStatus.changes_requested,
    DeliverableStatus.missed,
)
MONEY_LEFT = (
    MilestoneStatus.funded,
    MilestoneStatus.releasable,
    MilestoneStatus.held,
    MilestoneStatus.partially_released,
)


class TicketForm(FlaskForm):
    """A party opens a ticket."""

    category = SelectField(
        "What is it about",
        choices=[SelectChoice(c.value, c.label) for c in TicketCategory],
        validators=[InputRequired(message="Choose what the ticket is about.")],
    )
    subject = StringField(
        "Subject",
        validators=[InputRequired(message="Give the ticket a subject."), Length(max=200)],
    )
    what_happened = TextAreaField(
        "What happened",
        validators=[InputRequired(message="Say what happened."), Length(max=10_000)],
        description="Markdown. Dates, links and what was agreed help the mediator.",
    )
    asked_for = TextAreaField(
        "What you ask for",
        validators=[Optional(), Length(max=10_000)],
        description="Optional: a new date, a partial payment, a refund...",
    )
    deliverables = CheckboxListField("Deliverables it is about", coerce=int, choices=[])
    milestones = CheckboxListField(
        "Milestones it is about",
        coerce=int,
        choices=[],
        description="Funded milestones you name are held (not paid out) until the ticket ends.",
    )

    def __init__(self, *args, deliverables=(), milestones=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.deliverables.choices = [SelectChoice(d.id, d.title) for d in deliverables]
        self.milestones.choices = [
            SelectChoice(m.id, f"{m.title} ({format_amount(m.amount_minor, m.currency)})")
            for m in milestones
        ]


class PostForm(FlaskForm):
    """A message in the ticket's thread; a mediator can keep it private."""

    body = TextAreaField(
        "Message",
        validators=[InputRequired(message="Write a message."), Length(max=10_000)],
    )
    private = BooleanField("Private note (mediators only)")


class AnswerForm(FlaskForm):
    """A party's answer to a proposal; a rejection says why."""

    comment = TextAreaField("Why not (for a rejection)", validators=[Length(max=10_000)])


class ReasonForm(FlaskForm):
    """An optional reason (withdrawing a ticket)."""

    reason = TextAreaField("Reason (optional)", validators=[Length(max=10_000)])


@dataclass
class Composer:
    """The resolution composer's rows and what the mediator entered."""

    deliverables: list
    milestones: list
    contracts: list
    values: dict = field(default_factory=dict)
    errors: dict = field(default_factory=dict)

    def value(self, name, default=""):
        """What was entered in a field (kept when the form comes back with errors)."""
        return self.values.get(name, default)


def composer(ticket, contracts, values=None):
    """The composer for a ticket: its named open work and milestones with money left."""
    return Composer(
        deliverables=[d for d in ticket.deliverables if d.status in OPEN_WORK],
        milestones=[m for m in ticket.milestones if m.status in MONEY_LEFT],
        contracts=contracts,
        values=dict(values or {}),
    )


def read_actions(form, timezone):
    """The actions a composer's form asks for, and the errors next to their fields. Dates
    are in the creator's time zone (end of that day), amounts in the milestone's currency,
    percentages of what the milestone holds in escrow."""
    actions = []
    for deliverable in form.deliverables:
        name = f"deliverable-{deliverable.id}"
        choice = form.value(f"{name}-action")
        if choice == "waive":
            actions.append({"kind": "waive", "deliverable_id": deliverable.id})
        elif choice == "extend":
            try:
                due_on = date.fromisoformat(form.value(f"{name}-due"))
            except ValueError:
                form.errors[f"{name}-due"] = "Enter the new due date."
                continue
            due_at = due_at_for(due_on, timezone)
            actions.append({"kind": "extend", "deliverable_id": deliverable.id, "due_at": due_at})
    for milestone in form.milestones:
        name = f"milestone-{milestone.id}"
        choice = form.value(f"{name}-action")
        if choice not in ("release", "refund"):
            continue
        amount, percent = _amount(form, name, milestone)
        if amount is not None:
            action = {"kind": choice, "milestone_id": milestone.id, "amount_minor": amount}
            if percent is not None:
                action["percent"] = percent
            actions.append(action)
    contract_id = form.value("terminate")
    for contract in form.contracts:
        if contract_id == str(contract.id):
            actions.append({"kind": "terminate", "contract_id": contract.id})
    if not actions and not form.errors:
        form.errors["actions"] = "Choose at least one action."
    return actions


def _amount(form, name, milestone):
    """The amount of a release or refund row: typed, or a percentage of what is in escrow."""
    typed, share = form.value(f"{name}-amount").strip(), form.value(f"{name}-percent").strip()
    left = milestone.in_escrow_minor
    if share:
        try:
            percent = int(share)
        except ValueError:
            percent = -1
        if not 0 < percent <= 100:
            form.errors[f"{name}-percent"] = "A whole percentage from 1 to 100."
            return None, None
        return left * percent // 100, percent
    try:
        amount = parse_amount(typed, milestone.currency)
    except AmountError as error:
        form.errors[f"{name}-amount"] = str(error)
        return None, None
    if not 0 < amount <= left:
        form.errors[f"{name}-amount"] = (
            f"More than zero and at most the {format_amount(left, milestone.currency)} in escrow."
        )
        return None, None
    return amount, None
