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
    return [("UTC", "UTC"), *[(zone, zone.replace("_", " ")) for zone in zones]]


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


EMAIL = [
    InputRequired(),
    Email(message="Enter an email address like name@example.com."),
    Length(max=254),
]
NAME = [InputRequired(), Length(max=120), plain_text]


class LoginForm(FlaskForm):
    """Sign in."""

    email = EmailField("Email", validators=[InputRequired(), Length(max=254)])
    password = PasswordField("Password", validators=[InputRequired(), Length(max=MAX_LENGTH)])
    next = HiddenField()


class SignupForm(FlaskForm):
    """Create a brand or creator account."""

    account_type = RadioField(
        "I am joining as",
        choices=[("brand", "A brand"), ("creator", "A creator")],
        default="brand",
        validators=[InputRequired()],
    )
    name = StringField("Your name", validators=NAME)
    email = EmailField("Email", validators=EMAIL)
    password = PasswordField("Password", validators=[InputRequired(), new_password()])
    brand_name = StringField("Brand name", validators=[Optional(), Length(max=120), plain_text])
    display_name = StringField(
        "Creator display name", validators=[Optional(), Length(max=120), plain_text]
    )
    timezone = SelectField("Time zone", default="UTC")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.timezone.choices = timezone_choices()

    def validate_brand_name(self, field):
        """Brands need a name."""
        if self.account_type.data == "brand" and not (field.data or "").strip():
            raise ValidationError("Enter your brand's name.")


class ForgotPasswordForm(FlaskForm):
    """Ask for a reset link."""

    email = EmailField("Email", validators=EMAIL)


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

    email = EmailField("Email", validators=EMAIL)
    role = SelectField(
        "Role",
        choices=[(r.value, r.value.capitalize()) for r in BrandRole],
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
    email = EmailField("Email", validators=EMAIL)


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
    currency = SelectField("Currency of your rates", choices=[(c, c) for c in CURRENCIES])

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
