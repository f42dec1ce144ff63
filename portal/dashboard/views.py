"""The home page: a welcome for visitors, a dashboard for each role."""

from flask import Blueprint
from flask_login import current_user

from portal.database import utcnow
from portal.deliverables.queries import brand_overview, creator_overview
from portal.mediation.queries import mediator_summary
from portal.rendering import render_page
from portal.workrooms.queries import overview

bp = Blueprint("dashboard", __name__)


def deliverables_overview(user):
    """The deliverables block of the user's dashboard: the brand's view for brand members,
    the creator's view for creators, None for everyone else."""
    if user.is_creator:
        return creator_overview(user)
    if user.memberships:
        return brand_overview(user)
    return None


@bp.route("/")
def index():
    """Welcome page when signed out; the role's dashboard when signed in."""
    if not current_user.is_authenticated:
        return render_page("dashboard/welcome.html")
    mediation = mediator_summary(current_user, utcnow()) if current_user.is_mediator else (0, [])
    return render_page(
        "dashboard/index.html",
        mediation=mediation,
        memberships=current_user.memberships,
        profile=current_user.creator_profile,
        deliverables=deliverables_overview(current_user),
        now=utcnow(),
        **overview(current_user),
    )
