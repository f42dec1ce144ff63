"""The double-entry ledger: accounts, balanced transactions applied once by key, balances."""

from collections import defaultdict

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from portal.database import transaction_memo, utcnow
from portal.errors import DomainError
from portal.escrow.models import (
    AccountKind,
    LedgerAccount,
    LedgerEntry,
    LedgerTransaction,
    Milestone,
    MilestoneStatus,
    Payout,
    PayoutState,
)
from portal.extensions import db


class UnbalancedTransaction(DomainError):
    """Entries that do not sum to zero per currency: a bug, never stored."""

    status_code = 500


class IdempotencyConflict(DomainError):
    """The same idempotency key arrived with different entries (Stripe semantics: an error)."""

    status_code = 409


def account_key(kind, currency, *, brand_id=None, contract_id=None, user_id=None):
    """The unique readable key of an account."""
    owner = (
        f"brand:{brand_id}"
        if brand_id
        else f"contract:{contract_id}"
        if contract_id
        else f"user:{user_id}"
        if user_id
        else "platform"
    )
    return f"{kind.value}:{owner}:{currency}"


def account(kind, currency, *, brand_id=None, contract_id=None, user_id=None):
    """The account, created on first use (a concurrent creator's row wins, harmlessly)."""
    key = account_key(kind, currency, brand_id=brand_id, contract_id=contract_id, user_id=user_id)
    known = transaction_memo(db.session, "ledger_accounts")
    if key not in known:
        known[key] = _account(key, kind, currency, brand_id, contract_id, user_id)
    return known[key]


def _account(key, kind, currency, brand_id, contract_id, user_id):
    """Read or create one account."""
    found = db.session.scalar(select(LedgerAccount).where(LedgerAccount.key == key))
    if found is not None:
        return found
    row = LedgerAccount(
        key=key,
        kind=kind,
        currency=currency,
        brand_id=brand_id,
        contract_id=contract_id,
        user_id=user_id,
    )
    try:
        with db.session.begin_nested():
            db.session.add(row)
    except IntegrityError:
        return db.session.scalar(select(LedgerAccount).where(LedgerAccount.key == key))
    return row


def _signature(legs):
    """A comparable form of a transaction's legs: sorted (account id, amount, currency)."""
    return sorted((acc.id, amount, acc.currency) for acc, amount in legs if amount)


def post(key, kind, legs, *, milestone=None, contract_id=None, reason="", actor=None, now=None):
    """Apply a balanced transaction once: `legs` are (account, signed amount) pairs.

    Returns (transaction, created). A second call with the same key and the same legs
    returns the first transaction; with different legs it raises IdempotencyConflict.
    """
    legs = [(acc, amount) for acc, amount in legs if amount]
    totals = defaultdict(int)
    for acc, amount in legs:
        totals[acc.currency] += amount
    if not legs or any(totals.values()):
        raise UnbalancedTransaction(f"{kind} {key}: entries must sum to zero per currency")
    transaction = LedgerTransaction(
        idempotency_key=key,
        kind=kind,
        milestone_id=milestone.id if milestone is not None else None,
        contract_id=contract_id,
        reason=reason[:500],
        actor_id=actor.id if actor is not None else None,
        created_at=now or utcnow(),
    )
    if transaction_memo(db.session, "ledger_unused_keys").pop(key, False):
        transaction.entries = [
            LedgerEntry(account_id=acc.id, amount_minor=amount, currency=acc.currency)
            for acc, amount in legs
        ]
        db.session.add(transaction)  # written with the rest of the batch
        return transaction, True
    existing = db.session.scalar(
        select(LedgerTransaction).where(LedgerTransaction.idempotency_key == key)
    )
    if existing is not None:
        return _replayed(existing, legs), False
    try:
        with db.session.begin_nested():
            db.session.add(transaction)
            db.session.flush()
            db.session.add_all(
                LedgerEntry(
                    transaction_id=transaction.id,
                    account_id=acc.id,
                    amount_minor=amount,
                    currency=acc.currency,
                )
                for acc, amount in legs
            )
            db.session.flush()
    except IntegrityError:
        # Another transaction took the key between our read and our write: theirs stands.
        existing = db.session.scalar(
            select(LedgerTransaction).where(LedgerTransaction.idempotency_key == key)
        )
        if existing is None:
            raise
        return _replayed(existing, legs), False
    return transaction, True


def reserve_keys(keys):
    """Note which of these idempotency keys no transaction has used yet, in one query, so
    that post() can write them without a query and a savepoint each. Only for keys that are
    posted under a row lock this transaction holds (a milestone's, under its workroom's)."""
    keys = set(keys)
    used = set(
        db.session.scalars(
            select(LedgerTransaction.idempotency_key).where(
                LedgerTransaction.idempotency_key.in_(keys)
            )
        )
    )
    transaction_memo(db.session, "ledger_unused_keys").update((key, True) for key in keys - used)


def _replayed(existing, legs):
    """The stored transaction, if it has the same legs; a conflict otherwise."""
    stored = sorted((e.account_id, e.amount_minor, e.currency) for e in existing.entries)
    if stored != _signature(legs):
        raise IdempotencyConflict(
            f"{existing.idempotency_key} was already used for a different transaction."
        )
    return existing


def balance(acc):
    """An account's balance: the sum of its entries."""
    return db.session.scalar(
        select(func.coalesce(func.sum(LedgerEntry.amount_minor), 0)).where(
            LedgerEntry.account_id == acc.id
        )
    )


def balances(kind=None):
    """{account key: balance} for every account (of a kind)."""
    query = (
        select(LedgerAccount.key, func.coalesce(func.sum(LedgerEntry.amount_minor), 0))
        .outerjoin(LedgerEntry, LedgerEntry.account_id == LedgerAccount.id)
        .group_by(LedgerAccount.key)
    )
    if kind is not None:
        query = query.where(LedgerAccount.kind == kind)
    return dict(db.session.execute(query).all())


