"""Contract pages: propose, revise, accept or ask for changes, amend, compare versions,
and the renewal pack with its decision and opt-out."""

from flask import Blueprint, abort, flash, redirect, request, url_for
from flask_login import current_user, login_required

from portal.campaigns.models import Campaign
from portal.closeouts import queries as closeout_queries
from portal.contracts import queries, renewals, services
from portal.contracts.forms import (
    AcceptForm,
    ContractForm,
    DeclineForm,
    OptOutForm,
    RenewalDecisionForm,
    form_data,
)
from portal.contracts.models import Contract, ContractStatus, RenewalChoice
from portal.contracts.terms import Terms
from portal.errors import DomainError, InvalidState
from portal.extensions import db
from portal.rendering import render_page
from portal.workrooms.access import load_workroom

bp = Blueprint("contracts", __name__)


def _load(contract_id, *, write=False, page=False):
    """The contract and the user's seat, through the workroom's membership check.

    Outsiders get 404 (from load_workroom); drafts are the brand's own until proposed.
    """
    contract = queries.contract_page(contract_id) if page else db.session.get(Contract, contract_id)
    if contract is None:
        abort(404)
    seat = load_workroom(current_user, contract.workroom_id, write=write)
    if contract.status is ContractStatus.draft and not seat.is_brand:
        abort(404)
    return seat, contract


def _show(seat, contract, *, accept_form=None, decline_form=None, problem=None, status=None):
    """The contract page (or its actions block for htmx)."""
    waiting = services.awaiting(contract, seat.side) if seat.can_write and seat.side else None
    sha = waiting.sha256 if waiting else ""
    return render_page(
        "contracts/show.html",
        "contract_actions",
        status=status or (422 if decline_form is not None and decline_form.errors else None),
        seat=seat,
        workroom=seat.workroom,
        contract=contract,
        shown=contract.accepted_version or contract.latest_version,
        waiting=waiting,
        responses=queries.responses_by_version(contract),
        accept_form=accept_form or AcceptForm(formdata=None, sha256=sha),
        decline_form=decline_form or DeclineForm(formdata=None, sha256=sha),
        problem=problem,
        closeout_panel=closeout_queries.panel(contract),
    )


@bp.route("/workrooms/<int:workroom_id>/contracts/new", methods=["GET", "POST"])
@login_required
def new(workroom_id):
    """The brand writes a contract: save a draft or propose it at once."""
    seat = load_workroom(current_user, workroom_id, write=True)
    if not seat.is_brand:
        abort(403)
    form = ContractForm(campaigns=queries.campaigns_for(seat.workroom))
    if form.validate_on_submit():
        try:
            contract = services.create_contract(
                seat,
                current_user,
                db.session.get(Campaign, form.campaign.data),
                form.to_terms(),
                propose=form.wants_proposal(),
                comment=form.comment.data,
            )
        except DomainError as error:
            form.form_errors.append(str(error))
        else:
            db.session.commit()
            flash("Contract proposed." if form.wants_proposal() else "Draft saved.", "success")
            return redirect(url_for("contracts.show", contract_id=contract.id), 303)
    return render_page(
        "contracts/form.html",
        form=form,
        status=_form_status(),
        seat=seat,
        workroom=seat.workroom,
        contract=None,
    )


@bp.route("/contracts/<int:contract_id>")
@login_required
def show(contract_id):
    """The contract: terms in force, acceptances, whose turn it is, every version."""
    seat, contract = _load(contract_id, page=True)
    return _show(seat, contract)


@bp.route("/contracts/<int:contract_id>/edit", methods=["GET", "POST"])
@login_required
def edit(contract_id):
    """Write the next version: edit or propose a draft, revise a proposal, or amend."""
    seat, contract = _load(contract_id, write=True)
    if contract.status is ContractStatus.proposed and not seat.is_brand:
        raise InvalidState("Only the brand revises a proposal; ask for changes instead.")
    if contract.status not in (
        ContractStatus.draft,
        ContractStatus.proposed,
        ContractStatus.active,
    ):
        raise InvalidState(f"A {contract.status.value} contract can't change.")
    start = contract.accepted_version or contract.latest_version
    form = ContractForm(data=form_data(Terms.of_version(start)))
    if form.validate_on_submit():
        try:
            services.change_terms(
                contract,
                current_user,
                seat,
                form.to_terms(),
                propose=form.wants_proposal(),
                comment=form.comment.data,
            )
        except DomainError as error:
            form.form_errors.append(str(error))
        else:
            db.session.commit()
            flash("Saved.", "success")
            return redirect(url_for("contracts.show", contract_id=contract.id), 303)
    return render_page(
        "contracts/form.html",
        form=form,
        status=_form_status(),
        seat=seat,
        workroom=seat.workroom,
        contract=contract,
    )


def _form_status():
    """A form shown again after a post was refused: 422 (success redirects)."""
    return 422 if request.method == "POST" else 200


@bp.route("/contracts/<int:contract_id>/accept", methods=["POST"])
@login_required
def accept(contract_id):
    """Accept the terms waiting on one's side, exactly as shown (by their SHA-256)."""
    seat, contract = _load(contract_id, write=True)
    form = AcceptForm()
    if not form.validate_on_submit():
        return _problem(seat, contract, "Reload the page and try again.", 422)
    try:
        version = services.accept_version(contract, current_user, seat, form.sha256.data)
    except DomainError as error:
        db.session.rollback()
        return _problem(seat, contract, str(error), error.status_code)
    db.session.commit()
    flash(f"You accepted version {version.number}.", "success")
    return redirect(url_for("contracts.show", contract_id=contract.id), 303)


