"""The notification preferences form: a channel per kind, the digest, quiet hours."""

from flask_wtf import FlaskForm
from wtforms import SelectChoice, SelectField
from wtforms.validators import InputRequired, ValidationError

from portal.notifications.models import Channel, DigestFrequency, Kind

HOURS = [SelectChoice(str(h), f"{h:02d}:00") for h in range(24)]
WEEKDAYS = [
    SelectChoice(str(i), day)
    for i, day in enumerate(
        ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
    )
]
#: money and legal events reach you whatever you choose here
ALWAYS_NOTE = {
    Kind.payout: "Payouts always reach you by email.",
    Kind.contract: "Contract acceptances always reach you by email.",
    Kind.ticket: "Mediation decisions always reach you by email.",
}


class PreferencesForm(FlaskForm):
    """What reaches the user, and when."""

    digest = SelectField(
        "Digest",
        choices=[
            SelectChoice(DigestFrequency.daily.value, "Every day"),
            SelectChoice(DigestFrequency.weekly.value, "Every week"),
            SelectChoice(DigestFrequency.off.value, "Never"),
        ],
        validators=[InputRequired()],
        description="What waits on you, due soon and unread, in one email.",
    )
    digest_hour = SelectField("At (your time)", choices=HOURS, validators=[InputRequired()])
    digest_weekday = SelectField(
        "On (weekly digest)", choices=WEEKDAYS, validators=[InputRequired()]
    )
    quiet_start = SelectField(
        "Quiet hours from",
        choices=[SelectChoice("", "No quiet hours"), *HOURS],
        description="Emails wait until quiet hours end (your time zone).",
    )
    quiet_end = SelectField("Quiet hours until", choices=[SelectChoice("", "—"), *HOURS])

    def __init__(self, *args, settings=None, **kwargs):
        super().__init__(*args, **kwargs)
        if settings is not None and not self.is_submitted():
            self.digest.data = settings.digest.value
            self.digest_hour.data = str(settings.digest_hour)
            self.digest_weekday.data = str(settings.digest_weekday)
            self.quiet_start.data = (
                "" if settings.quiet_start is None else str(settings.quiet_start)
            )
            self.quiet_end.data = "" if settings.quiet_end is None else str(settings.quiet_end)
            for kind in Kind:
                self[f"channel_{kind.value}"].data = settings.channel(kind).value

    def kind_fields(self):
        """(kind, its field, the note on it) in the order the page lists them."""
        return [(kind, self[f"channel_{kind.value}"], ALWAYS_NOTE.get(kind)) for kind in Kind]

    def validate_quiet_end(self, field):
        """Quiet hours need both ends, and they must differ."""
        start, end = self.quiet_start.data, field.data
        if bool(start) != bool(end):
            raise ValidationError("Choose when quiet hours start and when they end.")
        if start and start == end:
            raise ValidationError("Quiet hours must end at another hour than they start.")

    def choices(self):
        """The form's values as save_preferences takes them."""
        quiet = (
            (int(self.quiet_start.data), int(self.quiet_end.data))
            if self.quiet_start.data
            else None
        )
        return {
            "channels": {kind: Channel(self[f"channel_{kind.value}"].data) for kind in Kind},
            "digest": DigestFrequency(self.digest.data),
            "digest_hour": int(self.digest_hour.data),
            "digest_weekday": int(self.digest_weekday.data),
            "quiet": quiet,
        }


for _kind in Kind:
    setattr(
        PreferencesForm,
        f"channel_{_kind.value}",
        SelectField(
            _kind.label,
            choices=[SelectChoice(c.value, c.label) for c in Channel],
            validators=[InputRequired()],
        ),
    )
