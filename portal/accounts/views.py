"""Sign-up, sign-in, sign-out, password reset, settings, brand teams, creator profiles."""

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
from flask_login import current_user, login_required

from portal.accounts import auth, queries, services
from portal.accounts.forms import (
    ChangePasswordForm,
    ConfirmForm,
    CreatorProfileForm,
    ForgotPasswordForm,
    InviteForm,
    JoinForm,
    LoginForm,
    ResetPasswordForm,
    SettingsForm,
    SignupForm,
)
from portal.accounts.models import AccountKind, Brand, BrandInvitation, BrandRole
from portal.errors import DomainError
from portal.extensions import db, limiter
from portal.money import amount_input
from portal.notifications.emails import public_url, queue_email
from portal.rendering import render_page

bp = Blueprint("accounts", __name__)


def _config_limit(name):
    """A rate limit read from the app config when the request is made."""
    return lambda: current_app.config[name]


def _login_email_key():
    """Rate-limit key for one account, whichever address the attempts come from."""
    return "account:" + services.normalize_email(request.form.get("email", ""))


def _failed_login(response):
    """Only failed sign-ins count against the account's limit."""
    return response.status_code == 422


@bp.route("/signup", methods=["GET", "POST"])
@limiter.limit(_config_limit("SIGNUP_IP_LIMIT"), methods=["POST"])
def signup():
    """Create a brand or creator account and sign in."""
    if current_user.is_authenticated:
        return redirect(url_for("dashboard.index"))
    form = SignupForm()
    if form.validate_on_submit():
        try:
            if form.account_type.data == "brand":
                user = services.register_brand_member(
                    form.email.data,
                    form.name.data,
                    form.password.data,
                    form.brand_name.data,
                    timezone=form.timezone.data,
                )
            else:
                user = services.register_creator(
                    form.email.data,
                    form.name.data,
                    form.password.data,
                    form.display_name.data,
                    timezone=form.timezone.data,
                )
        except services.EmailTaken as error:
            form.email.errors.append(str(error))
        except services.BrandNameTaken as error:
            form.brand_name.errors.append(str(error))
        else:
            auth.sign_in(user)
            db.session.commit()
            flash(f"Welcome to Duet, {user.name}.", "success")
            return redirect(url_for("dashboard.index"))
    return render_page("accounts/signup.html", form=form)


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(_config_limit("LOGIN_IP_LIMIT"), methods=["POST"])
@limiter.limit(
    _config_limit("LOGIN_ACCOUNT_LIMIT"),
    key_func=_login_email_key,
    methods=["POST"],
    deduct_when=_failed_login,
)
def login():
    """Sign in with email and password."""
    form = LoginForm(next=request.args.get("next", ""))
    if form.validate_on_submit():
        user = services.authenticate(form.email.data, form.password.data)
        if user is not None:
            auth.sign_in(user)
            db.session.commit()
            return redirect(auth.safe_next(form.next.data) or url_for("dashboard.index"))
        auth.log.warning("login failed ip=%s", request.remote_addr)
        form.password.errors.append("Email or password is incorrect.")
    if current_user.is_authenticated and request.method == "GET":
        return redirect(url_for("dashboard.index"))
    return render_page("accounts/login.html", form=form)


@bp.route("/logout", methods=["POST"])
def logout():
    """Sign out and end this session on the server."""
    if current_user.is_authenticated:
        auth.sign_out()
        db.session.commit()
    flash("You are signed out.", "info")
    return redirect(url_for("accounts.login"))


@bp.route("/forgot-password", methods=["GET", "POST"])
@limiter.limit(_config_limit("RESET_IP_LIMIT"), methods=["POST"])
def forgot_password():
    """Email a reset link; the answer is the same whether or not the account exists."""
    form = ForgotPasswordForm()
    if form.validate_on_submit():
        user = auth.user_by_email(form.email.data)
        if user is not None and not user.is_disabled:
            _send_reset_link(user, template="password_reset", subject="Reset your Duet password")
            db.session.commit()
        return render_template("accounts/forgot_password_sent.html", email=form.email.data)
    return render_page("accounts/forgot_password.html", form=form)


