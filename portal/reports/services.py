"""Every change to performance results: the creator records a reading, the brand imports
a CSV file of them. A file is checked whole before anything is written."""

import contextlib
import csv
import io
import re
from dataclasses import dataclass, field
from datetime import date
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select, tuple_

from portal.accounts.models import BrandMembership, BrandRole
from portal.audit import record_event
from portal.campaigns.models import Campaign
from portal.contracts.models import Contract
from portal.database import utcnow
from portal.deliverables.models import Deliverable
from portal.errors import DomainError, NotAllowed
from portal.extensions import db
from portal.markup import escape_markdown
from portal.notifications.models import Kind
from portal.notifications.services import notify_side
from portal.reports.models import MAX_FIGURE, METRIC_LABELS, METRICS, PerformanceResult
from portal.reports.models import ResultSource as Source
from portal.workrooms.models import Side
from portal.workrooms.services import lock_workroom, post_system_event

MAX_IMPORT_BYTES = 1_000_000  #: about 10,000 rows of figures; larger files are refused
MAX_IMPORT_ROWS = 5_000
REQUIRED_COLUMNS = ("deliverable_id", "measured_on")
IMPORT_WRITERS = (BrandRole.owner, BrandRole.manager)
WHOLE_NUMBER = re.compile(r"[0-9]+")
ISO_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


class InvalidResults(DomainError):
    """Figures or a date the rules refuse."""

    status_code = 422


@dataclass(frozen=True)
class RowProblem:
    """What is wrong with one line of an imported file (line 0: the file as a whole)."""

    line: int
    column: str
    message: str


class ImportRefused(DomainError):
    """The file has bad rows; nothing of it was saved. `problems` lists them all."""

    status_code = 422

    def __init__(self, problems):
        self.problems = list(problems)
        lines = {p.line for p in self.problems if p.line}
        super().__init__(
            f"Nothing was imported: {len(self.problems)} problem(s)"
            + (f" on {len(lines)} line(s)." if lines else ".")
            + " Fix the file and import it again."
        )


@dataclass(frozen=True)
class Reading:
    """One checked row: a deliverable's figures on a day."""

    line: int
    deliverable_id: int
    measured_on: date
    figures: dict


@dataclass
class ImportSummary:
    """What an import saved."""

    created: int = 0
    corrected: int = 0
    unchanged: int = 0
    deliverables: set = field(default_factory=set)

    @property
    def rows(self):
        """Rows in the file."""
        return self.created + self.corrected + self.unchanged


