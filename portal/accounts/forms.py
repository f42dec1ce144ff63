"""Forms for signing up and in, passwords, settings, teams and creator profiles."""

from functools import cache
from zoneinfo import available_timezones

from flask_wtf import FlaskForm
from wtforms import (
    EmailField,
    HiddenField,
    IntegerField,
    PasswordField,
    RadioField,
    SelectChoice,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import Email, InputRequired, Length, NumberRange, Optional, ValidationError

from portal.accounts.models import BrandRole, Platform, RateKind
from portal.accounts.passwords import MAX_LENGTH, password_problem
from portal.money import CURRENCIES, AmountError, parse_amount


@cache
def timezone_choices():
    """Every IANA time zone, sorted, UTC first."""
    zones = sorted(z for z in available_timezones() if "/" in z and not z.startswith("Etc/"))
    return [SelectChoice("UTC"), *[SelectChoice(z, z.replace("_", " ")) for z in zones]]


def plain_text(form, field):
    """Refuse line breaks and control characters in one-line fields."""
    if field.data and any(not ch.isprintable() for ch in field.data):
        raise ValidationError("Use letters, numbers and punctuation only, on one line.")


def new_password(email_field="email", name_field="name"):
    """Validator applying the password policy, aware of the user's email and name."""

    def validate(form, field):
        email = getattr(form, email_field).data if hasattr(form, email_field) else ""
        name = getattr(form, name_field).data if hasattr(form, name_field) else ""
        problem = password_problem(field.data or "", email=email or "", name=name or "")
        if problem:
            raise ValidationError(problem)

    return validate


def strip(value):
    """Drop surrounding whitespace that users paste along with a value."""
    return value.strip() if isinstance(value, str) else value


EMAIL = [
    InputRequired(),
    Email(message="Enter an email address like name@example.com."),
    Length(max=254),
]
NAME = [InputRequired(), Length(max=120), plain_text]


class LoginForm(FlaskForm):
    """Sign in."""

    email = EmailField("Email", validators=[InputRequired(), Length(max=254)], filters=[strip])
    password = PasswordField("Password", validators=[InputRequired(), Length(max=MAX_LENGTH)])
    next = HiddenField()


class SignupForm(FlaskForm):
    """Create a brand or creator account."""

    account_type = RadioField(
        "I am joining as",
        choices=[SelectChoice("brand", "A brand"), SelectChoice("creator", "A creator")],
        default="brand",
        validators=[InputRequired()],
    )
    name = StringField("Your name", validators=NAME)
    email = EmailField("Email", validators=EMAIL, filters=[strip])
    password = PasswordField("Password", validators=[InputRequired(), new_password()])
    brand_name = StringField("Brand name", validators=[Optional(), Length(max=120), plain_text])
    display_name = StringField(
        "Creator display name", validators=[Optional(), Length(max=120), plain_text]
    )
    timezone = SelectField("Time zone", default="UTC")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.timezone.choices = timezone_choices()

    def validate(self, extra_validators=None):
        """Field checks, then: brands need a name (Optional() would skip an inline check)."""
        valid = super().validate(extra_validators)
        if self.account_type.data == "brand" and not (self.brand_name.data or "").strip():
            self.brand_name.errors = [*self.brand_name.errors, "Enter your brand's name."]
            valid = False
        return valid


class ForgotPasswordForm(FlaskForm):
    """Ask for a reset link."""

    email = EmailField("Email", validators=EMAIL, filters=[strip])


class ResetPasswordForm(FlaskForm):
    """Choose a new password through a reset link."""

    password = PasswordField("New password", validators=[InputRequired(), new_password()])


class SettingsForm(FlaskForm):
    """Name and time zone."""

    name = StringField("Name", validators=NAME)
    timezone = SelectField("Time zone")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.timezone.choices = timezone_choices()


class ChangePasswordForm(FlaskForm):
    """Change the password; the current one is asked again."""

    current_password = PasswordField(
        "Current password", validators=[InputRequired(), Length(max=MAX_LENGTH)]
    )
    new_password = PasswordField("New password", validators=[InputRequired(), new_password()])


class InviteForm(FlaskForm):
    """Invite a teammate to the brand."""

    email = EmailField("Email", validators=EMAIL, filters=[strip])
    role = SelectField(
        "Role",
        choices=[SelectChoice(r.value, r.value.capitalize()) for r in BrandRole],
        default=BrandRole.manager.value,
    )


class JoinForm(FlaskForm):
    """Create an account to accept an invitation."""

    name = StringField("Your name", validators=NAME)
    password = PasswordField("Password", validators=[InputRequired(), new_password()])
    timezone = SelectField("Time zone", default="UTC")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.timezone.choices = timezone_choices()


class MediatorForm(FlaskForm):
    """An admin adds a mediator."""

    name = StringField("Name", validators=NAME)
    email = EmailField("Email", validators=EMAIL, filters=[strip])


class ConfirmForm(FlaskForm):
    """A bare form: a CSRF token behind a confirming button."""


class CreatorProfileForm(FlaskForm):
    """A creator's public profile: handles, niches, audience and rates."""

    display_name = StringField("Display name", validators=NAME)
    bio = TextAreaField("About you", validators=[Optional(), Length(max=2000)])
    audience_size = IntegerField(
        "Total audience (followers and subscribers)",
        validators=[Optional(), NumberRange(min=0, max=10**10)],
        default=0,
    )
    niches = StringField(
        "Niches",
        description="Comma-separated, e.g. outdoor, travel, cooking.",
        validators=[Optional(), Length(max=400)],
    )
    currency = SelectField("Currency of your rates", choices=[SelectChoice(c) for c in CURRENCIES])

    def niche_list(self):
        """Niches as clean lower-case words."""
        names = [n.strip().lower() for n in (self.niches.data or "").split(",")]
        return [n[:40] for n in names if n]

    def rate_amounts(self):
        """Rates parsed into minor units; invalid ones become field errors."""
        amounts = {}
        for kind in RateKind:
            field = self[f"rate_{kind.value}"]
            if not (field.data or "").strip():
                continue
            try:
                amounts[kind] = parse_amount(field.data, self.currency.data)
            except AmountError as error:
                field.errors.append(str(error))
        return amounts

    def handle_values(self):
        """Handles keyed by platform."""
        return {p: self[f"handle_{p.value}"].data or "" for p in Platform}


for _platform in Platform:
    setattr(
        CreatorProfileForm,
        f"handle_{_platform.value}",
        StringField(
            f"{_platform.label} handle", validators=[Optional(), Length(max=100), plain_text]
        ),
    )
for _kind in RateKind:
    setattr(
        CreatorProfileForm,
        f"rate_{_kind.value}",
        StringField(f"Rate per {_kind.value}", validators=[Optional(), Length(max=20)]),
    )