def _send_reset_link(user, *, template, subject):
    """Create a reset token for the user and queue the email carrying it."""
    ttl = current_app.config["PASSWORD_RESET_TTL"]
    raw = services.create_password_reset(user, ttl)
    queue_email(
        template,
        user.email,
        user.name,
        subject,
        template,
        user=user,
        link=public_url("accounts.reset_password", token=raw),
        hours=int(ttl.total_seconds() // 3600),
    )


@bp.route("/reset/<token>", methods=["GET", "POST"])
@limiter.limit(_config_limit("RESET_IP_LIMIT"), methods=["POST"])
def reset_password(token):
    """Choose a new password through an emailed link."""
    try:
        reset = services.find_reset_token(token)
    except services.TokenInvalid as error:
        return render_template("accounts/reset_invalid.html", message=str(error)), 404
    form = ResetPasswordForm()
    if form.validate_on_submit():
        services.reset_password(token, form.password.data)
        db.session.commit()
        flash("Your password is set. Sign in with it now.", "success")
        return redirect(url_for("accounts.login"))
    return render_page("accounts/reset_password.html", form=form, user=reset.user)


@bp.route("/account", methods=["GET", "POST"])
@login_required
def settings():
    """Name and time zone; the password form posts to its own route."""
    form = SettingsForm(obj=current_user)
    if form.validate_on_submit():
        services.update_settings(current_user, form.name.data, form.timezone.data)
        db.session.commit()
        flash("Settings saved.", "success")
        return redirect(url_for("accounts.settings"))
    return render_page(
        "accounts/settings.html", form=form, password_form=ChangePasswordForm(formdata=None)
    )


@bp.route("/account/password", methods=["POST"])
@login_required
def change_password():
    """Change the password; every other session ends."""
    form = ChangePasswordForm()
    if form.validate_on_submit():
        try:
            services.change_password(
                current_user,
                form.current_password.data,
                form.new_password.data,
                keep_session_id=auth.current_session_id(),
            )
        except DomainError as error:
            form.current_password.errors.append(str(error))
        else:
            db.session.commit()
            flash("Password changed. Your other sessions have been signed out.", "success")
            return redirect(url_for("accounts.settings"))
    settings_form = SettingsForm(obj=current_user, formdata=None)
    return render_template("accounts/settings.html", form=settings_form, password_form=form), 422


def _brand_for_member(brand_id):
    """A brand the current user belongs to, with their membership; 404 otherwise."""
    brand = db.get_or_404(Brand, brand_id)
    membership = services.membership_of(current_user, brand)
    if membership is None:
        abort(404)
    return brand, membership


def _team_response(brand, membership, form, status=None):
    """The team page, or only its team section for htmx."""
    return render_page(
        "accounts/team.html",
        "team",
        status=status,
        brand=brand,
        membership=membership,
        form=form,
        members=queries.brand_members(brand),
        invitations=queries.open_invitations(brand),
        confirm_form=ConfirmForm(),
        is_owner=membership.role is BrandRole.owner,
    )


@bp.route("/brands/<int:brand_id>/team", methods=["GET", "POST"])
@auth.roles_required(AccountKind.brand)
def team(brand_id):
    """The brand's members and invitations; owners invite teammates here."""
    brand, membership = _brand_for_member(brand_id)
    form = InviteForm()
    if request.method == "POST":
        if membership.role is not BrandRole.owner:
            abort(403)
        if form.validate_on_submit():
            try:
                invitation, raw = services.invite_member(
                    brand,
                    current_user,
                    form.email.data,
                    BrandRole(form.role.data),
                    current_app.config["INVITATION_TTL"],
                )
            except DomainError as error:
                form.email.errors.append(str(error))
            else:
                queue_email(
                    "brand_invitation",
                    invitation.email,
                    "",
                    f"{current_user.name} invited you to {brand.name} on Duet",
                    "brand_invitation",
                    invitation=invitation,
                    link=public_url("accounts.invitation", token=raw),
                )
                db.session.commit()
                flash(f"Invitation sent to {invitation.email}.", "success")
                if not request.htmx:
                    return redirect(url_for("accounts.team", brand_id=brand.id))
                form = InviteForm(formdata=None)
        return _team_response(brand, membership, form)
    return _team_response(brand, membership, form)


@bp.route("/brands/<int:brand_id>/invitations/<int:invitation_id>/revoke", methods=["POST"])
@auth.roles_required(AccountKind.brand)
def revoke_invitation(brand_id, invitation_id):
    """An owner withdraws a pending invitation."""
    brand, membership = _brand_for_member(brand_id)
    invitation = db.get_or_404(BrandInvitation, invitation_id)
    if invitation.brand_id != brand.id:
        abort(404)
    ConfirmForm().validate_on_submit()
    services.revoke_invitation(invitation, current_user)
    db.session.commit()
    flash(f"Invitation to {invitation.email} withdrawn.", "info")
    if request.htmx:
        return _team_response(brand, membership, InviteForm(formdata=None))
    return redirect(url_for("accounts.team", brand_id=brand.id))


@bp.route("/invitations/<token>", methods=["GET", "POST"])
def invitation(token):
    """Accept a team invitation: join with a new account, or with the signed-in one."""
    try:
        invite = services.find_invitation(token)
    except services.TokenInvalid as error:
        return render_template("accounts/reset_invalid.html", message=str(error)), 404
    existing = auth.user_by_email(invite.email)
    join_form = JoinForm()
    confirm_form = ConfirmForm()
    if request.method == "POST":
        if existing is None and join_form.validate_on_submit():
            user = services.create_user(
                invite.email,
                join_form.name.data,
                join_form.password.data,
                AccountKind.brand,
                timezone=join_form.timezone.data,
            )
            services.accept_invitation(invite, user)
            auth.sign_in(user)
            db.session.commit()
            flash(f"Welcome to {invite.brand.name}.", "success")
            return redirect(url_for("dashboard.index"))
        if existing is not None and current_user.is_authenticated and confirm_form.validate():
            services.accept_invitation(invite, current_user)
            db.session.commit()
            flash(f"You joined {invite.brand.name}.", "success")
            return redirect(url_for("accounts.team", brand_id=invite.brand_id))
    return render_page(
        "accounts/invitation.html",
        invitation=invite,
        existing=existing,
        join_form=join_form,
        confirm_form=confirm_form,
        status=422 if join_form.errors else 200,
    )


@bp.route("/creator/profile", methods=["GET", "POST"])
@auth.roles_required(AccountKind.creator)
def creator_profile():
    """A creator edits the profile brands see."""
    profile = current_user.creator_profile
    form = CreatorProfileForm(data=_profile_form_data(profile))
    if form.validate_on_submit():
        rates = form.rate_amounts()
        if not _has_rate_errors(form):
            services.update_creator_profile(
                profile,
                display_name=form.display_name.data,
                bio=form.bio.data or "",
                audience_size=form.audience_size.data or 0,
                currency=form.currency.data,
                handles=form.handle_values(),
                niches=form.niche_list(),
                rates=rates,
            )
            db.session.commit()
            flash("Profile saved.", "success")
            return redirect(url_for("accounts.creator_profile"))
    return render_page("accounts/creator_profile.html", form=form, profile=profile)


def _has_rate_errors(form):
    """True when any rate field failed to parse."""
    return any(form[name].errors for name in form.data if name.startswith("rate_"))


def _profile_form_data(profile):
    """The profile's rows as initial form values."""
    data = {
        "display_name": profile.display_name,
        "bio": profile.bio,
        "audience_size": profile.audience_size,
        "currency": profile.currency,
        "niches": ", ".join(n.name for n in profile.niches),
    }
    data.update({f"handle_{h.platform.value}": h.handle for h in profile.handles})
    data.update(
        {f"rate_{r.kind.value}": amount_input(r.amount_minor, r.currency) for r in profile.rates}
    )
    return data
