"""Report pages per contract, campaign and creator with SVG charts and CSV exports; the
creator's results page of a deliverable; the brand's CSV import."""

from flask import Blueprint, abort, flash, redirect, request, url_for
from flask_login import current_user, login_required

from portal.accounts.models import AccountKind, BrandRole, User
from portal.accounts.services import membership_of
from portal.campaigns.models import Campaign
from portal.contracts.models import Contract, ContractStatus
from portal.database import utcnow
from portal.deliverables.models import Deliverable
from portal.errors import DomainError
from portal.extensions import db
from portal.money import amount_input
from portal.rendering import csv_download, render_page
from portal.reports import charts, queries, services
from portal.reports.forms import ImportForm, ResultsForm
from portal.reports.models import ENGAGEMENT_METRICS, METRIC_LABELS, METRICS
from portal.workrooms.access import load_workroom

bp = Blueprint("reports", __name__)
IMPORTERS = (BrandRole.owner, BrandRole.manager)


# Loading and authorizing ----------------------------------------------------------------------


def _load_contract(contract_id, *, write=False):
    """The contract and the user's seat; 404 for outsiders (and drafts outside the brand),
    403 for importing from anything but a brand owner's or manager's seat."""
    contract = db.session.get(Contract, contract_id)
    if contract is None:
        abort(404)
    seat = load_workroom(current_user, contract.workroom_id, write=write)
    if contract.status is ContractStatus.draft and not seat.is_brand:
        abort(404)
    if write and not seat.is_brand:
        abort(403)
    return seat, contract


def _load_campaign(campaign_id, *, write=False):
    """A campaign of one of the user's brands (admins read every one); 404 otherwise, 403
    for viewers and admins importing."""
    campaign = db.get_or_404(Campaign, campaign_id)
    if current_user.kind is AccountKind.admin:
        if write:
            abort(403)
        return campaign
    membership = membership_of(current_user, campaign.brand)
    if membership is None:
        abort(404)
    if write and membership.role not in IMPORTERS:
        abort(403)
    return campaign


def _load_creator(creator_id):
    """A creator whose report the user may read: their own, every one for admins, those
    their brands work with for brand members; 404 otherwise."""
    creator = db.session.get(User, creator_id)
    if creator is None or creator.kind is not AccountKind.creator:
        abort(404)
    if current_user.kind is AccountKind.admin or current_user.id == creator.id:
        return creator
    if current_user.kind is AccountKind.brand and queries.creator_known_to(creator, current_user):
        return creator
    abort(404)


def _load_deliverable(workroom_id, deliverable_id, *, write=False):
    """The seat and a deliverable of its workroom; 404 for outsiders and other workrooms."""
    seat = load_workroom(current_user, workroom_id, write=write)
    deliverable = db.session.get(Deliverable, deliverable_id)
    if deliverable is None or deliverable.workroom_id != seat.workroom.id:
        abort(404)
    return seat, deliverable


# Report pages ------------------------------------------------------------------------------


def _charts(report, *, per_contract):
    """The report's charts: impressions and engagements per deliverable, and delivered
    against contracted per contract when there are several."""
    labelled = [
        (f"{row.deliverable.title} (#{row.deliverable.id})", row) for row in report.deliverables
    ]
    found = [
        charts.bar_chart(
            "chart-impressions",
            "Impressions per deliverable (latest reading)",
            [(label, row.figure("impressions")) for label, row in labelled],
        ),
        charts.bar_chart(
            "chart-engagements",
            "Engagements per deliverable (latest reading)",
            [(label, row.engagements) for label, row in labelled],
        ),
    ]
    if per_contract:
        found.insert(
            0,
            charts.paired_chart(
                "chart-delivery",
                "Deliverables contracted and delivered per contract",
                [(r.title, r.facts.contracted, r.facts.delivered) for r in report.contracts],
                ("Contracted", "Delivered"),
            ),
        )
    return found


def _report_page(template, report, **context):
    """A report page with its charts."""
    return render_page(
        template,
        report=report,
        charts=_charts(report, per_contract=len(report.contracts) > 1),
        metrics=[(name, METRIC_LABELS[name]) for name in METRICS],
        engagement_names=[METRIC_LABELS[name].lower() for name in ENGAGEMENT_METRICS],
        **context,
    )


@bp.route("/contracts/<int:contract_id>/report")
@login_required
def contract(contract_id):
    """One contract's delivery, spend and results (both sides read it)."""
    seat, found = _load_contract(contract_id)
    report = queries.build_report(queries.one_contract(found))
    can_import = seat.is_brand and seat.can_write
    return _report_page(
        "reports/contract.html", report, seat=seat, contract=found, can_import=can_import
    )


