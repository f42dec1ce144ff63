"""Forms for campaigns, invitations and the roster search."""

from flask_wtf import FlaskForm
from wtforms import (
    DateField,
    EmailField,
    HiddenField,
    IntegerField,
    PasswordField,
    SelectChoice,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import InputRequired, Length, Optional, ValidationError

from portal.accounts.forms import EMAIL, NAME, plain_text, strip, timezone_choices
from portal.accounts.models import Platform
from portal.accounts.passwords import password_problem
from portal.campaigns.models import CampaignStatus
from portal.campaigns.services import MAX_BRIEF, MAX_MESSAGE
from portal.money import CURRENCIES, AmountError, parse_amount

DATE_HINT = "A date like 2030-03-31."


class CampaignForm(FlaskForm):
    """A campaign's details; the budget is typed like 25,000.00 in the chosen currency."""

    name = StringField("Name", validators=NAME, filters=[strip])
    brief = TextAreaField(
        "Brief",
        description="What the campaign is about. Markdown: **bold**, lists, links.",
        validators=[Optional(), Length(max=MAX_BRIEF)],
    )
    starts_on = DateField("Starts on", validators=[InputRequired(message="Enter the start date.")])
    ends_on = DateField("Ends on", validators=[InputRequired(message="Enter the end date.")])
    budget = StringField(
        "Budget",
        description="For example 25,000.00.",
        validators=[InputRequired(message="Enter the budget."), Length(max=24)],
        filters=[strip],
    )
    currency = SelectField("Currency", choices=[SelectChoice(c) for c in CURRENCIES], default="USD")

    budget_minor = None  #: the parsed budget once the form validates

    def validate_ends_on(self, field):
        """The end date comes on or after the start date."""
        if field.data and self.starts_on.data and field.data < self.starts_on.data:
            raise ValidationError("The end date can't be before the start date.")

    def validate_budget(self, field):
        """A non-negative amount with no more decimals than the currency has."""
        if self.currency.data not in CURRENCIES:
            return  # the currency field reports its own error
        try:
            self.budget_minor = parse_amount(field.data or "", self.currency.data)
        except AmountError as error:
            raise ValidationError(str(error)) from error

    def details(self):
        """The validated values as the service takes them."""
        return {
            "name": self.name.data,
            "brief_md": self.brief.data or "",
            "starts_on": self.starts_on.data,
            "ends_on": self.ends_on.data,
            "budget_minor": self.budget_minor,
            "currency": self.currency.data,
        }


class StatusForm(FlaskForm):
    """Move a campaign to another status (one button per allowed move)."""

    status = SelectField("Status", choices=[SelectChoice(s.value, s.label) for s in CampaignStatus])


class InviteCreatorForm(FlaskForm):
    """Invite a creator from the roster, with an optional note."""

    creator_id = IntegerField(validators=[InputRequired()])
    message = TextAreaField("Message (optional)", validators=[Optional(), Length(max=MAX_MESSAGE)])


class InviteEmailForm(FlaskForm):
    """Invite anyone by email; they get a link to join as a creator."""

    email = EmailField("Email", validators=EMAIL, filters=[strip])
    message = TextAreaField("Message (optional)", validators=[Optional(), Length(max=MAX_MESSAGE)])


class JoinCampaignForm(FlaskForm):
    """Create the creator account an emailed invitation was sent to (the email is fixed)."""

    name = StringField("Your name", validators=NAME, filters=[strip])
    password = PasswordField("Password", validators=[InputRequired()])
    timezone = SelectField("Time zone", default="UTC")

    def __init__(self, *args, email="", **kwargs):
        super().__init__(*args, **kwargs)
        self.timezone.choices = timezone_choices()
        self.invited_email = email

    def validate_password(self, field):
        """The sign-up password policy, aware of the invited email and the name."""
        problem = password_problem(
            field.data or "", email=self.invited_email, name=self.name.data or ""
        )
        if problem:
            raise ValidationError(problem)


class RosterSearchForm(FlaskForm):
    """Search the roster (a GET form: no CSRF token, values from the query string)."""

    class Meta:
        csrf = False

    q = StringField(
        "Name or handle", validators=[Optional(), Length(max=100), plain_text], filters=[strip]
    )
    platform = SelectField(
        "Platform",
        choices=[
            SelectChoice("", "Any platform"),
            *[SelectChoice(p.value, p.label) for p in Platform],
        ],
        validators=[Optional()],
    )
    niche = StringField(
        "Niche", validators=[Optional(), Length(max=40), plain_text], filters=[strip]
    )
    campaign = HiddenField()

    def criteria(self):
        """The search as the roster query takes it (empty when the form is invalid)."""
        if not self.validate():
            return {"q": "", "platform": None, "niche": ""}
        return {
            "q": self.q.data or "",
            "platform": Platform(self.platform.data) if self.platform.data else None,
            "niche": (self.niche.data or "").lower(),
        }
