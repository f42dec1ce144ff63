"""Money pages: a workroom's milestones, one milestone and why it is not released yet,
adding and funding milestones, statements with CSV, and the admins' ledger and payouts."""

from flask import Blueprint, abort, flash, redirect, request, url_for
from flask_login import current_user, login_required

from portal.accounts.auth import roles_required
from portal.accounts.models import AccountKind, Brand
from portal.accounts.services import membership_of
from portal.database import utcnow
from portal.errors import DomainError
from portal.escrow import queries, services
from portal.escrow.forms import ConfirmForm, MilestoneForm
from portal.escrow.models import PayoutState
from portal.escrow.providers import get_provider
from portal.extensions import db
from portal.money import amount_input, format_amount
from portal.rendering import csv_download, render_page
from portal.workrooms.access import load_workroom
from portal.workrooms.models import Side

bp = Blueprint("escrow", __name__)

#: a spreadsheet would run a cell starting with one of these as a formula


def _load(workroom_id, milestone_id=None, contract_id=None, *, write=False, side=None):
    """The seat and the milestone or contract of its workroom; 404 for outsiders and other
    workrooms, 403 for read-only seats writing and for the wrong side."""
    seat = load_workroom(current_user, workroom_id, write=write)
    if milestone_id is not None:
        found = queries.find(seat.workroom, milestone_id)
    else:
        found = queries.find_contract(seat.workroom, contract_id)
    if found is None:
        abort(404)
    if side is not None and seat.side is not side:
        abort(403)
    return seat, found


@bp.route("/workrooms/<int:workroom_id>/money")
@login_required
def index(workroom_id):
    """The workroom's milestones (the workroom page loads this list into its section)."""
    seat = load_workroom(current_user, workroom_id)
    return render_page(
        "escrow/index.html",
        "milestone_list",
        seat=seat,
        workroom=seat.workroom,
        milestones=queries.of_workroom(seat.workroom),
        contracts=queries.active_contracts(seat.workroom),
    )


def _page(seat, milestone_id, *, problem=None, status=200):
    """The milestone page, read fresh."""
    milestone = queries.page(seat.workroom, milestone_id)
    return render_page(
        "escrow/show.html",
        status=status,
        seat=seat,
        workroom=seat.workroom,
        milestone=milestone,
        blockers=services.blockers(milestone),
        payouts=queries.payouts_of(milestone),
        transactions=queries.transactions_of(milestone),
        confirm_form=ConfirmForm(formdata=None),
        problem=problem,
    )


@bp.route("/workrooms/<int:workroom_id>/milestones/<int:milestone_id>")
@login_required
def show(workroom_id, milestone_id):
    """One milestone: status, dependencies, why it is not released yet, payouts, ledger."""
    seat, milestone = _load(workroom_id, milestone_id)
    return _page(seat, milestone.id)


def _done(seat, milestone_id, message):
    """Commit, say what happened and show the milestone (303)."""
    db.session.commit()
    flash(message, "success")
    return redirect(
        url_for("escrow.show", workroom_id=seat.workroom.id, milestone_id=milestone_id), 303
    )


def _refused(seat, milestone, error):
    """A service refused: nothing is kept, the page says why."""
    db.session.rollback()
    return _page(seat, milestone.id, problem=str(error), status=error.status_code)


def _currency(contract):
    """The currency of a contract's terms in force."""
    return contract.accepted_version.currency if contract.accepted_version else "USD"


@bp.route(
    "/workrooms/<int:workroom_id>/contracts/<int:contract_id>/milestones/new",
    methods=["GET", "POST"],
)
@login_required
def new(workroom_id, contract_id):
    """The brand adds a milestone to an active contract."""
    seat, contract = _load(workroom_id, contract_id=contract_id, write=True, side=Side.brand)
    deliverables, milestones = queries.candidates_of(contract)
    form = MilestoneForm(
        currency=_currency(contract), deliverables=deliverables, milestones=milestones
    )
    problem, status = None, None
    if form.validate_on_submit():
        chosen = set(form.deliverables.data or [])
        prior = set(form.prior_milestones.data or [])
        try:
            milestone = services.add_milestone(
                contract,
                current_user,
                seat,
                form.title.data,
                form.amount_minor,
                deliverables=[d for d in deliverables if d.id in chosen],
                prior_milestones=[m for m in milestones if m.id in prior],
                live_days=form.live_days.data,
                requires_signoff=form.requires_signoff.data,
            )
        except DomainError as error:
            db.session.rollback()
            problem, status = str(error), error.status_code
        else:
            return _done(seat, milestone.id, f"Milestone “{milestone.title}” added.")
    return render_page(
        "escrow/new.html",
        form=form,
        status=status,
        seat=seat,
        workroom=seat.workroom,
        contract=contract,
        problem=problem,
    )


@bp.route("/workrooms/<int:workroom_id>/milestones/<int:milestone_id>/fund", methods=["POST"])
@login_required
def fund(workroom_id, milestone_id):
    """The brand pays one milestone into escrow."""
    seat, milestone = _load(workroom_id, milestone_id, write=True, side=Side.brand)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    try:
        services.fund_milestone(milestone, current_user, seat, get_provider())
    except DomainError as error:
        return _refused(seat, milestone, error)
    amount = format_amount(milestone.amount_minor, milestone.currency)
    return _done(seat, milestone.id, f"Funded: {amount} is in escrow.")


