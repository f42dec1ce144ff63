"""Forms of the results pages: the creator's reading, the brand's CSV import."""

from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import DateField, StringField
from wtforms.validators import InputRequired, Length, ValidationError

from portal.reports.models import METRIC_LABELS, METRICS
from portal.reports.services import MAX_IMPORT_BYTES, figure_problem


def _figure_check(form, field):
    """A whole number of zero or more; blank counts as zero."""
    problem = figure_problem(field.label.text, field.data)
    if problem:
        raise ValidationError(problem)


def _figure(name):
    """A text input for one figure (text, so typed mistakes come back as typed)."""
    return StringField(
        METRIC_LABELS[name],
        validators=[Length(max=20), _figure_check],
        render_kw={"inputmode": "numeric", "autocomplete": "off"},
    )


class ResultsForm(FlaskForm):
    """A live deliverable's figures on one day."""

    measured_on = DateField(
        "Measured on",
        validators=[InputRequired(message="Enter the date of the figures.")],
        description="The day you read the figures off the platform.",
    )
    reach = _figure("reach")
    impressions = _figure("impressions")
    views = _figure("views")
    likes = _figure("likes")
    comments = _figure("comments")
    shares = _figure("shares")
    saves = _figure("saves")
    clicks = _figure("clicks")
    conversions = _figure("conversions")

    def figures(self):
        """{metric: typed value}."""
        return {name: self[name].data for name in METRICS}

    def metric_fields(self):
        """The nine figure fields, in order."""
        return [self[name] for name in METRICS]


class ImportForm(FlaskForm):
    """A CSV file of readings."""

    file = FileField(
        "CSV file",
        render_kw={"accept": ".csv,text/csv"},
        description=f"UTF-8 CSV, up to {MAX_IMPORT_BYTES // 1000:,} kB.",
    )

    def validate_file(self, field):
        """A file was chosen and is not too large; keeps its bytes in `self.data_bytes`."""
        upload = field.data
        if upload is None or not getattr(upload, "filename", ""):
            raise ValidationError("Choose a CSV file.")
        data = upload.read(MAX_IMPORT_BYTES + 1)
        if len(data) > MAX_IMPORT_BYTES:
            raise ValidationError(f"The file is larger than {MAX_IMPORT_BYTES // 1000:,} kB.")
        if not data.strip():
            raise ValidationError("The file is empty.")
        self.data_bytes = data
