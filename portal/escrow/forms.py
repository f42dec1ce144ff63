"""Forms of the money pages: a new milestone, and the confirm buttons that move money."""

from flask_wtf import FlaskForm
from wtforms import BooleanField, IntegerField, SelectChoice, SelectMultipleField, StringField
from wtforms.validators import InputRequired, Length, NumberRange, Optional, ValidationError
from wtforms.widgets import CheckboxInput, ListWidget

from portal.money import AmountError, parse_amount


class CheckboxListField(SelectMultipleField):
    """A list of checkboxes whose values are ids."""

    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class MilestoneForm(FlaskForm):
    """A milestone of a contract: title, amount and what releases it."""

    title = StringField(
        "Title",
        validators=[InputRequired(message="Give the milestone a title."), Length(max=160)],
    )
    amount = StringField(
        "Amount",
        validators=[InputRequired(message="Enter an amount.")],
        render_kw={"inputmode": "decimal", "autocomplete": "off"},
    )
    deliverables = CheckboxListField("Deliverables approved", coerce=int, choices=[])
    live_days = IntegerField(
        "Live for at least (days)",
        validators=[Optional(), NumberRange(min=0, max=365, message="Between 0 and 365 days.")],
        description="Optional: the chosen deliverables must also stay live this many days.",
        render_kw={"inputmode": "numeric"},
    )
    prior_milestones = CheckboxListField("Earlier milestones paid", coerce=int, choices=[])
    requires_signoff = BooleanField("The brand signs it off before release")

    def __init__(self, *args, currency="USD", deliverables=(), milestones=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.currency = currency
        self.amount.description = f"In {currency}, e.g. 1250.00"
        self.deliverables.choices = [SelectChoice(d.id, d.title) for d in deliverables]
        self.prior_milestones.choices = [SelectChoice(m.id, m.title) for m in milestones]
        self.amount_minor = None  #: the parsed amount, once the form validates

    def validate_amount(self, field):
        """A positive amount with no more decimals than the currency has."""
        try:
            self.amount_minor = parse_amount(field.data or "", self.currency)
        except AmountError as error:
            raise ValidationError(str(error)) from error
        if self.amount_minor <= 0:
            raise ValidationError("The amount must be more than zero.")


class ConfirmForm(FlaskForm):
    """A button that moves money: only the CSRF token travels."""
