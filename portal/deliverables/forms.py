"""Forms of the deliverable page: submit, review, extensions, extra rounds, remedies, go live."""

import uuid
from datetime import datetime, time
from zoneinfo import ZoneInfo

from flask_wtf import FlaskForm
from wtforms import (
    DateField,
    HiddenField,
    MultipleFileField,
    RadioField,
    SelectChoice,
    SelectMultipleField,
    StringField,
    TextAreaField,
    TimeField,
)
from wtforms.validators import InputRequired, Length, Optional, ValidationError
from wtforms.widgets import CheckboxInput, ListWidget

from portal.deliverables.models import ReviewDecision
from portal.deliverables.services import MAX_FEEDBACK, MAX_LINKS, MAX_REASON, MAX_TEXT
from portal.workrooms import uploads
from portal.workrooms.forms import files_hint, inspect_chosen_files


class ChecklistField(SelectMultipleField):
    """A list of checkboxes, one per requirement."""

    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class SubmitRevisionForm(FlaskForm):
    """The creator's next revision: caption or script, links, files and the checklist."""

    text = TextAreaField(
        "Caption or script",
        validators=[Length(max=MAX_TEXT)],
        description="Markdown: **bold**, _italic_, [links](https://example.com), lists.",
    )
    links = TextAreaField(
        "Links",
        validators=[Length(max=MAX_LINKS * 510)],
        description=f"Draft or live URLs, one a line (up to {MAX_LINKS}).",
    )
    checklist = ChecklistField("Requirements met", choices=[], validate_choice=False)
    files = MultipleFileField("Files", id="revision-files", render_kw={"accept": uploads.ACCEPT})
    # A fresh token per rendered form: resending the same form never submits twice.
    client_token = HiddenField(validators=[Optional(), Length(max=64)])

    def __init__(self, *args, requirements=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.checklist.choices = [SelectChoice(item, item) for item in requirements]
        if not self.client_token.data:
            self.client_token.data = uuid.uuid4().hex
        self.files.description = files_hint()
        self.uploads = []  #: the checked files, once the form validates

    def validate_files(self, field):
        """Check every chosen file by its bytes."""
        self.uploads = inspect_chosen_files(field, "one revision")

    def link_list(self):
        """The typed links, one a line."""
        return [row.strip() for row in (self.links.data or "").splitlines() if row.strip()]


class ReviewForm(FlaskForm):
    """The brand's decision on the revision in review."""

    decision = RadioField(
        "Decision",
        choices=[
            SelectChoice(ReviewDecision.approve.value, "Approve"),
            SelectChoice(ReviewDecision.approve_with_corrections.value, "Approve with corrections"),
            SelectChoice(ReviewDecision.request_changes.value, "Request changes"),
        ],
        validators=[InputRequired(message="Choose a decision.")],
    )
    feedback = TextAreaField(
        "Feedback for the creator",
        validators=[Length(max=MAX_FEEDBACK)],
        description="Required for corrections and change requests. The creator sees it.",
    )
    internal = TextAreaField(
        "Brand-only comment",
        validators=[Length(max=MAX_FEEDBACK)],
        description="Only your brand's team sees this.",
    )

    def validate_feedback(self, field):
        """Corrections and change requests say what to change."""
        if self.decision.data != ReviewDecision.approve.value and not (field.data or "").strip():
            if self.decision.data == ReviewDecision.request_changes.value:
                raise ValidationError("Say what should change.")
            raise ValidationError("Write the corrections to apply when publishing.")


class ExtensionForm(FlaskForm):
    """Propose a new due date and time, in the user's time zone, with a reason."""

    new_date = DateField("New due date", validators=[InputRequired(message="Enter a date.")])
    new_time = TimeField("Time", default=time(23, 59), validators=[Optional()])
    reason = TextAreaField(
        "Reason",
        validators=[InputRequired(message="Give a reason."), Length(max=MAX_REASON)],
    )

    def due_at(self, timezone_name):
        """The proposed moment in UTC."""
        zone = ZoneInfo(timezone_name or "UTC")
        moment = datetime.combine(self.new_date.data, self.new_time.data or time(23, 59), zone)
        return moment.astimezone(ZoneInfo("UTC"))


class AnswerForm(FlaskForm):
    """Accept or decline a request: the pressed button says which."""

    answer = HiddenField()

    def accepted(self):
        """True when the accept button was pressed."""
        return self.answer.data == "accept"


class ReasonForm(FlaskForm):
    """An action that needs a reason: waive, cancel, ask for an extra round."""

    reason = TextAreaField(
        "Reason", validators=[InputRequired(message="Give a reason."), Length(max=MAX_REASON)]
    )


class GoLiveForm(FlaskForm):
    """Where and when the approved content went live."""

    url = StringField(
        "Live URL",
        validators=[InputRequired(message="Enter the live URL."), Length(max=500)],
        render_kw={"type": "url", "placeholder": "https://"},
    )
    live_on = DateField("Went live on", validators=[InputRequired(message="Enter a date.")])
