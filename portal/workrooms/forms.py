"""Forms of the message log."""

import uuid

from flask import current_app
from flask_wtf import FlaskForm
from wtforms import BooleanField, HiddenField, IntegerField, MultipleFileField, TextAreaField
from wtforms.validators import InputRequired, Length, Optional, ValidationError

from portal.workrooms import uploads
from portal.workrooms.services import MAX_BODY


def inspect_chosen_files(field, where):
    """The files chosen in a file field, each checked by its bytes (uploads.inspect).

    Raises ValidationError naming every refused file, so the form shows it by the field.
    """
    config = current_app.config
    chosen = [f for f in field.data or [] if f and f.filename]
    if len(chosen) > config["MAX_ATTACHMENTS_PER_MESSAGE"]:
        raise ValidationError(
            f"Attach at most {config['MAX_ATTACHMENTS_PER_MESSAGE']} files to {where}."
        )
    checked, refused = [], []
    for file in chosen:
        try:
            checked.append(
                uploads.inspect(
                    file,
                    max_bytes=config["MAX_ATTACHMENT_BYTES"],
                    max_pixels=config["MAX_IMAGE_PIXELS"],
                )
            )
        except uploads.UploadRefused as refusal:
            refused.append(str(refusal))
    if refused:
        raise ValidationError(" ".join(refused) + " Choose the files again.")
    return checked


def files_hint():
    """The limits of attached files, as a field description."""
    config = current_app.config
    return (
        f"Up to {config['MAX_ATTACHMENTS_PER_MESSAGE']} files of at most "
        f"{uploads.human_size(config['MAX_ATTACHMENT_BYTES'])} each: {uploads.ACCEPTED}."
    )


class MessageForm(FlaskForm):
    """Write a message, a reply or an internal note, with files or only files."""

    body = TextAreaField(
        "Message",
        validators=[Length(max=MAX_BODY)],
        description="Markdown: **bold**, _italic_, [links](https://example.com), lists.",
    )
    # Not "files": that id belongs to the workroom page's Files section.
    files = MultipleFileField(
        "Attach files", id="message-files", render_kw={"accept": uploads.ACCEPT}
    )
    internal = BooleanField("Internal note (only your side sees it)")
    parent_id = IntegerField(validators=[Optional()])
    # A fresh id per rendered form: resending the same form never posts twice.
    client_msg_id = HiddenField(validators=[Optional(), Length(max=64)])

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if not self.client_msg_id.data:
            self.client_msg_id.data = uuid.uuid4().hex
        self.files.description = files_hint()
        self.uploads = []  #: the checked files, once the form validates

    def validate_files(self, field):
        """Check every chosen file by its bytes; the first refusals name the files."""
        self.uploads = inspect_chosen_files(field, "one message")

    def validate(self, extra_validators=None):
        """A message needs text or at least one file."""
        if not super().validate(extra_validators):
            return False
        if not (self.body.data or "").strip() and not self.uploads:
            self.body.errors.append("Write something first.")
            return False
        return True


class EditMessageForm(FlaskForm):
    """Change the text of one's own message (the service refuses empty text without files)."""

    body = TextAreaField("Message", validators=[Length(max=MAX_BODY)])


class ReadForm(FlaskForm):
    """Mark the log read up to a message number."""

    seq = IntegerField(validators=[InputRequired()])
