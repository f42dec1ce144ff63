"""Close-out pages: propose (with the settlement shown line by line first), then accept,
escalate to mediation or withdraw."""

from flask import Blueprint, abort, flash, redirect, url_for
from flask_login import current_user, login_required

from portal.closeouts import queries, services
from portal.closeouts.forms import CloseoutForm, ConfirmForm, EscalateForm
from portal.contracts.models import Contract, ContractStatus
from portal.errors import DomainError, InvalidState
from portal.extensions import db
from portal.rendering import render_page
from portal.workrooms.access import load_workroom

bp = Blueprint("closeouts", __name__)


def _load_contract(contract_id, *, write=False):
    """The contract and the user's seat, through the workroom's membership check."""
    contract = db.session.get(Contract, contract_id)
    if contract is None:
        abort(404)
    seat = load_workroom(current_user, contract.workroom_id, write=write)
    if contract.status is ContractStatus.draft and not seat.is_brand:
        abort(404)
    return seat, contract


def _load(closeout_id, *, write=False):
    """The close-out and the user's seat, through the workroom's membership check."""
    closeout = queries.closeout_page(closeout_id)
    if closeout is None:
        abort(404)
    return load_workroom(current_user, closeout.workroom_id, write=write), closeout


@bp.route("/contracts/<int:contract_id>/closeout", methods=["GET", "POST"])
@login_required
def new(contract_id):
    """The settlement Duet proposes, line by line; sending it proposes the close-out."""
    seat, contract = _load_contract(contract_id, write=True)
    if contract.status not in queries.CLOSABLE:
        raise InvalidState(f"The contract is {contract.status.value.replace('_', ' ')}.")
    waiting = queries.open_closeout(contract)
    if waiting is not None:
        flash("A close-out of this contract already waits for an answer.", "info")
        return redirect(url_for("closeouts.show", closeout_id=waiting.id), 303)
    rows, plan = services.preview(contract)
    form = CloseoutForm()
    form.reassign.choices = (
        [(d.id, d.title) for d, *_ in rows if d.status in queries.UNFINISHED]
        if seat.is_brand
        else []
    )
    problem, status = None, None
    if form.validate_on_submit():
        try:
            closeout = services.propose_closeout(
                contract, current_user, seat, form.reason.data, reassign=form.reassign.data or ()
            )
        except DomainError as error:
            db.session.rollback()
            problem, status = str(error), error.status_code
        else:
            db.session.commit()
            flash("Close-out proposed: it waits on the other side's answer.", "success")
            return redirect(url_for("closeouts.show", closeout_id=closeout.id), 303)
    return render_page(
        "closeouts/new.html",
        form=form,
        status=status,
        seat=seat,
        workroom=seat.workroom,
        contract=contract,
        rows=rows,
        plan=plan,
        problem=problem,
    )


def _show(seat, closeout, *, escalate_form=None, problem=None, status=None):
    """The close-out page (or its actions block for htmx)."""
    return render_page(
        "closeouts/show.html",
        "closeout_actions",
        status=status,
        seat=seat,
        workroom=seat.workroom,
        closeout=closeout,
        contract=closeout.contract,
        waiting_side=queries.waiting_side(closeout),
        escalate_form=escalate_form or EscalateForm(formdata=None),
        problem=problem,
    )


@bp.route("/closeouts/<int:closeout_id>")
@login_required
def show(closeout_id):
    """The close-out: its lines, totals, who accepted, and what each side can do."""
    seat, closeout = _load(closeout_id)
    return _show(seat, closeout)


def _act(closeout_id, form, action, done):
    """Validate a button's form, call one service, commit, redirect (or show the refusal)."""
    seat, closeout = _load(closeout_id, write=True)
    if not form.validate_on_submit():
        return _problem(seat, closeout, "Check the form and try again.", 422, form)
    try:
        action(seat, closeout)
    except DomainError as error:
        db.session.rollback()
        return _problem(seat, closeout, str(error), error.status_code, form)
    db.session.commit()
    flash(done, "success")
    return redirect(url_for("closeouts.show", closeout_id=closeout_id), 303)


def _problem(seat, closeout, message, status, form):
    """The close-out page, fresh from the database, with the refusal on top."""
    seat, closeout = _load(closeout.id)
    escalate_form = form if isinstance(form, EscalateForm) else None
    return _show(seat, closeout, escalate_form=escalate_form, problem=message, status=status)


@bp.route("/closeouts/<int:closeout_id>/accept", methods=["POST"])
@login_required
def accept(closeout_id):
    """Accept the settlement as proposed; with both sides in, it applies at once."""
    return _act(
        closeout_id,
        ConfirmForm(),
        lambda seat, closeout: services.accept_closeout(closeout, current_user, seat),
        "You accepted the close-out.",
    )


@bp.route("/closeouts/<int:closeout_id>/escalate", methods=["POST"])
@login_required
def escalate(closeout_id):
    """Take the proposed close-out to mediation instead."""
    form = EscalateForm()
    return _act(
        closeout_id,
        form,
        lambda seat, closeout: services.escalate_closeout(
            closeout, current_user, seat, form.reason.data
        ),
        "The close-out went to mediation.",
    )


@bp.route("/closeouts/<int:closeout_id>/withdraw", methods=["POST"])
@login_required
def withdraw(closeout_id):
    """The proposing side takes its close-out back."""
    return _act(
        closeout_id,
        ConfirmForm(),
        lambda seat, closeout: services.withdraw_closeout(closeout, current_user, seat),
        "You withdrew the close-out.",
    )