@bp.route("/workrooms/<int:workroom_id>/contracts/<int:contract_id>/fund", methods=["GET", "POST"])
@login_required
def fund_contract(workroom_id, contract_id):
    """The brand confirms, then pays every pending milestone of a contract into escrow."""
    seat, contract = _load(workroom_id, contract_id=contract_id, write=True, side=Side.brand)
    form = ConfirmForm()
    problem, status = None, None
    if form.validate_on_submit():
        try:
            funded = services.fund_contract(contract, current_user, seat, get_provider())
        except DomainError as error:
            db.session.rollback()
            problem, status = str(error), error.status_code
        else:
            db.session.commit()
            flash(f"{len(funded)} milestone{'' if len(funded) == 1 else 's'} funded.", "success")
            return redirect(url_for("escrow.index", workroom_id=seat.workroom.id), 303)
    elif request.method == "POST":
        abort(400)
    pending = queries.pending_of(contract)
    return render_page(
        "escrow/fund_contract.html",
        status=status,
        seat=seat,
        workroom=seat.workroom,
        contract=contract,
        pending=pending,
        total=sum(m.amount_minor for m in pending),
        currency=_currency(contract),
        confirm_form=form,
        problem=problem,
    )


@bp.route("/workrooms/<int:workroom_id>/milestones/<int:milestone_id>/sign-off", methods=["POST"])
@login_required
def sign_off(workroom_id, milestone_id):
    """The brand signs a milestone off."""
    seat, milestone = _load(workroom_id, milestone_id, write=True, side=Side.brand)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    try:
        services.sign_off(milestone, current_user, seat)
    except DomainError as error:
        return _refused(seat, milestone, error)
    return _done(seat, milestone.id, "Signed off.")


# Statements ---------------------------------------------------------------------------------


def _member_brand(brand_id):
    """A brand the current user is a member of; 404 otherwise."""
    brand = db.session.get(Brand, brand_id)
    if brand is None or membership_of(current_user, brand) is None:
        abort(404)
    return brand


def _day(moment):
    """A date for a CSV cell."""
    return moment.date().isoformat() if moment else ""


@bp.route("/brands/<int:brand_id>/statement")
@login_required
def brand_statement(brand_id):
    """The brand's money per campaign and per contract."""
    brand = _member_brand(brand_id)
    return render_page(
        "escrow/brand_statement.html", brand=brand, statement=queries.brand_statement(brand.id)
    )


@bp.route("/brands/<int:brand_id>/statement.csv")
@login_required
def brand_statement_csv(brand_id):
    """The brand statement as CSV: one row per contract and per campaign."""
    brand = _member_brand(brand_id)
    statement = queries.brand_statement(brand.id)

    def money(f):
        return [
            amount_input(getattr(f, name), f.currency)
            for name in ("committed", "funded", "released", "refunded", "fees")
        ]

    rows = [
        [
            "contract",
            r.campaign,
            r.title,
            r.creator,
            r.figures.currency,
            *money(r.figures),
            _day(r.figures.first_funded),
            _day(r.figures.last_paid),
        ]
        for r in statement.contracts
    ] + [
        [
            "campaign",
            r.campaign,
            "",
            "",
            r.figures.currency,
            *money(r.figures),
            _day(r.figures.first_funded),
            _day(r.figures.last_paid),
        ]
        for r in statement.campaigns
    ]
    header = [
        "level",
        "campaign",
        "contract",
        "creator",
        "currency",
        "committed",
        "funded",
        "released",
        "refunded",
        "fees",
        "first funded",
        "last paid",
    ]
    return csv_download(
        f"duet-brand-{brand.id}-statement-{utcnow().date().isoformat()}.csv", header, rows
    )


@bp.route("/statement")
@roles_required(AccountKind.creator)
def creator_statement():
    """The creator's money: pending, releasable and paid, with dates."""
    return render_page(
        "escrow/creator_statement.html", statement=queries.creator_statement(current_user.id)
    )


@bp.route("/statement.csv")
@roles_required(AccountKind.creator)
def creator_statement_csv():
    """The creator statement as CSV: one row per milestone."""
    statement = queries.creator_statement(current_user.id)
    rows = [
        [
            r.brand,
            r.contract,
            r.milestone.title,
            r.milestone.currency,
            amount_input(r.milestone.amount_minor, r.milestone.currency),
            r.state,
            amount_input(r.waiting, r.milestone.currency),
            amount_input(r.on_the_way, r.milestone.currency),
            amount_input(r.paid, r.milestone.currency),
            _day(r.milestone.funded_at),
            _day(r.paid_at),
        ]
        for r in statement.rows
    ]
    header = [
        "brand",
        "contract",
        "milestone",
        "currency",
        "amount",
        "state",
        "pending",
        "releasable",
        "paid",
        "funded on",
        "paid on",
    ]
    return csv_download(f"duet-earnings-{utcnow().date().isoformat()}.csv", header, rows)


# Administration (read only) -----------------------------------------------------------------


@bp.route("/admin/ledger")
@roles_required(AccountKind.admin)
def ledger():
    """Every ledger transaction with its entries, newest first."""
    page = queries.ledger_page(request.args.get("page", 1, type=int))
    return render_page("admin/ledger.html", page=page)


@bp.route("/admin/payouts")
@roles_required(AccountKind.admin)
def payouts():
    """Payouts not yet paid, failures first: state, attempts, last error, next attempt."""
    state = request.args.get("state", "")
    chosen = PayoutState.__members__.get(state)
    page, counts = queries.payout_queue(request.args.get("page", 1, type=int), state=chosen)
    return render_page("admin/payouts.html", page=page, counts=counts, state=chosen, now=utcnow())
