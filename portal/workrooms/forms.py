"""Forms of the message log."""

import uuid

from flask_wtf import FlaskForm
from wtforms import BooleanField, HiddenField, IntegerField, TextAreaField
from wtforms.validators import InputRequired, Length, Optional

from portal.workrooms.services import MAX_BODY


class MessageForm(FlaskForm):
    """Write a message, a reply or an internal note."""

    body = TextAreaField(
        "Message",
        validators=[InputRequired(message="Write something first."), Length(max=MAX_BODY)],
        description="Markdown: **bold**, _italic_, [links](https://example.com), lists.",
    )
    internal = BooleanField("Internal note (only your side sees it)")
    parent_id = IntegerField(validators=[Optional()])
    # A fresh id per rendered form: resending the same form never posts twice.
    client_msg_id = HiddenField(validators=[Optional(), Length(max=64)])

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if not self.client_msg_id.data:
            self.client_msg_id.data = uuid.uuid4().hex


class EditMessageForm(FlaskForm):
    """Change the text of one's own message."""

    body = TextAreaField(
        "Message",
        validators=[InputRequired(message="A message can't be empty."), Length(max=MAX_BODY)],
    )


class ReadForm(FlaskForm):
    """Mark the log read up to a message number."""

    seq = IntegerField(validators=[InputRequired()])