@bp.route("/campaigns/<int:campaign_id>/report")
@login_required
def campaign(campaign_id):
    """A campaign's contracts side by side (the brand's members)."""
    found = _load_campaign(campaign_id)
    report = queries.build_report(queries.campaign_contracts(found))
    membership = membership_of(current_user, found.brand)
    can_import = membership is not None and membership.role in IMPORTERS
    return _report_page("reports/campaign.html", report, campaign=found, can_import=can_import)


@bp.route("/reports/creators/<int:creator_id>")
@login_required
def creator(creator_id):
    """A creator's contracts: the viewer's brands' ones, or all of them for the creator."""
    found = _load_creator(creator_id)
    report = queries.build_report(queries.creator_contracts(found, current_user))
    return _report_page("reports/creator.html", report, creator=found)


# CSV exports ------------------------------------------------------------------------------------

EXPORT_HEADER = [
    "level",
    "contract_id",
    "contract",
    "brand",
    "creator",
    "campaign",
    "deliverable_id",
    "deliverable",
    "platform",
    "status",
    "live_url",
    "live_on",
    "measured_on",
    *METRICS,
    "engagements",
    "contracted",
    "delivered",
    "on_time_rate",
    "revisions_per_deliverable",
    "currency",
    "contracted_amount",
    "spend",
    "cost_per_engagement",
    "cost_per_thousand_impressions",
]


def _money(minor, currency):
    """An amount in major units for a CSV cell ('' when unknown)."""
    return "" if minor is None or not currency else amount_input(minor, currency)


def _ratio(value):
    """A ratio with two decimals for a CSV cell ('' when unknown)."""
    return "" if value is None else f"{value:.2f}"


def export_rows(report):
    """The report as CSV rows: one per contract, then one per deliverable of it."""
    rows = []
    for line in report.contracts:
        contract, facts, figures = line.contract, line.facts, line.figures
        people = [contract.workroom.brand.name, contract.workroom.creator.name]
        rows.append(
            [
                "contract",
                contract.id,
                line.title,
                *people,
                contract.campaign.name,
                *[""] * 7,
                *(figures.totals[name] for name in METRICS),
                figures.engagements,
                facts.contracted,
                facts.delivered,
                _ratio(facts.on_time_rate),
                _ratio(facts.revisions_per_deliverable),
                facts.currency,
                _money(facts.contracted_minor, facts.currency),
                _money(facts.spend_minor, facts.currency),
                _money(figures.cost_per_engagement, facts.currency),
                _money(figures.cpm, facts.currency),
            ]
        )
        for row in line.deliverables:
            d = row.deliverable
            rows.append(
                [
                    "deliverable",
                    contract.id,
                    line.title,
                    *people,
                    contract.campaign.name,
                    d.id,
                    d.title,
                    d.platform.label,
                    d.status.value,
                    d.live_url or "",
                    d.live_on.isoformat() if d.live_on else "",
                    row.result.measured_on.isoformat() if row.result else "",
                    *(row.figure(name) if row.result else "" for name in METRICS),
                    row.engagements if row.result else "",
                    *[""] * 9,
                ]
            )
    return rows


def _export(name, contracts):
    """A report of some contracts as a CSV download."""
    report = queries.build_report(contracts)
    day = utcnow().date().isoformat()
    return csv_download(f"duet-report-{name}-{day}.csv", EXPORT_HEADER, export_rows(report))


@bp.route("/contracts/<int:contract_id>/report.csv")
@login_required
def contract_csv(contract_id):
    """The contract report as CSV."""
    _, found = _load_contract(contract_id)
    return _export(f"contract-{found.id}", queries.one_contract(found))


@bp.route("/campaigns/<int:campaign_id>/report.csv")
@login_required
def campaign_csv(campaign_id):
    """The campaign report as CSV."""
    found = _load_campaign(campaign_id)
    return _export(f"campaign-{found.id}", queries.campaign_contracts(found))


@bp.route("/reports/creators/<int:creator_id>.csv")
@login_required
def creator_csv(creator_id):
    """The creator report as CSV."""
    found = _load_creator(creator_id)
    return _export(f"creator-{found.id}", queries.creator_contracts(found, current_user))


# The creator's results page ---------------------------------------------------------------------


def _results_page(seat, deliverable, form=None, problem=None, status=None):
    """A deliverable's readings, newest first, and the creator's form when it is live."""
    form = form or ResultsForm(formdata=None, measured_on=utcnow().date())
    return render_page(
        "reports/results.html",
        status=status or (422 if form.errors else 200),
        seat=seat,
        workroom=seat.workroom,
        deliverable=deliverable,
        readings=queries.readings_of(deliverable),
        form=form,
        problem=problem,
        metrics=[(name, METRIC_LABELS[name]) for name in METRICS],
    )


