"""Forms of the exit pages: start an exit, search and invite a replacement, the analysis."""

from flask_wtf import FlaskForm
from wtforms import BooleanField, IntegerField, SelectChoice, SelectField, TextAreaField
from wtforms.validators import InputRequired, Length, NumberRange, Optional, ValidationError

from portal.campaigns.services import MAX_MESSAGE
from portal.escrow.forms import CheckboxListField
from portal.exits.models import ExitFactor, ExitReason
from portal.exits.services import MAX_COMMENT, MAX_PREVENTION

REASON_CHOICES = [
    SelectChoice("", "Choose a reason"),
    *(SelectChoice(r.value, r.label) for r in ExitReason),
]


class ExitForm(FlaskForm):
    """A side ends the contract: why, a comment, for cause or not, and (the brand) which
    outstanding deliverables a replacement should take over."""

    reason = SelectField(
        "Why the contract ends",
        choices=REASON_CHOICES,
        validators=[InputRequired(message="Choose why the contract ends.")],
    )
    comment = TextAreaField(
        "Comment",
        validators=[Optional(), Length(max=MAX_COMMENT)],
        description="Both sides read it. Required for cause: the mediator decides on it.",
    )
    for_cause = BooleanField("For cause: ask a mediator to terminate the contract at once")
    reassign = CheckboxListField(
        "Deliverables to reassign",
        coerce=int,
        choices=[],
        description=(
            "Ticked deliverables are marked for a replacement creator instead of cancelled."
            " Leave all unticked to hand over everything not yet approved."
        ),
    )

    def __init__(self, *args, deliverables=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.reassign.choices = [SelectChoice(d.id, d.title) for d in deliverables]

    def validate_reason(self, field):
        """One of the listed reasons."""
        if field.data not in {r.value for r in ExitReason}:
            raise ValidationError("Choose why the contract ends.")

    def validate_comment(self, field):
        """A comment for cause: the mediator needs to know what happened."""
        if self.for_cause.data and not (field.data or "").strip():
            raise ValidationError("Say what happened: the mediator decides on it.")

    def validate_for_cause(self, field):
        """A mutual agreement is never for cause."""
        if field.data and self.reason.data == ExitReason.mutual.value:
            raise ValidationError("A mutual agreement is not for cause.")


class SettleForm(FlaskForm):
    """A button: propose the close-out now (only the CSRF token travels)."""


class ReplacementSearchForm(FlaskForm):
    """Narrow the replacement candidates by audience (a GET form: no CSRF token)."""

    class Meta:
        csrf = False

    min_audience = IntegerField(
        "Audience from",
        validators=[Optional(), NumberRange(min=0, message="Zero or more.")],
        render_kw={"inputmode": "numeric"},
    )
    max_audience = IntegerField(
        "Audience up to",
        validators=[Optional(), NumberRange(min=0, message="Zero or more.")],
        render_kw={"inputmode": "numeric"},
    )

    def validate_max_audience(self, field):
        """The range runs upwards."""
        low = self.min_audience.data
        if field.data is not None and low is not None and field.data < low:
            raise ValidationError("The upper bound is below the lower one.")

    def criteria(self):
        """The range as the query takes it (open on both ends when the form is invalid)."""
        if not self.validate():
            return {"min_audience": None, "max_audience": None}
        return {"min_audience": self.min_audience.data, "max_audience": self.max_audience.data}


class InviteReplacementForm(FlaskForm):
    """Invite one candidate, with an optional note."""

    creator_id = IntegerField(validators=[InputRequired(message="Choose a creator.")])
    message = TextAreaField("Message (optional)", validators=[Optional(), Length(max=MAX_MESSAGE)])


class AnalysisForm(FlaskForm):
    """The brand's post-exit analysis."""

    reason = SelectField(
        "The real reason",
        choices=REASON_CHOICES,
        validators=[InputRequired(message="Choose the reason.")],
    )
    factors = CheckboxListField(
        "What contributed",
        choices=[SelectChoice(f.value, f.label) for f in ExitFactor],
        validate_choice=True,
    )
    prevention = TextAreaField(
        "What would have prevented it",
        validators=[Optional(), Length(max=MAX_PREVENTION)],
    )

    def validate_reason(self, field):
        """One of the listed reasons."""
        if field.data not in {r.value for r in ExitReason}:
            raise ValidationError("Choose the reason.")
