"""Campaign pages for brands, the creator roster, and invitations for creators."""

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user

from portal.accounts import auth
from portal.accounts.forms import ConfirmForm
from portal.accounts.models import AccountKind, Brand, BrandRole, User
from portal.accounts.services import membership_of
from portal.campaigns import queries, services
from portal.campaigns.forms import (
    CampaignForm,
    InviteCreatorForm,
    InviteEmailForm,
    JoinCampaignForm,
    RosterSearchForm,
    StatusForm,
)
from portal.campaigns.models import (
    CAMPAIGN_TRANSITIONS,
    Campaign,
    CampaignInvitation,
    CampaignStatus,
)
from portal.errors import DomainError
from portal.extensions import db
from portal.money import amount_input
from portal.notifications.emails import public_url, queue_email
from portal.rendering import render_page

bp = Blueprint("campaigns", __name__)
WRITERS = (BrandRole.owner, BrandRole.manager)


# Loading and authorizing


def _member_role(brand_id, *, write=False):
    """The current user's role in a brand: 404 for outsiders, 403 for viewers writing."""
    brand = db.session.get(Brand, brand_id)
    membership = membership_of(current_user, brand) if brand is not None else None
    if membership is None:
        abort(404)
    if write and membership.role not in WRITERS:
        abort(403)
    return brand, membership.role


def _load_campaign(campaign_id, *, write=False):
    """A campaign of one of the user's brands, and the user's role there."""
    campaign = db.get_or_404(Campaign, campaign_id)
    _, role = _member_role(campaign.brand_id, write=write)
    return campaign, role


def _load_brand_invitation(campaign, invitation_id):
    """An invitation of this campaign, or 404."""
    invitation = db.session.get(CampaignInvitation, invitation_id)
    if invitation is None or invitation.campaign_id != campaign.id:
        abort(404)
    return invitation


def _load_my_invitation(invitation_id):
    """An invitation addressed to the signed-in creator, or 404."""
    invitation = db.session.get(CampaignInvitation, invitation_id)
    if invitation is None or invitation.creator_id != current_user.id:
        abort(404)
    return invitation


def _workroom_url(workroom_id):
    """The workroom page (or the dashboard until the workroom pages exist)."""
    if "workrooms.show" in current_app.view_functions:
        return url_for("workrooms.show", workroom_id=workroom_id)
    return url_for("dashboard.index")


def _page_number():
    """The ?page= number, at least 1."""
    return max(request.args.get("page", 1, type=int) or 1, 1)


# Campaigns


@bp.route("/brands/<int:brand_id>/campaigns")
@auth.roles_required(AccountKind.brand)
def index(brand_id):
    """The brand's campaigns with status, dates and budget."""
    brand, role = _member_role(brand_id)
    page = queries.brand_campaigns(brand, page=_page_number())
    return render_page("campaigns/index.html", brand=brand, page=page, can_write=role in WRITERS)


@bp.route("/brands/<int:brand_id>/campaigns/new", methods=["GET", "POST"])
@auth.roles_required(AccountKind.brand)
def new(brand_id):
    """Start a campaign as a draft."""
    brand, _ = _member_role(brand_id, write=True)
    form = CampaignForm()
    if form.validate_on_submit():
        campaign = services.create_campaign(brand, current_user, **form.details())
        db.session.commit()
        flash(f"Campaign {campaign.name} created as a draft.", "success")
        return redirect(url_for("campaigns.show", campaign_id=campaign.id))
    return render_page("campaigns/form.html", form=form, brand=brand, campaign=None)


@bp.route("/campaigns/<int:campaign_id>")
@auth.roles_required(AccountKind.brand)
def show(campaign_id):
    """Brief, dates, budget, status moves and the invitations."""
    campaign, role = _load_campaign(campaign_id)
    return _show_response(campaign, role)


def _show_response(campaign, role, email_form=None, status=None):
    """The campaign page, or its invitations section for htmx."""
    return render_page(
        "campaigns/show.html",
        "invitations",
        status=status,
        campaign=campaign,
        can_write=role in WRITERS,
        invitations=queries.campaign_invitations(campaign),
        email_form=email_form or InviteEmailForm(formdata=None),
        status_form=StatusForm(formdata=None),
        confirm_form=ConfirmForm(),
        moves=CAMPAIGN_TRANSITIONS[campaign.status],
        workroom_url=_workroom_url,
    )


@bp.route("/campaigns/<int:campaign_id>/edit", methods=["GET", "POST"])
@auth.roles_required(AccountKind.brand)
def edit(campaign_id):
    """Change a draft or active campaign's details."""
    campaign, _ = _load_campaign(campaign_id, write=True)
    form = CampaignForm(data=_campaign_form_data(campaign))
    if form.validate_on_submit():
        try:
            services.update_campaign(campaign, current_user, **form.details())
        except DomainError as error:
            form.name.errors.append(str(error))
        else:
            db.session.commit()
            flash("Campaign saved.", "success")
            return redirect(url_for("campaigns.show", campaign_id=campaign.id))
    return render_page("campaigns/form.html", form=form, brand=campaign.brand, campaign=campaign)


