"""The station page's views (docs/station-page.md): the stations list and the terminal of
one station. A transport: it reads with execution/station_queries.py, judges readings with
execution/judging.py (nothing written) and tracks with integration/tracking/service.py,
the one path that writes, then shows the answer or the refusal in words with its code."""

from dataclasses import dataclass
from functools import wraps

from django.contrib.auth.views import LoginView, redirect_to_login
from django.http import HttpResponseRedirect, JsonResponse
from django.shortcuts import render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.html import escape
from django.utils.http import urlencode
from django.views.decorators.http import require_http_methods, require_POST
from rest_framework.exceptions import ValidationError

from execution.holds import holds_unit
from execution.judging import describe_limits, judge_value, limits_problem
from execution.models import Source, Station
from execution.station_queries import specs_to_collect, station_queue, unit_position
from execution.tracking import TrackingRefused
from integration.station_page.forms import (
    ScanForm,
    TrackInForm,
    TrackOutForm,
    new_event_id,
    reading_field_name,
)
from integration.tracking.service import receive_for_unit
from mes.api.exceptions import ApiError
from mes.api.permissions import has_permission

TRACK_PERMISSION = "execution.track_units"


@dataclass
class Refusal:
    """A refusal as the page shows it: its code and its words."""

    code: str
    message: str
    can_resend: bool = False  # the call may not have arrived: the same id is sent again


def operator_required(view):
    """Signed in (else to the station's sign-in) and allowed to track units (else a 403
    page that says so)."""

    @wraps(view)
    def wrapped(request, *args, **kwargs):
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path(), reverse("station:login"))
        if not has_permission(request.user, TRACK_PERMISSION):
            refusal = Refusal(
                "PERMISSION_DENIED",
                f"{request.user.get_username()} may not track units: an operator needs the "
                "Operators group (permission execution.track_units).",
            )
            return render(request, "station/refused.html", {"refusal": refusal}, status=403)
        return view(request, *args, **kwargs)

    return wrapped


class StationLoginView(LoginView):
    """Operators' own sign-in: the admin's refuses anyone who is not staff."""

    template_name = "station/login.html"
    redirect_authenticated_user = True

    def get_default_redirect_url(self):
        return reverse("station:list")


@operator_required
def station_list(request):
    """Every station: an operator may stand at any of them (docs/station-page.md)."""
    stations = Station.objects.order_by("line_code", "code")
    return render(request, "station/list.html", {"stations": stations})


def _refusal_of(error) -> Refusal:
    if isinstance(error, TrackingRefused):
        return Refusal(error.code, error.message)
    if isinstance(error, ValidationError):
        return Refusal("VALIDATION_ERROR", _words(error.detail))
    # ApiError: a refused call (kept FAILED), an id taken by another body, or a database
    # that could not take the call now (SERVICE_UNAVAILABLE: send it again, same id).
    return Refusal(error.code, error.message, can_resend=error.status_code >= 500)


def _words(detail) -> str:
    if isinstance(detail, dict):
        return "; ".join(f"{name}: {_words(value)}" for name, value in detail.items())
    if isinstance(detail, list):
        return " ".join(_words(item) for item in detail)
    return str(detail)


def _spec_rows(specs, form: TrackOutForm | None) -> list[dict]:
    """Each spec of the step with its limits in words, its entry field when it is entered
    here, and the server's judgement of what was entered."""
    judged = {}
    if form is not None and form.is_bound and form.is_valid():
        judged = {spec.pk: _judged(spec, value) for spec, value in form.readings()}
    entered = {spec.pk for spec in form.specs} if form is not None else set()
    rows = []
    for spec in specs:
        rows.append(
            {
                "spec": spec,
                "limits": describe_limits({"spec": spec.spec, "alarm": spec.alarm}),
                "field": form[reading_field_name(spec)] if spec.pk in entered else None,
                **judged.get(spec.pk, {"judgement": None, "holds": False, "problem": None}),
            }
        )
    return rows


def _judged(spec, value) -> dict:
    """A reading as the page shows it: its judgement and whether it opens a hold, or why
    its spec's limits cannot be judged (stored past the back office's checks)."""
    problem = limits_problem(spec)
    if problem is not None:
        return {"judgement": None, "holds": False, "problem": problem}
    judgement = judge_value(spec, value)
    return {"judgement": judgement, "holds": holds_unit(spec, judgement), "problem": None}


def _terminal(request, station_code, *, sn="", refusal=None, track_in_form=None,
              track_out_form=None, done=None, status=200):  # fmt: skip
    try:
        station, queue = station_queue(station_code)
    except TrackingRefused as error:
        return render(request, "station/refused.html", {"refusal": _refusal_of(error)}, status=404)
    context = {
        "station": station,
        "queue": queue,
        "scan_form": ScanForm(initial={"sn": ""}),
        "sn": sn,
        "refusal": refusal,
        "done": request.GET.get("done") if done is None else done,
    }
    if sn:
        try:
            position = unit_position(sn)
            found = specs_to_collect(station_code, sn)
        except TrackingRefused as error:
            context["refusal"] = refusal or _refusal_of(error)
            return render(request, "station/terminal.html", context, status=status)
        here = position.open_track is not None and position.open_track.station_id == station.pk
        if track_out_form is None and here:
            track_out_form = TrackOutForm(
                initial={"sn": sn, "event_id": new_event_id()}, specs=found.specs
            )
        if track_in_form is None and position.open_track is None:
            track_in_form = TrackInForm(initial={"sn": sn, "event_id": new_event_id()})
        context.update(
            position=position,
            step=found.step,
            in_station_here=here,
            spec_rows=_spec_rows(found.specs, track_out_form if here else None),
            track_in_form=track_in_form if position.open_track is None else None,
            track_out_form=track_out_form if here else None,
        )
    return render(request, "station/terminal.html", context, status=status)