def local_today(user, now):
    """The date it is for the user (a reading can't be dated after it)."""
    try:
        zone = ZoneInfo(user.timezone or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        zone = ZoneInfo("UTC")
    return now.astimezone(zone).date()


def date_problem(deliverable, measured_on, today):
    """Why a reading of the deliverable can't carry this date, or None."""
    if deliverable.live_on is None:
        return f"“{deliverable.title}” has no live post recorded yet; results come once it is live."
    if measured_on > today:
        return "The measurement date can't be in the future."
    if measured_on < deliverable.live_on:
        return (
            f"The measurement date is before “{deliverable.title}” went live"
            f" ({deliverable.live_on.isoformat()})."
        )
    return None


def figure_problem(label, value):
    """Why a figure is not acceptable, or None (blank counts as zero)."""
    text = "" if value is None else str(value).strip()
    if text == "" or WHOLE_NUMBER.fullmatch(text):
        return None if text == "" or int(text) <= MAX_FIGURE else f"{label} is too large."
    if text.startswith("-") and WHOLE_NUMBER.fullmatch(text[1:]):
        return f"{label} can't be negative."
    return f"{label} must be a whole number such as 1200 (no separators or decimals)."


def _figure(value):
    """A checked figure as an integer."""
    text = "" if value is None else str(value).strip()
    return int(text) if text else 0


def check_figures(figures):
    """{metric: int} from typed or imported values; raises InvalidResults naming every bad one."""
    problems = [
        problem
        for name in METRICS
        if (problem := figure_problem(METRIC_LABELS[name], figures.get(name)))
    ]
    if problems:
        raise InvalidResults(" ".join(problems))
    return {name: _figure(figures.get(name)) for name in METRICS}


def _audit(actor, action, result, deliverable, *, now, **data):
    """An audit event about a reading, on its workroom's chain."""
    record_event(
        actor,
        action,
        result,
        workroom=deliverable.workroom,
        data={
            "deliverable": deliverable.id,
            "title": deliverable.title,
            "measured_on": result.measured_on.isoformat(),
            "source": result.source.value,
            **result.figures,
            **data,
        },
        now=now,
    )


def _results_link(deliverable):
    """The deliverable's results page (notifications link there)."""
    return f"/workrooms/{deliverable.workroom_id}/deliverables/{deliverable.id}/results"


def _store(deliverable, measured_on, figures, actor, source, existing, now):
    """Write one reading (new, or the correction of that day's); returns (result, what)
    where what is "created", "corrected" or "unchanged"."""
    if existing is None:
        result = PerformanceResult(
            deliverable_id=deliverable.id,
            measured_on=measured_on,
            source=source,
            recorded_by_id=actor.id,
            created_at=now,
            updated_at=now,
            **figures,
        )
        db.session.add(result)
        return result, "created"
    if existing.figures == figures:
        return existing, "unchanged"
    for name, value in figures.items():
        setattr(existing, name, value)
    existing.source, existing.recorded_by_id, existing.updated_at = source, actor.id, now
    return existing, "corrected"


def record_results(deliverable, actor, seat, measured_on, figures, *, now=None):
    """The creator records a live deliverable's figures on a day (again: a correction)."""
    if seat.workroom.id != deliverable.workroom_id:
        raise NotAllowed("That deliverable is not in this workroom.")
    if not seat.is_creator:
        raise NotAllowed("Only the creator records results here; the brand imports a CSV file.")
    figures = check_figures(figures)
    now = now or utcnow()
    lock_workroom(deliverable.workroom)
    db.session.refresh(deliverable)
    problem = date_problem(deliverable, measured_on, local_today(actor, now))
    if problem:
        raise InvalidResults(problem)
    existing = db.session.scalar(
        select(PerformanceResult).where(
            PerformanceResult.deliverable_id == deliverable.id,
            PerformanceResult.measured_on == measured_on,
        )
    )
    result, what = _store(deliverable, measured_on, figures, actor, Source.manual, existing, now)
    if what == "unchanged":
        return result
    db.session.flush()
    verb = "corrected the results of" if what == "corrected" else "recorded results for"
    post_system_event(
        deliverable.workroom,
        f"{escape_markdown(actor.name)} {verb} **{escape_markdown(deliverable.title)}**"
        f" as of {measured_on.isoformat()}: {result.impressions:,} impressions,"
        f" {result.engagements:,} engagements.",
        actor=actor,
        now=now,
    )
    _audit(actor, f"results.{what}", result, deliverable, now=now)
    notify_side(
        deliverable.workroom,
        Side.brand,
        Kind.message,
        f"{actor.name} {verb} “{deliverable.title}”",
        link=_results_link(deliverable),
        actor=actor,
        now=now,
    )
    return result


# CSV import -----------------------------------------------------------------------------------


def _scope_of(scope):
    """(brand id, a filter for the scope's contracts, what to call the scope) for a contract
    or a campaign."""
    if isinstance(scope, Contract):
        return scope.workroom.brand_id, Contract.id == scope.id, "contract"
    if isinstance(scope, Campaign):
        return scope.brand_id, Contract.campaign_id == scope.id, "campaign"
    raise TypeError(f"results are imported per contract or campaign, not {scope!r}")


def _require_importer(actor, brand_id):
    """Only the brand's owners and managers import."""
    role = db.session.scalar(
        select(BrandMembership.role).where(
            BrandMembership.brand_id == brand_id, BrandMembership.user_id == actor.id
        )
    )
    if role not in IMPORT_WRITERS:
        raise NotAllowed("Only the brand's owners and managers import results.")


def read_rows(data):
    """(header, [(line, {column: cell})]) of an uploaded file; raises ImportRefused for a
    file that is not a readable CSV of the expected shape."""
    if len(data) > MAX_IMPORT_BYTES:
        raise ImportRefused(
            [RowProblem(0, "", f"The file is larger than {MAX_IMPORT_BYTES // 1000:,} kB.")]
        )
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ImportRefused([RowProblem(0, "", "Save the file as CSV in UTF-8.")]) from None
    if "\x00" in text:
        raise ImportRefused([RowProblem(0, "", "The file is not a CSV text file.")])
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader, None)
        if header is None:
            raise ImportRefused([RowProblem(0, "", "The file is empty.")])
        header = [cell.strip().lower().replace(" ", "_") for cell in header]
        rows = []
        for cells in reader:
            if not any(cell.strip() for cell in cells):
                continue
            if len(rows) >= MAX_IMPORT_ROWS:
                raise ImportRefused(
                    [RowProblem(0, "", f"A file has at most {MAX_IMPORT_ROWS:,} rows.")]
                )
            rows.append((reader.line_num, cells))
    except csv.Error as error:
        raise ImportRefused(
            [RowProblem(reader.line_num, "", f"The CSV can't be read: {error}.")]
        ) from None
    problems = [
        RowProblem(1, name, f"The column {name} is missing.")
        for name in REQUIRED_COLUMNS
        if name not in header
    ]
    repeated = sorted({name for name in header if name and header.count(name) > 1})
    problems += [RowProblem(1, name, f"The column {name} appears twice.") for name in repeated]
    if not rows and not problems:
        problems.append(RowProblem(0, "", "The file has a header but no rows."))
    if problems:
        raise ImportRefused(problems)
    return header, [
        (line, dict(zip(header, cells, strict=False)), len(cells) > len(header))
        for line, cells in rows
    ]


