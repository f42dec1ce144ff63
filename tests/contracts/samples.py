"""Sample contract terms and the contract form's fields as a browser posts them."""

from datetime import date

from portal.accounts.models import Platform
from portal.contracts.models import DeliverableKind
from portal.contracts.terms import LineTerms, Terms
from portal.money import amount_input

VIDEO, STORY = DeliverableKind.video, DeliverableKind.story


def sample_terms(**overrides):
    """Spring Trails: two lines, 1,250.00 USD."""
    values = {
        "title": "Spring Trails",
        "terms_md": "The creator publishes **two** pieces about the trail shoes.",
        "starts_on": date(2030, 3, 1),
        "ends_on": date(2030, 5, 31),
        "currency": "USD",
        "lines": (
            LineTerms(
                "Trail video", DeliverableKind.video, Platform.youtube, date(2030, 3, 20), 100000
            ),
            LineTerms(
                "Trail story", DeliverableKind.story, Platform.instagram, date(2030, 4, 2), 25000
            ),
        ),
    }
    values.update(overrides)
    return Terms(**values)


def form_fields(terms=None, *, campaign_id=None, button="propose", comment=""):
    """The contract form's fields as a browser posts them (5 line rows, blanks included)."""
    terms = terms or sample_terms()
    data = {
        "title": terms.title,
        "terms": terms.terms_md,
        "starts_on": terms.starts_on.isoformat(),
        "ends_on": terms.ends_on.isoformat(),
        "currency": terms.currency,
        "renewal_date": terms.renewal_date.isoformat() if terms.renewal_date else "",
        "renewal_notice_days": str(terms.renewal_notice_days),
        "termination_notice_days": str(terms.termination_notice_days),
        "kill_fee_percent": str(terms.kill_fee_percent),
        "auto_approve_days": str(terms.auto_approve_days),
        "revision_budget": str(terms.revision_budget),
        "grace_hours": str(terms.grace_hours),
        "comment": comment,
    }
    if terms.auto_renew:
        data["auto_renew"] = "y"
    if campaign_id is not None:
        data["campaign"] = str(campaign_id)
    for n in range(max(5, len(terms.lines))):
        line = terms.lines[n] if n < len(terms.lines) else None
        data[f"lines-{n}-kind"] = line.kind.value if line else "post"
        data[f"lines-{n}-platform"] = line.platform.value if line else "instagram"
        data[f"lines-{n}-title"] = line.title if line else ""
        data[f"lines-{n}-due_on"] = line.due_on.isoformat() if line else ""
        data[f"lines-{n}-price"] = amount_input(line.price_minor, terms.currency) if line else ""
        data[f"lines-{n}-requirements"] = "\n".join(line.requirements) if line else ""
    data[button] = "x"
    return data