@bp.route("/contracts/<int:contract_id>/decline", methods=["POST"])
@login_required
def decline(contract_id):
    """Ask for changes to a proposal, or reject an amendment, with a comment."""
    seat, contract = _load(contract_id, write=True)
    form = DeclineForm()
    if form.validate_on_submit():
        try:
            version = services.decline_version(
                contract, current_user, seat, form.sha256.data, form.comment.data
            )
        except DomainError as error:
            db.session.rollback()
            return _problem(seat, contract, str(error), error.status_code, decline_form=form)
        db.session.commit()
        flash(f"Your answer to version {version.number} is sent.", "success")
        return redirect(url_for("contracts.show", contract_id=contract.id), 303)
    seat, contract = _load(contract_id, page=True)
    return _show(seat, contract, decline_form=form)


def _problem(seat, contract, message, status, **forms):
    """The contract page, fresh from the database, with the refusal on top."""
    seat, contract = _load(contract.id, page=True)
    return _show(seat, contract, problem=message, status=status, **forms)


@bp.route("/contracts/<int:contract_id>/versions/<int:number>")
@login_required
def version(contract_id, number):
    """One version as it was written, with its acceptances and answers."""
    seat, contract = _load(contract_id, page=True)
    shown = queries.version_of(contract, number)
    if shown is None:
        abort(404)
    return render_page(
        "contracts/version.html",
        seat=seat,
        contract=contract,
        shown=shown,
        responses=queries.responses_by_version(contract),
    )


@bp.route("/contracts/<int:contract_id>/compare")
@login_required
def compare(contract_id):
    """The differences between any two versions (by default the last two)."""
    seat, contract = _load(contract_id, page=True)
    numbers = [v.number for v in contract.versions]
    old_n = request.args.get("old", type=int) or (numbers[-2] if len(numbers) > 1 else numbers[0])
    new_n = request.args.get("new", type=int) or numbers[-1]
    old, new = queries.version_of(contract, old_n), queries.version_of(contract, new_n)
    if old is None or new is None:
        abort(404)
    return render_page(
        "contracts/compare.html",
        "diff",
        seat=seat,
        contract=contract,
        old=old,
        new=new,
        rows=queries.diff_versions(old, new),
        unified=queries.unified_diff(old, new),
    )


# Renewals ---------------------------------------------------------------------------------


def _renewal_page(seat, contract, *, form=None, problem=None, status=None):
    """The renewal pack (or its actions block for htmx)."""
    return render_page(
        "contracts/renewal.html",
        "renewal_actions",
        form=form or RenewalDecisionForm(formdata=None),
        status=status,
        seat=seat,
        workroom=seat.workroom,
        contract=contract,
        shown=contract.accepted_version or contract.latest_version,
        pack=queries.renewal_pack(contract),
        opt_out_form=OptOutForm(formdata=None),
        problem=problem,
    )


@bp.route("/contracts/<int:contract_id>/renewal")
@login_required
def renewal(contract_id):
    """The renewal pack: how the term went, its dates, auto-renewal and the decisions."""
    seat, contract = _load(contract_id, page=True)
    return _renewal_page(seat, contract)


@bp.route("/contracts/<int:contract_id>/renewal/decide", methods=["POST"])
@login_required
def decide_renewal(contract_id):
    """The brand decides: renew as is, renegotiate, or let the contract lapse."""
    seat, contract = _load(contract_id, write=True)
    if not seat.is_brand:
        abort(403)
    form = RenewalDecisionForm()
    if form.validate_on_submit():
        try:
            decision = renewals.decide_renewal(
                contract, current_user, seat, form.decision.data, form.comment.data
            )
        except DomainError as error:
            db.session.rollback()
            seat, contract = _load(contract_id, page=True)
            return _renewal_page(
                seat, contract, form=form, problem=str(error), status=error.status_code
            )
        db.session.commit()
        flash("Decision recorded; the creator is told.", "success")
        if decision.decision is RenewalChoice.renegotiate:
            target = url_for("contracts.edit", contract_id=decision.next_contract_id)
        else:
            target = url_for("contracts.renewal", contract_id=contract_id)
        return redirect(target, 303)
    seat, contract = _load(contract_id, page=True)
    return _renewal_page(seat, contract, form=form)


@bp.route("/contracts/<int:contract_id>/renewal/opt-out", methods=["POST"])
@login_required
def opt_out(contract_id):
    """A side opts out of the automatic renewal, before the notice deadline."""
    seat, contract = _load(contract_id, write=True)
    if not OptOutForm().validate_on_submit():
        return _renewal_page(seat, contract, problem="Reload the page and try again.", status=422)
    try:
        renewals.opt_out_of_auto_renewal(contract, current_user, seat)
    except DomainError as error:
        db.session.rollback()
        seat, contract = _load(contract_id, page=True)
        return _renewal_page(seat, contract, problem=str(error), status=error.status_code)
    db.session.commit()
    flash("You opted out: the contract will not renew automatically.", "success")
    return redirect(url_for("contracts.renewal", contract_id=contract_id), 303)