def _check_row(line, row, too_long):
    """(deliverable id, date, figures, problems) of one row, before looking anything up."""
    problems = []
    if too_long:
        problems.append(RowProblem(line, "", "The row has more cells than the header."))
    raw_id = (row.get("deliverable_id") or "").strip()
    deliverable_id = int(raw_id) if WHOLE_NUMBER.fullmatch(raw_id) else None
    if deliverable_id is None:
        problems.append(
            RowProblem(
                line,
                "deliverable_id",
                "Enter the deliverable's number, as the report or the template shows it."
                if not raw_id
                else f"“{raw_id[:40]}” is not a deliverable number.",
            )
        )
    raw_day = (row.get("measured_on") or "").strip()
    measured_on = None
    if ISO_DAY.fullmatch(raw_day):
        with contextlib.suppress(ValueError):
            measured_on = date.fromisoformat(raw_day)
    if measured_on is None:
        problems.append(
            RowProblem(
                line,
                "measured_on",
                "Enter the date of the figures as YYYY-MM-DD."
                if not raw_day
                else f"“{raw_day[:40]}” is not a date (YYYY-MM-DD).",
            )
        )
    for name in METRICS:
        problem = figure_problem(METRIC_LABELS[name], row.get(name))
        if problem:
            problems.append(RowProblem(line, name, problem))
    figures = None if problems else {name: _figure(row.get(name)) for name in METRICS}
    return deliverable_id, measured_on, figures, problems


def check_import(scope, data, *, today):
    """The readings of a file for a contract or a campaign, every row checked; raises
    ImportRefused listing every problem when any row is bad."""
    brand_id, in_scope, scope_name = _scope_of(scope)
    _, rows = read_rows(data)
    checked, problems, seen = [], [], {}
    for line, row, too_long in rows:
        deliverable_id, measured_on, figures, row_problems = _check_row(line, row, too_long)
        problems += row_problems
        checked.append((line, deliverable_id, measured_on, figures))
    ids = {deliverable_id for _, deliverable_id, _, _ in checked if deliverable_id is not None}
    found = {
        deliverable.id: (deliverable, in_scope_flag)
        for deliverable, in_scope_flag in db.session.execute(
            select(Deliverable, in_scope)
            .join(Contract, Contract.id == Deliverable.contract_id)
            .where(Deliverable.id.in_(ids), Deliverable.workroom.has(brand_id=brand_id))
        ).all()
    }
    readings = []
    for line, deliverable_id, measured_on, figures in checked:
        if deliverable_id is None:
            continue
        deliverable, inside = found.get(deliverable_id, (None, False))
        if deliverable is None:
            problems.append(
                RowProblem(
                    line,
                    "deliverable_id",
                    f"There is no deliverable {deliverable_id} in this {scope_name}.",
                )
            )
            continue
        if not inside:
            problems.append(
                RowProblem(
                    line,
                    "deliverable_id",
                    f"Deliverable {deliverable_id} (“{deliverable.title}”) belongs to another"
                    f" {scope_name}; import it there.",
                )
            )
            continue
        if measured_on is None:
            continue
        problem = date_problem(deliverable, measured_on, today)
        if problem:
            column = "deliverable_id" if deliverable.live_on is None else "measured_on"
            problems.append(RowProblem(line, column, problem))
            continue
        key = (deliverable_id, measured_on)
        if key in seen:
            problems.append(
                RowProblem(
                    line,
                    "measured_on",
                    f"Line {seen[key]} already has deliverable {deliverable_id}"
                    f" on {measured_on.isoformat()}.",
                )
            )
            continue
        seen[key] = line
        if figures is not None:
            readings.append(Reading(line, deliverable_id, measured_on, figures))
    if problems:
        raise ImportRefused(sorted(problems, key=_problem_order))
    return readings, {d.id: d for d, _ in found.values()}