@operator_required
@require_http_methods(["GET"])
def terminal(request, station_code):
    """The terminal: a scanned serial's run, step, status, hold and specs; the queue."""
    scan = ScanForm(request.GET or None)
    sn = scan.cleaned_data["sn"] if scan.is_bound and scan.is_valid() else ""
    return _terminal(request, station_code, sn=sn)


def _back_to(station_code, sn, done):
    query = urlencode({"sn": sn, "done": done})
    return HttpResponseRedirect(f"{reverse('station:terminal', args=[station_code])}?{query}")


def _payload(request, form, **more) -> dict:
    return {
        "sn": form.cleaned_data["sn"],
        "eventId": form.cleaned_data["event_id"],
        "operatorId": request.user.get_username(),
        **more,
    }


@operator_required
@require_POST
def track_in(request, station_code):
    """Track the scanned unit in here, by the service the API calls."""
    form = TrackInForm(request.POST)
    if not form.is_valid():
        return _terminal(
            request, station_code, refusal=Refusal("VALIDATION_ERROR", _words(form.errors)),
            status=400,
        )  # fmt: skip
    sn = form.cleaned_data["sn"]
    try:
        receive_for_unit(
            "TRACK_IN",
            _payload(request, form),
            station_code=station_code,
            sent_by=request.user,
            source=Source.MANUAL,
        )
    except (ApiError, ValidationError) as error:
        refusal = _refusal_of(error)
        # A refused call is answered again by the same id; a new press is a new call.
        kept = form if refusal.can_resend else None
        return _terminal(
            request, station_code, sn=sn, refusal=refusal, track_in_form=kept,
            status=getattr(error, "status_code", 400),
        )  # fmt: skip
    return _back_to(station_code, sn, "in")


@operator_required
@require_POST
def track_out(request, station_code):
    """Judge the readings (the Check button: nothing written), or track the unit out with
    PASS or FAIL and its readings, by the service the API calls."""
    sn = request.POST.get("sn", "")
    try:
        specs = specs_to_collect(station_code, sn).specs
    except TrackingRefused as error:
        return _terminal(request, station_code, sn=sn, refusal=_refusal_of(error), status=404)
    form = TrackOutForm(request.POST, specs=specs)
    if not form.is_valid():
        return _terminal(
            request, station_code, sn=sn, track_out_form=form,
            refusal=Refusal("VALIDATION_ERROR", _words(form.errors)), status=400,
        )  # fmt: skip
    result = form.cleaned_data["result"]
    if not result:
        # Check: the server judges what was entered; the same form (and id) stays.
        return _terminal(request, station_code, sn=sn, track_out_form=form)
    try:
        receive_for_unit(
            "TRACK_OUT",
            _payload(
                request,
                form,
                result=result,
                defectCode=form.cleaned_data["defect_code"] or None,
                data=form.data_items(),
            ),
            station_code=station_code,
            sent_by=request.user,
            source=Source.MANUAL,
        )
    except (ApiError, ValidationError) as error:
        refusal = _refusal_of(error)
        if not refusal.can_resend:
            form = _fresh_id(form, specs)
        return _terminal(
            request, station_code, sn=sn, refusal=refusal, track_out_form=form,
            status=getattr(error, "status_code", 400),
        )  # fmt: skip
    return _back_to(station_code, sn, "out")


@operator_required
@require_POST
def judge(request, station_code):
    """The readings of the track-out form judged by the server, each field's as the page
    draws it (JSON: `judged` and `errors` by field name); nothing is written."""
    sn = request.POST.get("sn", "")
    try:
        specs = specs_to_collect(station_code, sn).specs
    except TrackingRefused as error:
        return JsonResponse({"code": error.code, "message": error.message}, status=404)
    form = TrackOutForm(request.POST, specs=specs)
    form.is_valid()
    judged = {}
    for spec, value in form.readings():
        judged[reading_field_name(spec)] = render_to_string(
            "station/judgement.html", _judged(spec, value)
        ).strip()
    errors = {name: escape(" ".join(messages)) for name, messages in form.errors.items()}
    return JsonResponse({"judged": judged, "errors": errors}, status=400 if errors else 200)


def _fresh_id(form: TrackOutForm, specs) -> TrackOutForm:
    """The form as entered, under a new id: the refused call is kept, a new press is new."""
    data = form.data.copy()
    data["event_id"] = new_event_id()
    data["result"] = ""
    return TrackOutForm(data, specs=specs)