def _campaign_form_data(campaign):
    """A campaign's values as the form shows them."""
    return {
        "name": campaign.name,
        "brief": campaign.brief_md,
        "starts_on": campaign.starts_on,
        "ends_on": campaign.ends_on,
        "budget": amount_input(campaign.budget_minor, campaign.currency),
        "currency": campaign.currency,
    }


@bp.route("/campaigns/<int:campaign_id>/status", methods=["POST"])
@auth.roles_required(AccountKind.brand)
def change_status(campaign_id):
    """Activate, complete or archive a campaign."""
    campaign, _ = _load_campaign(campaign_id, write=True)
    form = StatusForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        services.change_campaign_status(campaign, current_user, CampaignStatus(form.status.data))
    except DomainError as error:
        flash(str(error), "error")
    else:
        db.session.commit()
        flash(f"{campaign.name} is now {campaign.status.value}.", "success")
    return redirect(url_for("campaigns.show", campaign_id=campaign.id))


# The roster and invitations sent by the brand


@bp.route("/brands/<int:brand_id>/roster")
@auth.roles_required(AccountKind.brand)
def roster(brand_id):
    """Search creators; from a campaign (?campaign=id) each row can be invited to it."""
    brand, role = _member_role(brand_id)
    form = RosterSearchForm(request.args)
    campaign = _roster_campaign(brand, form.campaign.data, role)
    page = queries.search_creators(**form.criteria(), page=_page_number())
    states = queries.invitation_states(campaign, [p.user_id for p in page.items])
    return render_page(
        "campaigns/roster.html",
        "roster_results",
        brand=brand,
        search=form,
        page=page,
        campaign=campaign,
        states=states,
        invite_form=InviteCreatorForm(formdata=None),
        args={k: v for k, v in request.args.items() if k != "page" and v},
    )


def _roster_campaign(brand, campaign_id, role):
    """The campaign the roster invites to: the brand's, active, and the user may invite."""
    if not campaign_id or not campaign_id.isdigit() or role not in WRITERS:
        return None
    campaign = db.session.get(Campaign, int(campaign_id))
    if campaign is None or campaign.brand_id != brand.id:
        return None
    return campaign if campaign.status in services.INVITING else None


@bp.route("/campaigns/<int:campaign_id>/invitations", methods=["POST"])
@auth.roles_required(AccountKind.brand)
def invite(campaign_id):
    """Invite a creator from the roster; they are told by email and on their dashboard."""
    campaign, _ = _load_campaign(campaign_id, write=True)
    form = InviteCreatorForm()
    back = url_for("campaigns.roster", brand_id=campaign.brand_id, campaign=campaign.id)
    if not form.validate_on_submit():
        flash(
            "Choose a creator from the roster; messages are limited to 2,000 characters.", "error"
        )
        return redirect(back)
    creator = db.session.get(User, form.creator_id.data)
    try:
        invitation = services.invite_creator(
            campaign,
            current_user,
            creator,
            current_app.config["INVITATION_TTL"],
            message=form.message.data,
        )
    except DomainError as error:
        flash(str(error), "error")
        return redirect(back)
    services.email_invited_creator(invitation)
    db.session.commit()
    flash(f"{invitation.invitee_label} is invited to {campaign.name}.", "success")
    return redirect(back)


@bp.route("/campaigns/<int:campaign_id>/invitations/email", methods=["POST"])
@auth.roles_required(AccountKind.brand)
def invite_by_email(campaign_id):
    """Invite anyone by email: a single-use link lets them join as a creator."""
    campaign, role = _load_campaign(campaign_id, write=True)
    form = InviteEmailForm()
    if form.validate_on_submit():
        try:
            invitation, raw = services.invite_by_email(
                campaign,
                current_user,
                form.email.data,
                current_app.config["INVITATION_TTL"],
                message=form.message.data,
            )
        except DomainError as error:
            form.email.errors.append(str(error))
        else:
            if raw is None:
                services.email_invited_creator(invitation)
            else:
                _email_signup_link(invitation, raw)
            db.session.commit()
            flash(f"Invitation sent to {form.email.data}.", "success")
            if not request.htmx:
                return redirect(url_for("campaigns.show", campaign_id=campaign.id))
            form = None
    return _show_response(campaign, role, email_form=form, status=422 if form else 200)


def _email_signup_link(invitation, raw):
    """Send the single-use link that lets someone join Duet and answer."""
    campaign = invitation.campaign
    ttl = current_app.config["INVITATION_TTL"]
    queue_email(
        "campaign_invitation_signup",
        invitation.email,
        "",
        f"{campaign.brand.name} invited you to {campaign.name} on Duet",
        "campaign_invitation_signup",
        invitation=invitation,
        link=public_url("campaigns.join", token=raw),
        days=ttl.days,
    )


