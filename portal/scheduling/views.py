"""The calendar page (month grid or agenda), its feed buttons, and the public iCal feed."""

from datetime import date, timedelta

from flask import Blueprint, abort, flash, make_response, redirect, request, url_for
from flask_login import current_user
from icalendar import Calendar
from icalendar import Event as ICalEvent

from portal.accounts import auth
from portal.accounts.models import AccountKind
from portal.accounts.services import token_digest
from portal.database import utcnow
from portal.errors import DomainError
from portal.extensions import db, limiter
from portal.notifications.emails import public_url
from portal.rendering import render_page, wants_fragment
from portal.scheduling import queries, services
from portal.scheduling.forms import CalendarFilterForm, FeedForm
from portal.scheduling.queries import AGENDA_DAYS, TONES, Window

bp = Blueprint("scheduling", __name__)
CALENDAR_USERS = (AccountKind.brand, AccountKind.creator)
#: per feed address: calendar apps refresh every few minutes at most
FEED_LIMIT = "20 per minute;300 per hour"


def _date_arg(name, unit):
    """A date from the query string, 2030-03 for a `unit` of "month" or 2030-03-20 for "day"
    (a month gives its first day); None when absent or not a real date."""
    value = request.args.get(name, "")
    parts = value.split("-")
    expected = 2 if unit == "month" else 3
    if len(parts) != expected or not all(p.isdigit() for p in parts):
        return None
    try:
        day = date(int(parts[0]), int(parts[1]), int(parts[2]) if expected == 3 else 1)
    except ValueError:
        return None
    return day if 1900 <= day.year <= 2200 else None


def _layout(today, zone):
    """The view asked for (month or agenda), its window, its first day, and the query
    arguments of its navigation links (previous, next, today, month, agenda)."""
    if request.args.get("view") == "agenda":
        start = _date_arg("start", "day") or today
        window = Window(start, start + timedelta(days=AGENDA_DAYS - 1), zone)
        nav = {
            "previous": {"view": "agenda", "start": start - timedelta(days=AGENDA_DAYS)},
            "next": {"view": "agenda", "start": window.last + timedelta(days=1)},
            "today": {"view": "agenda"},
            "month": {"month": start.strftime("%Y-%m")},
            "agenda": {"view": "agenda", "start": start},
        }
        return "agenda", window, start, nav
    month = _date_arg("month", "month") or today.replace(day=1)
    this_month = (month.year, month.month) == (today.year, today.month)
    nav = {
        "previous": {"month": queries.shift_month(month, -1).strftime("%Y-%m")},
        "next": {"month": queries.shift_month(month, 1).strftime("%Y-%m")},
        "today": {},
        "month": {"month": month.strftime("%Y-%m")},
        "agenda": {"view": "agenda", "start": today if this_month else month},
    }
    return "month", queries.month_window(month, zone), month, nav


def _calendar_context(user, **extra):
    """Everything the calendar page shows, in a fixed number of queries."""
    zone = queries.zone_of(user)
    today = utcnow().astimezone(zone).date()
    form = CalendarFilterForm(
        request.args,
        campaigns=queries.campaign_choices(user),
        creators=queries.creator_choices(user),
    )
    view, window, anchor, nav = _layout(today, zone)
    events = queries.events_for(user, window, form.filters())
    filter_args = form.query_args()
    return {
        "view": view,
        "window": window,
        "anchor": anchor,
        "links": {k: url_for("scheduling.calendar", **v, **filter_args) for k, v in nav.items()},
        "today": today,
        "zone": zone,
        "filter_form": form,
        "filter_args": filter_args,
        "events": events,
        "weeks": queries.month_weeks(anchor, window, events, today) if view == "month" else [],
        "agenda": queries.by_local_day(events, zone) if view == "agenda" else {},
        "tones": TONES,
        "window_days": AGENDA_DAYS,
        "feed": services.live_feed(user),
        "feed_form": FeedForm(formdata=None),
        "feed_url": None,
        **extra,
    }


@bp.route("/calendar")
@auth.roles_required(*CALENDAR_USERS)
def calendar():
    """The month grid or the agenda; htmx gets only the calendar region."""
    return render_page("scheduling/calendar.html", "calendar", **_calendar_context(current_user))


@bp.route("/calendar/feed", methods=["POST"])
@auth.roles_required(*CALENDAR_USERS)
def feed_address():
    """Make a new secret feed address (shown once: only its hash is kept) or turn it off."""
    form = FeedForm()
    if not form.validate_on_submit():
        abort(400)
    feed_url = None
    try:
        if form.revoke.data:
            services.revoke_calendar_feed(current_user)
        else:
            feed_url = public_url(
                "scheduling.feed", token=services.issue_calendar_feed(current_user)
            )
    except DomainError as error:
        db.session.rollback()
        flash(str(error), "error")
        return _after_feed_change(status=error.status_code)
    db.session.commit()
    if feed_url is None:
        flash("Your calendar feed is off: its address no longer answers.", "success")
    return _after_feed_change(feed_url)


def _after_feed_change(feed_url=None, status=200):
    """The feed panel for htmx; a redirect to the calendar for a plain form, except right
    after a new address was made: it is shown once, on this response (only its hash is kept)."""
    if wants_fragment():
        feed = services.live_feed(current_user)
        return render_page(
            "scheduling/calendar.html",
            "feed",
            status=status,
            feed=feed,
            feed_form=FeedForm(formdata=None),
            feed_url=feed_url,
        )
    if feed_url is None:
        return redirect(url_for("scheduling.calendar"), 303)
    context = _calendar_context(current_user, feed_url=feed_url)
    return render_page("scheduling/calendar.html", status=status, **context)


def _feed_key():
    """Rate-limit key: the feed address (calendar services fetch many feeds from one IP)."""
    return "calendar-feed:" + token_digest(request.view_args.get("token", ""))


@bp.route("/calendar/feeds/<token>.ics")
@limiter.limit(FEED_LIMIT, key_func=_feed_key)
def feed(token):
    """The user's events as iCalendar; the secret address is the credential (no sign-in)."""
    user = queries.feed_owner(token_digest(token))
    if user is None:
        abort(404)
    now = utcnow()
    body = _ical(queries.feed_events(user, now=now), now)
    response = make_response(body)
    response.headers["Content-Type"] = "text/calendar; charset=utf-8"
    response.headers["Cache-Control"] = "private, no-store"
    response.headers["X-Robots-Tag"] = "noindex"
    return response


def _ical(events, now):
    """An iCalendar document of the events: UTC date-times, all-day dates, stable UIDs."""
    cal = Calendar()
    cal.add("prodid", "-//Duet//Shared calendar//EN")
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", "PUBLISH")
    cal.add("x-wr-calname", "Duet")
    for event in events:
        item = ICalEvent()
        item.add("uid", event.uid)
        item.add("dtstamp", now)
        item.add("summary", f"{event.summary} ({event.tone_label})")
        if event.at is not None:
            item.add("dtstart", event.at)
        else:
            item.add("dtstart", event.on)
            item.add("dtend", event.on + timedelta(days=1))
        item.add(
            "description", f"{event.brand_name} with {event.creator_name}, {event.campaign_name}"
        )
        item.add("url", public_url(event.endpoint, **event.values))
        item.add("transp", "TRANSPARENT")
        cal.add_component(item)
    return cal.to_ical()
