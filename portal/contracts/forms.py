"""The contract form (fixed rows of deliverable lines, no JavaScript) and the answer forms."""

from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateField,
    FieldList,
    Form,
    FormField,
    HiddenField,
    IntegerField,
    RadioField,
    SelectChoice,
    SelectField,
    StringField,
    SubmitField,
    TextAreaField,
)
from wtforms.validators import InputRequired, Length, NumberRange, Optional, Regexp

from portal.accounts.forms import plain_text, strip
from portal.accounts.models import Platform
from portal.contracts.models import DeliverableKind, RenewalChoice
from portal.contracts.services import MAX_COMMENT, MAX_LINES, MAX_TERMS
from portal.contracts.terms import LineTerms, Terms
from portal.money import CURRENCIES, AmountError, amount_input, parse_amount

BLANK_ROWS = 5
SHA256 = [InputRequired(), Regexp(r"^[0-9a-f]{64}$", message="Reload the page and try again.")]


def days(label, default, low, high, description=None):
    """A whole number of days (or rounds) within a range."""
    return IntegerField(
        label,
        default=default,
        description=description,
        validators=[
            InputRequired(message="Enter a whole number."),
            NumberRange(low, high, message=f"Enter a whole number from {low} to {high}."),
        ],
    )


class LineForm(Form):
    """One row of the lines table; a row left blank is ignored."""

    title = StringField("Title", validators=[Optional(), Length(max=160), plain_text])
    kind = SelectField(
        "Kind",
        choices=[SelectChoice(k.value, k.value.capitalize()) for k in DeliverableKind],
        default=DeliverableKind.post.value,
    )
    platform = SelectField(
        "Platform",
        choices=[SelectChoice(p.value, p.label) for p in Platform],
        default=Platform.instagram.value,
    )
    due_on = DateField("Due date", validators=[Optional()])
    price = StringField("Price", validators=[Optional(), Length(max=20)], filters=[strip])
    requirements = TextAreaField(
        "Requirements",
        validators=[Optional(), Length(max=4000)],
        description="One checklist item a line, e.g. #ad disclosure.",
    )

    def requirement_items(self):
        """The typed checklist, one item a line, blanks dropped."""
        return tuple(
            row.strip() for row in (self.requirements.data or "").splitlines() if row.strip()
        )

    def is_blank(self):
        """Nothing typed in the row (kind and platform always have a value)."""
        typed_date = bool(self.due_on.raw_data and self.due_on.raw_data[0].strip())
        typed = (self.title.data or "").strip() or self.price.data or self.requirement_items()
        return not (typed or typed_date)