COLUMN_ORDER = {name: n for n, name in enumerate(("", *REQUIRED_COLUMNS, *METRICS))}


def _problem_order(problem):
    """Problems by line, then in the columns' order."""
    return problem.line, COLUMN_ORDER.get(problem.column, 0)


def import_results(scope, actor, data, *, now=None):
    """The brand imports readings for a contract or a campaign from CSV bytes: every row is
    checked first; with any bad row nothing is saved (ImportRefused lists them all),
    otherwise every row is saved in the caller's one transaction."""
    brand_id, _, scope_name = _scope_of(scope)
    _require_importer(actor, brand_id)
    now = now or utcnow()
    readings, deliverables = check_import(scope, data, today=local_today(actor, now))
    workrooms = {d.workroom_id: d.workroom for d in deliverables.values()}
    for workroom_id in sorted(workrooms):  # one order for every writer: no deadlocks
        lock_workroom(workrooms[workroom_id])
    keys = [(r.deliverable_id, r.measured_on) for r in readings]
    existing = {
        (result.deliverable_id, result.measured_on): result
        for result in db.session.scalars(
            select(PerformanceResult).where(
                tuple_(PerformanceResult.deliverable_id, PerformanceResult.measured_on).in_(keys)
            )
        )
    }
    summary = ImportSummary()
    stored = []
    for reading in readings:
        deliverable = deliverables[reading.deliverable_id]
        key = (reading.deliverable_id, reading.measured_on)
        result, what = _store(
            deliverable,
            reading.measured_on,
            reading.figures,
            actor,
            Source.csv,
            existing.get(key),
            now,
        )
        setattr(summary, what, getattr(summary, what) + 1)
        if what != "unchanged":
            summary.deliverables.add(deliverable.id)
            stored.append((result, deliverable, what, reading.line))
    db.session.flush()
    for result, deliverable, what, line in stored:
        _audit(actor, f"results.{what}", result, deliverable, now=now, line=line)
    _announce_import(stored, actor, scope_name, now)
    return summary


def _announce_import(stored, actor, scope_name, now):
    """One system line per workroom naming the deliverables, and word to its creator."""
    by_workroom = {}
    for _result, deliverable, _what, _line in stored:
        by_workroom.setdefault(deliverable.workroom_id, {})[deliverable.id] = deliverable
    for deliverables in by_workroom.values():
        first = next(iter(deliverables.values()))
        titles = ", ".join(
            f"**{escape_markdown(d.title)}**"
            for d in sorted(deliverables.values(), key=lambda d: d.id)
        )
        rows = sum(1 for _r, d, _w, _l in stored if d.workroom_id == first.workroom_id)
        post_system_event(
            first.workroom,
            f"{escape_markdown(actor.name)} imported {rows} reading(s) of results for {titles}"
            f" from a {scope_name} CSV file.",
            actor=actor,
            now=now,
        )
        notify_side(
            first.workroom,
            Side.creator,
            Kind.message,
            f"{actor.name} imported results for {len(deliverables)} deliverable(s)",
            link=_results_link(first),
            actor=actor,
            now=now,
        )