@bp.route("/campaigns/<int:campaign_id>/invitations/<int:invitation_id>/withdraw", methods=["POST"])
@auth.roles_required(AccountKind.brand)
def withdraw(campaign_id, invitation_id):
    """Take back a pending invitation; its link stops working."""
    campaign, role = _load_campaign(campaign_id, write=True)
    invitation = _load_brand_invitation(campaign, invitation_id)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    services.withdraw_invitation(invitation, current_user)
    db.session.commit()
    flash(f"Invitation to {invitation.invitee_label} withdrawn.", "info")
    if request.htmx:
        return _show_response(campaign, role)
    return redirect(url_for("campaigns.show", campaign_id=campaign.id))


# Invitations as the creator sees them


@bp.route("/invitations/campaigns")
@auth.roles_required(AccountKind.creator)
def my_invitations():
    """The creator's campaign invitations: open ones first."""
    return render_page(
        "campaigns/invitations.html", invitations=queries.creator_invitations(current_user)
    )


@bp.route("/invitations/campaigns/<int:invitation_id>")
@auth.roles_required(AccountKind.creator)
def invitation(invitation_id):
    """One invitation with the campaign's brief; accept or decline it here."""
    return _invitation_response(_load_my_invitation(invitation_id))


def _invitation_response(invitation, error=None, status=None):
    """The creator's invitation page, with a refusal message when there is one."""
    return render_page(
        "campaigns/invitation.html",
        invitation=invitation,
        error=error,
        status=status,
        confirm_form=ConfirmForm(),
    )


@bp.route("/invitations/campaigns/<int:invitation_id>/accept", methods=["POST"])
@auth.roles_required(AccountKind.creator)
def accept(invitation_id):
    """Join the campaign; the pair's workroom opens (or the existing one is used)."""
    invitation = _load_my_invitation(invitation_id)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    try:
        workroom = services.accept_invitation(invitation, current_user)
    except DomainError as error:
        db.session.rollback()
        return _invitation_response(invitation, str(error), error.status_code)
    db.session.commit()
    flash(f"You joined {invitation.campaign.name}. Say hello in your workroom.", "success")
    return redirect(_workroom_url(workroom.id))


@bp.route("/invitations/campaigns/<int:invitation_id>/decline", methods=["POST"])
@auth.roles_required(AccountKind.creator)
def decline(invitation_id):
    """Say no to a campaign."""
    invitation = _load_my_invitation(invitation_id)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    try:
        services.decline_invitation(invitation, current_user)
    except DomainError as error:
        db.session.rollback()
        return _invitation_response(invitation, str(error), error.status_code)
    db.session.commit()
    flash(f"You declined {invitation.campaign.name}.", "info")
    return redirect(url_for("campaigns.my_invitations"))


@bp.route("/campaigns/invitations/<token>", methods=["GET", "POST"])
def join(token):
    """An emailed invitation: create the creator account (or sign in), then answer."""
    try:
        pending = services.find_invitation_by_token(token)
    except services.TokenInvalid as error:
        return render_template("campaigns/link_invalid.html", message=str(error)), 404
    existing = auth.user_by_email(pending.email)
    form = JoinCampaignForm(email=pending.email)
    if request.method == "POST":
        if existing is None and not current_user.is_authenticated and form.validate_on_submit():
            user = services.register_invited_creator(
                pending, form.name.data, form.password.data, timezone=form.timezone.data
            )
            auth.sign_in(user)
            return _claimed(pending, f"Welcome to Duet, {user.name}.")
        if _is_invitee(existing) and ConfirmForm().validate_on_submit():
            services.claim_invitation(pending, current_user)
            return _claimed(pending, "The invitation is now in your account.")
    return render_page(
        "campaigns/join.html",
        form=form,
        invitation=pending,
        existing=existing,
        is_invitee=_is_invitee(existing),
        confirm_form=ConfirmForm(),
    )


def _is_invitee(existing):
    """The signed-in user is the creator the link was sent to."""
    return (
        existing is not None
        and current_user.is_authenticated
        and current_user.id == existing.id
        and existing.kind is AccountKind.creator
    )


def _claimed(invitation, message):
    """Commit a claimed invitation and show it, ready to accept or decline."""
    db.session.commit()
    flash(f"{message} Accept or decline the invitation to {invitation.campaign.name}.", "success")
    return redirect(url_for("campaigns.invitation", invitation_id=invitation.id))


@bp.app_template_global()
def campaign_summary(user):
    """What the dashboard shows: a creator's open invitations, a brand's active campaigns."""
    if user.kind is AccountKind.creator:
        return {"invitations": queries.open_invitations_of(user), "campaigns": []}
    if user.kind is AccountKind.brand:
        return {"invitations": [], "campaigns": queries.active_campaigns_of(user)}
    return {"invitations": [], "campaigns": []}
