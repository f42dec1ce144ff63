"""Forms of the close-out pages: the proposal, the escalation, the plain confirm buttons."""

from flask_wtf import FlaskForm
from wtforms import TextAreaField
from wtforms.validators import InputRequired, Length

from portal.closeouts.services import MAX_REASON
from portal.escrow.forms import CheckboxListField


class CloseoutForm(FlaskForm):
    """A side proposes to close the contract; the brand may mark open work for reassignment."""

    reason = TextAreaField(
        "Why close the contract now",
        validators=[
            InputRequired(message="Say why the contract should close."),
            Length(max=MAX_REASON),
        ],
        description="Both sides read it in the workroom's log.",
    )
    reassign = CheckboxListField(
        "Mark for reassignment to another creator",
        coerce=int,
        choices=[],
        description="Ticked deliverables are marked for reassignment; the others are cancelled.",
    )


class EscalateForm(FlaskForm):
    """A side takes the proposed close-out to mediation."""

    reason = TextAreaField(
        "What you disagree with",
        validators=[
            InputRequired(message="Say what you disagree with."),
            Length(max=MAX_REASON),
        ],
        description="A mediator reads it with the proposed settlement.",
    )


class ConfirmForm(FlaskForm):
    """A button that only needs the CSRF token (accept, withdraw)."""
