"""The terms of a contract version as a value, its canonical form and its SHA-256."""

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from datetime import date

from portal.accounts.models import Platform
from portal.contracts.models import DeliverableKind
from portal.money import format_amount


@dataclass(frozen=True)
class LineTerms:
    """One deliverable line: title, kind, platform, due date, price in minor units."""

    title: str
    kind: DeliverableKind
    platform: Platform
    due_on: date
    price_minor: int
    requirements: tuple[str, ...] = ()  #: checklist items the brief demands ("#ad disclosure")


@dataclass(frozen=True)
class Terms:
    """Everything a side accepts: text, dates, lines and settings."""

    title: str
    terms_md: str
    starts_on: date
    ends_on: date
    currency: str
    lines: tuple[LineTerms, ...]
    renewal_date: date | None = None
    renewal_notice_days: int = 30
    auto_renew: bool = False
    termination_notice_days: int = 14
    kill_fee_percent: int = 0
    auto_approve_days: int = 5
    revision_budget: int = 2
    grace_hours: int = 24  #: how long past due before a deliverable counts as missed

    @property
    def total_minor(self):
        """The sum of the lines' prices."""
        return sum(line.price_minor for line in self.lines)

    def cleaned(self):
        """The same terms with whitespace and line endings normalised (what is stored)."""
        text = "\n".join(row.rstrip() for row in self.terms_md.replace("\r\n", "\n").split("\n"))
        lines = tuple(
            dataclasses.replace(
                line,
                title=line.title.strip(),
                requirements=tuple(r.strip() for r in line.requirements if r.strip()),
            )
            for line in self.lines
        )
        return dataclasses.replace(
            self,
            title=self.title.strip(),
            terms_md=text.strip(),
            currency=self.currency.upper(),
            lines=lines,
        )

    @classmethod
    def of_version(cls, version):
        """The terms a stored version holds."""
        return cls(
            title=version.title,
            terms_md=version.terms_md,
            starts_on=version.starts_on,
            ends_on=version.ends_on,
            currency=version.currency,
            lines=tuple(
                LineTerms(
                    line.title,
                    line.kind,
                    line.platform,
                    line.due_on,
                    line.price_minor,
                    tuple(line.requirement_list),
                )
                for line in version.lines
            ),
            renewal_date=version.renewal_date,
            renewal_notice_days=version.renewal_notice_days,
            auto_renew=version.auto_renew,
            termination_notice_days=version.termination_notice_days,
            kill_fee_percent=version.kill_fee_percent,
            auto_approve_days=version.auto_approve_days,
            revision_budget=version.revision_budget,
            grace_hours=version.grace_hours,
        )


def canonical_terms(terms):
    """The canonical serialisation of all terms: sorted-key JSON, ISO dates, enum values.

    Same terms, same bytes, same hash; any change to text, dates, lines or settings
    changes it. The format is named inside, so it can evolve explicitly: v2 added the
    lines' requirements and the grace period (versions stored under v1 keep their hash).
    """
    document = {
        "format": "duet.contract-terms.v2",
        "title": terms.title,
        "terms_md": terms.terms_md,
        "starts_on": terms.starts_on.isoformat(),
        "ends_on": terms.ends_on.isoformat(),
        "currency": terms.currency,
        "total_minor": terms.total_minor,
        "lines": [
            {
                "position": position,
                "title": line.title,
                "kind": line.kind.value,
                "platform": line.platform.value,
                "due_on": line.due_on.isoformat(),
                "price_minor": line.price_minor,
                "requirements": list(line.requirements),
            }
            for position, line in enumerate(terms.lines, start=1)
        ],
        "renewal": {
            "date": terms.renewal_date.isoformat() if terms.renewal_date else None,
            "notice_days": terms.renewal_notice_days,
            "auto_renew": terms.auto_renew,
        },
        "termination": {
            "notice_days": terms.termination_notice_days,
            "kill_fee_percent": terms.kill_fee_percent,
        },
        "auto_approve_days": terms.auto_approve_days,
        "revision_budget": terms.revision_budget,
        "grace_hours": terms.grace_hours,
    }
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def terms_sha256(terms):
    """The SHA-256 (hex) of the canonical serialisation."""
    return hashlib.sha256(canonical_terms(terms).encode("utf-8")).hexdigest()


def _yes_no(value):
    """'yes' or 'no'."""
    return "yes" if value else "no"


def terms_text(terms):
    """The terms as plain text lines, one fact a line: what the diff page compares."""
    renewal = terms.renewal_date.isoformat() if terms.renewal_date else "none"
    rows = [
        f"Title: {terms.title}",
        f"Starts on: {terms.starts_on.isoformat()}",
        f"Ends on: {terms.ends_on.isoformat()}",
        f"Currency: {terms.currency}",
        f"Total: {format_amount(terms.total_minor, terms.currency)}",
        f"Renewal date: {renewal}",
        f"Renewal notice: {terms.renewal_notice_days} days",
        f"Auto-renew: {_yes_no(terms.auto_renew)}",
        f"Termination notice: {terms.termination_notice_days} days",
        f"Kill fee: {terms.kill_fee_percent}%",
        f"Auto-approve window: {terms.auto_approve_days} days",
        f"Revision budget: {terms.revision_budget} rounds",
        f"Grace period: {terms.grace_hours} hours",
    ]
    for position, line in enumerate(terms.lines, start=1):
        rows.append(
            f"Line {position}: {line.title} | {line.kind.value} | {line.platform.label}"
            f" | due {line.due_on.isoformat()} | {format_amount(line.price_minor, terms.currency)}"
        )
        rows.extend(f"Line {position} requires: {item}" for item in line.requirements)
    rows.append("Terms:")
    rows.extend(terms.terms_md.split("\n"))
    return rows
