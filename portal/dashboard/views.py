"""The home page: a welcome for visitors, a dashboard for each role."""

from flask import Blueprint
from flask_login import current_user

from portal.rendering import render_page
from portal.workrooms.queries import overview

bp = Blueprint("dashboard", __name__)


@bp.route("/")
def index():
    """Welcome page when signed out; the role's dashboard when signed in."""
    if not current_user.is_authenticated:
        return render_page("dashboard/welcome.html")
    return render_page(
        "dashboard/index.html",
        memberships=current_user.memberships,
        profile=current_user.creator_profile,
        **overview(current_user),
    )
