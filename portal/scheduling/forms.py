"""The calendar's filter form (a GET form) and the feed buttons."""

from flask_wtf import FlaskForm
from wtforms import SelectChoice, SelectField, SubmitField
from wtforms.validators import Optional

from portal.deliverables.models import DeliverableStatus
from portal.scheduling.queries import TONES, Filters


def _number(value):
    """A select's value as an id, or None for "any"."""
    return int(value) if value and value.isdigit() else None


class CalendarFilterForm(FlaskForm):
    """Narrow the calendar by campaign, creator and deliverable status (values from the URL;
    no CSRF token: reading changes nothing)."""

    class Meta:
        csrf = False

    campaign = SelectField("Campaign", validators=[Optional()])
    creator = SelectField("Creator", validators=[Optional()])
    status = SelectField(
        "Deliverable status",
        choices=[
            SelectChoice("", "Any status (cancelled hidden)"),
            *[SelectChoice(s.value, TONES[s.value]) for s in DeliverableStatus],
        ],
        validators=[Optional()],
    )

    def __init__(self, formdata, *, campaigns, creators):
        super().__init__(formdata)
        self.campaign.choices = [
            SelectChoice("", "All campaigns"),
            *[SelectChoice(str(i), name) for i, name in campaigns],
        ]
        self.creator.choices = [
            SelectChoice("", "All creators"),
            *[SelectChoice(str(i), name) for i, name in creators],
        ]

    def filters(self):
        """The narrowing asked for; a value outside the choices counts as "any"."""
        self.validate()
        value = {
            f.name: (None if f.errors else f.data)
            for f in (self.campaign, self.creator, self.status)
        }
        return Filters(
            campaign_id=_number(value["campaign"]),
            creator_id=_number(value["creator"]),
            status=DeliverableStatus(value["status"]) if value["status"] else None,
        )

    def query_args(self):
        """The filters as query-string arguments, blanks left out (for links)."""
        filters = self.filters()
        args = {
            "campaign": filters.campaign_id,
            "creator": filters.creator_id,
            "status": filters.status.value if filters.status else None,
        }
        return {key: value for key, value in args.items() if value is not None}


class FeedForm(FlaskForm):
    """Make a new feed address (the old one stops working) or turn the feed off."""

    regenerate = SubmitField("Make a new feed address")
    revoke = SubmitField("Turn the feed off")