@bp.route(
    "/workrooms/<int:workroom_id>/deliverables/<int:deliverable_id>/results",
    methods=["GET", "POST"],
)
@login_required
def results(workroom_id, deliverable_id):
    """Both sides read a deliverable's results; its creator records them once it is live."""
    if request.method == "GET":
        seat, deliverable = _load_deliverable(workroom_id, deliverable_id)
        return _results_page(seat, deliverable)
    seat, deliverable = _load_deliverable(workroom_id, deliverable_id, write=True)
    if not seat.is_creator:
        abort(403)
    form = ResultsForm()
    if not form.validate_on_submit():
        return _results_page(seat, deliverable, form)
    try:
        services.record_results(
            deliverable, current_user, seat, form.measured_on.data, form.figures()
        )
    except DomainError as error:
        db.session.rollback()
        return _results_page(seat, deliverable, form, str(error), error.status_code)
    db.session.commit()
    flash(f"Results as of {form.measured_on.data.isoformat()} recorded.", "success")
    target = url_for("reports.results", workroom_id=workroom_id, deliverable_id=deliverable.id)
    return redirect(target, 303)


# CSV import ---------------------------------------------------------------------------------------


def _import(scope, scope_name, back, template_url, contracts):
    """The import page; on a good file every row is saved, on a bad one the rows' problems."""
    form = ImportForm()
    context = {
        "scope": scope,
        "scope_name": scope_name,
        "back": back,
        "template_url": template_url,
        "live": queries.live_deliverables(contracts),
        "metrics": [(name, METRIC_LABELS[name]) for name in METRICS],
    }
    if request.method == "GET" or not form.validate_on_submit():
        return render_page("reports/import.html", form=form, problems=[], **context)
    try:
        summary = services.import_results(scope, current_user, form.data_bytes)
    except services.ImportRefused as refused:
        db.session.rollback()
        form.file.errors = [str(refused)]
        return render_page(
            "reports/import.html", form=form, problems=refused.problems, status=422, **context
        )
    except DomainError as error:
        db.session.rollback()
        form.file.errors = [str(error)]
        return render_page(
            "reports/import.html", form=form, problems=[], status=error.status_code, **context
        )
    db.session.commit()
    flash(
        f"Imported {summary.rows} row(s): {summary.created} new, {summary.corrected} corrected,"
        f" {summary.unchanged} unchanged.",
        "success",
    )
    return redirect(back, 303)


@bp.route("/contracts/<int:contract_id>/results/import", methods=["GET", "POST"])
@login_required
def import_contract(contract_id):
    """The brand imports a contract's results from CSV."""
    _, found = _load_contract(contract_id, write=True)
    return _import(
        found,
        "contract",
        url_for("reports.contract", contract_id=found.id),
        url_for("reports.template_contract", contract_id=found.id),
        queries.one_contract(found),
    )


@bp.route("/campaigns/<int:campaign_id>/results/import", methods=["GET", "POST"])
@login_required
def import_campaign(campaign_id):
    """The brand imports a campaign's results from CSV."""
    found = _load_campaign(campaign_id, write=True)
    return _import(
        found,
        "campaign",
        url_for("reports.campaign", campaign_id=found.id),
        url_for("reports.template_campaign", campaign_id=found.id),
        queries.campaign_contracts(found),
    )


TEMPLATE_HEADER = ["deliverable_id", "measured_on", *METRICS, "deliverable", "contract", "platform"]


def _template(name, contracts):
    """A CSV to fill in: one row per live deliverable, dates and figures blank."""
    titles = {c.id: (c.accepted_version or c.latest_version).title for c in contracts}
    rows = [
        [d.id, "", *[""] * len(METRICS), d.title, titles[d.contract_id], d.platform.label]
        for d in queries.live_deliverables(contracts)
    ]
    return csv_download(f"duet-results-{name}-template.csv", TEMPLATE_HEADER, rows)


@bp.route("/contracts/<int:contract_id>/results/template.csv")
@login_required
def template_contract(contract_id):
    """The import template of a contract."""
    _, found = _load_contract(contract_id, write=True)
    return _template(f"contract-{found.id}", queries.one_contract(found))


@bp.route("/campaigns/<int:campaign_id>/results/template.csv")
@login_required
def template_campaign(campaign_id):
    """The import template of a campaign."""
    found = _load_campaign(campaign_id, write=True)
    return _template(f"campaign-{found.id}", queries.campaign_contracts(found))