def unbalanced_transactions():
    """Ids of transactions whose entries do not sum to zero per currency (should be none)."""
    return db.session.scalars(
        select(LedgerEntry.transaction_id)
        .group_by(LedgerEntry.transaction_id, LedgerEntry.currency)
        .having(func.sum(LedgerEntry.amount_minor) != 0)
    ).all()


def split_fee(amount_minor, fee_bps):
    """(creator part, fee part) of an amount: integers that sum exactly to it (M-13)."""
    fee = amount_minor * fee_bps // 10_000
    return amount_minor - fee, fee


#: transaction kinds that take money out of escrow, by the cached milestone figure they feed
_RELEASES = ("release", "partial_release")
_REFUNDS = ("refund",)


#: milestone states whose whole amount has left escrow (or never entered it)
def check_books():
    """Reconcile the cached money figures with the ledger (TEST-PLAN M-12).

    Returns a list of problems in words (empty when the books agree). It only reads: a
    mismatch is for people to investigate, never "fixed" here.
    """
    problems = [f"transaction {t} does not sum to zero" for t in unbalanced_transactions()]
    total = db.session.scalar(select(func.coalesce(func.sum(LedgerEntry.amount_minor), 0)))
    if total:
        problems.append(f"the ledger's entries sum to {total}, not 0")
    problems += _check_milestones()
    problems += _check_payables()
    return problems


def _escrow_moves():
    """{(milestone id, kind): signed sum of its entries on escrow accounts}."""
    rows = db.session.execute(
        select(
            LedgerTransaction.milestone_id,
            LedgerTransaction.kind,
            func.sum(LedgerEntry.amount_minor),
        )
        .join(LedgerEntry, LedgerEntry.transaction_id == LedgerTransaction.id)
        .join(LedgerAccount, LedgerAccount.id == LedgerEntry.account_id)
        .where(
            LedgerAccount.kind == AccountKind.escrow, LedgerTransaction.milestone_id.is_not(None)
        )
        .group_by(LedgerTransaction.milestone_id, LedgerTransaction.kind)
    ).all()
    return {(milestone_id, kind): amount for milestone_id, kind, amount in rows}


def _check_milestones():
    """Each milestone's funded, released and refunded figures against its escrow entries, and
    each contract's escrow balance against what its milestones say is in escrow."""
    moves = _escrow_moves()
    problems, expected = [], defaultdict(int)
    milestones = db.session.scalars(select(Milestone).order_by(Milestone.id)).all()
    for m in milestones:
        funded = moves.get((m.id, "escrow"), 0)
        released = -sum(moves.get((m.id, kind), 0) for kind in _RELEASES)
        refunded = -sum(moves.get((m.id, kind), 0) for kind in _REFUNDS)
        should_fund = 0 if m.status is MilestoneStatus.pending else m.amount_minor
        for name, cached, booked in (
            ("funded", should_fund, funded),
            ("released_minor", m.released_minor, released),
            ("refunded_minor", m.refunded_minor, refunded),
        ):
            if cached != booked:
                problems.append(f"milestone {m.id}: {name} is {cached}, the ledger says {booked}")
        expected[(m.contract_id, m.currency)] += m.in_escrow_minor
    booked = _balances_by_owner(AccountKind.escrow, LedgerAccount.contract_id)
    for contract_id, currency in sorted(set(expected) | set(booked)):
        figure = expected.get((contract_id, currency), 0)
        balance_ = booked.get((contract_id, currency), 0)
        if figure != balance_:
            problems.append(
                f"contract {contract_id}: its milestones hold {figure} {currency} in escrow,"
                f" the escrow account {balance_}"
            )
    return problems


def _balances_by_owner(kind, owner_column):
    """{(owner id, currency): balance} of every account of a kind."""
    rows = db.session.execute(
        select(
            owner_column,
            LedgerAccount.currency,
            func.coalesce(func.sum(LedgerEntry.amount_minor), 0),
        )
        .outerjoin(LedgerEntry, LedgerEntry.account_id == LedgerAccount.id)
        .where(LedgerAccount.kind == kind)
        .group_by(owner_column, LedgerAccount.currency)
    ).all()
    return {(owner, currency): amount for owner, currency, amount in rows}


def _check_payables():
    """Each creator's payable balance against their payouts not yet paid, and every paid
    payout against its ledger transaction."""
    problems = []
    unpaid = defaultdict(int)
    payouts = db.session.execute(
        select(Payout.id, Payout.creator_id, Payout.currency, Payout.amount_minor, Payout.state)
    ).all()
    booked_payouts = set(
        db.session.scalars(
            select(LedgerTransaction.idempotency_key).where(LedgerTransaction.kind == "payout")
        ).all()
    )
    for p in payouts:
        key = f"payout:{p.id}"
        if p.state is PayoutState.paid:
            if key not in booked_payouts:
                problems.append(f"payout {p.id} is paid but the ledger has no {key}")
        else:
            unpaid[(p.creator_id, p.currency)] += p.amount_minor
            if key in booked_payouts:
                problems.append(f"payout {p.id} is {p.state.value} but the ledger paid it")
    payables = _balances_by_owner(AccountKind.creator_payable, LedgerAccount.user_id)
    for user_id, currency in sorted(set(unpaid) | set(payables)):
        owed, balance_ = unpaid.get((user_id, currency), 0), payables.get((user_id, currency), 0)
        if owed != balance_:
            problems.append(
                f"creator {user_id}: unpaid payouts come to {owed} {currency},"
                f" the payable account {balance_}"
            )
    return problems