class ContractForm(FlaskForm):
    """A contract's terms: text, dates, lines, money and settings."""

    campaign = SelectField("Campaign", coerce=int, validate_choice=True)
    title = StringField(
        "Title", validators=[InputRequired(), Length(max=160), plain_text], filters=[strip]
    )
    terms = TextAreaField(
        "Terms",
        description="Markdown: **bold**, lists, links and tables.",
        validators=[InputRequired(message="Write the terms."), Length(max=MAX_TERMS)],
    )
    starts_on = DateField("Starts on", validators=[InputRequired(message="Enter a date.")])
    ends_on = DateField("Ends on", validators=[InputRequired(message="Enter a date.")])
    currency = SelectField("Currency", choices=[SelectChoice(c) for c in CURRENCIES])
    lines = FieldList(FormField(LineForm), min_entries=BLANK_ROWS, max_entries=MAX_LINES)
    renewal_date = DateField("Renewal date", validators=[Optional()])
    renewal_notice_days = days("Renewal notice (days)", 30, 0, 365)
    auto_renew = BooleanField("Renew automatically unless a side gives notice")
    termination_notice_days = days("Termination notice (days)", 14, 0, 365)
    kill_fee_percent = days(
        "Kill fee (%)", 0, 0, 100, "Share of the open lines' value owed if the brand ends early."
    )
    auto_approve_days = days(
        "Auto-approve window (days)",
        5,
        1,
        60,
        "A submission nobody reviews within this many days is approved.",
    )
    revision_budget = days(
        "Revision budget (change-request rounds)", 2, 0, 20, "Rounds of changes per deliverable."
    )
    grace_hours = days(
        "Grace period (hours)",
        24,
        0,
        720,
        "How long past its due time a deliverable with nothing approved counts as missed.",
    )
    comment = TextAreaField(
        "Note about this version",
        description="Optional: what changed and why.",
        validators=[Optional(), Length(max=MAX_COMMENT)],
    )
    save_draft = SubmitField("Save draft")
    propose = SubmitField("Propose")

    def __init__(self, *args, campaigns=None, **kwargs):
        super().__init__(*args, **kwargs)
        if campaigns is None:
            del self.campaign
        else:
            self.campaign.choices = [SelectChoice(c.id, c.name) for c in campaigns]
        while len(self.lines.entries) < min(MAX_LINES, self._filled_rows() + 2):
            self.lines.append_entry()

    def _filled_rows(self):
        """Rows holding something."""
        return sum(1 for entry in self.lines.entries if not entry.form.is_blank())

    def validate(self, extra_validators=None):
        """Field checks, then the rules across fields, each message next to its field."""
        valid = super().validate(extra_validators)
        self.lines_error = None
        self.parsed_lines = []
        starts, ends = self.starts_on.data, self.ends_on.data
        if starts and ends and ends < starts:
            self.ends_on.errors.append("The end date must be on or after the start date.")
        if starts and self.renewal_date.data and self.renewal_date.data < starts:
            self.renewal_date.errors.append("The renewal date must be on or after the start date.")
        for entry in self.lines.entries:
            row = entry.form
            if row.is_blank():
                continue
            line = self._line(row, starts, ends)
            if line is not None:
                self.parsed_lines.append(line)
        if not any(not e.form.is_blank() for e in self.lines.entries):
            self.lines_error = "Add at least one deliverable line."
        return valid and not self.lines_error and not self._has_errors()

    def _line(self, row, starts, ends):
        """A filled row as LineTerms, or None with errors on its fields."""
        if not (row.title.data or "").strip():
            row.title.errors.append("Give the line a title.")
        if row.due_on.data is None and not row.due_on.errors:
            row.due_on.errors.append("Enter a due date.")
        elif row.due_on.data and starts and ends and not starts <= row.due_on.data <= ends:
            row.due_on.errors.append("Due dates fall within the contract's dates.")
        price = None
        if not row.price.data:
            row.price.errors.append("Enter a price such as 250.00.")
        elif self.currency.data in CURRENCIES:
            try:
                price = parse_amount(row.price.data, self.currency.data)
            except AmountError as error:
                row.price.errors.append(str(error))
        if any(field.errors for field in row) or price is None:
            return None
        return LineTerms(
            title=row.title.data.strip(),
            kind=DeliverableKind(row.kind.data),
            platform=Platform(row.platform.data),
            due_on=row.due_on.data,
            price_minor=price,
            requirements=row.requirement_items(),
        )

    def _has_errors(self):
        """True when any field or line field has an error."""
        return any(f.errors for name, f in self._fields.items() if name != "lines") or any(
            any(f.errors for f in e.form) for e in self.lines.entries
        )

    def wants_proposal(self):
        """Propose unless only 'Save draft' was pressed."""
        return not self.save_draft.data

    def to_terms(self):
        """The validated form as Terms."""
        return Terms(
            title=self.title.data,
            terms_md=self.terms.data,
            starts_on=self.starts_on.data,
            ends_on=self.ends_on.data,
            currency=self.currency.data,
            lines=tuple(self.parsed_lines),
            renewal_date=self.renewal_date.data,
            renewal_notice_days=self.renewal_notice_days.data,
            auto_renew=self.auto_renew.data,
            termination_notice_days=self.termination_notice_days.data,
            kill_fee_percent=self.kill_fee_percent.data,
            auto_approve_days=self.auto_approve_days.data,
            revision_budget=self.revision_budget.data,
            grace_hours=self.grace_hours.data,
        )


def form_data(terms):
    """Initial form values from existing terms (the next version starts from them)."""
    return {
        "title": terms.title,
        "terms": terms.terms_md,
        "starts_on": terms.starts_on,
        "ends_on": terms.ends_on,
        "currency": terms.currency,
        "renewal_date": terms.renewal_date,
        "renewal_notice_days": terms.renewal_notice_days,
        "auto_renew": terms.auto_renew,
        "termination_notice_days": terms.termination_notice_days,
        "kill_fee_percent": terms.kill_fee_percent,
        "auto_approve_days": terms.auto_approve_days,
        "revision_budget": terms.revision_budget,
        "grace_hours": terms.grace_hours,
        "lines": [
            {
                "title": line.title,
                "kind": line.kind.value,
                "platform": line.platform.value,
                "due_on": line.due_on,
                "price": amount_input(line.price_minor, terms.currency),
                "requirements": "\n".join(line.requirements),
            }
            for line in terms.lines
        ],
    }


class AcceptForm(FlaskForm):
    """Accept exactly the terms shown: the form carries their SHA-256."""

    sha256 = HiddenField(validators=SHA256)


class DeclineForm(FlaskForm):
    """Ask for changes (or reject an amendment) with a comment, for the terms shown."""

    sha256 = HiddenField(validators=SHA256)
    comment = TextAreaField(
        "What should change?",
        validators=[
            InputRequired(message="Say what should change."),
            Length(max=MAX_COMMENT),
        ],
    )


class RenewalDecisionForm(FlaskForm):
    """The brand's renewal decision, with a comment the creator reads."""

    decision = RadioField(
        "Decision",
        choices=[
            SelectChoice(RenewalChoice.renew.value, "Renew as is: propose the next term now"),
            SelectChoice(
                RenewalChoice.renegotiate.value,
                "Renegotiate: start a draft of the next term to edit",
            ),
            SelectChoice(RenewalChoice.lapse.value, "Let it lapse: it expires at its end"),
        ],
        validators=[InputRequired(message="Choose a decision.")],
    )
    comment = TextAreaField(
        "Comment for the creator",
        validators=[
            InputRequired(message="Say why, for the creator: the comment is shown to them."),
            Length(max=MAX_COMMENT),
        ],
    )


class OptOutForm(FlaskForm):
    """Opt out of the automatic renewal (the CSRF token is the whole form)."""
