from dataclasses import dataclass
from decimal import Decimal
from functools import wraps

from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from core.htmx import HtmxHttpRequest
from rates import services
from rates.assets import Pair
from rates.chart import DEFAULT_RANGE, RANGES, StepChart, step_chart
from rates.forms import RateForm, RatePreviewForm
from rates.models import ExchangeRate, rate_in_force

# Rows of each pair shown in its table and chart; the API has the whole history.
HISTORY_LIMIT = 50


SET_RATES = "rates.add_exchangerate"


def rate_setter_required(view):
    """Anonymous visitors log in first; signed-in people without rates.add_exchangerate get
    403 (being staff is not enough)."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        if not request.user.has_perm(SET_RATES):
            raise PermissionDenied("Only administrators set exchange rates.")
        return view(request, *args, **kwargs)

    return wrapper


@dataclass(frozen=True)
class PairBoard:
    pair: Pair
    current: ExchangeRate | None  # None only if the seed is missing
    rows: list[tuple[ExchangeRate, str]]  # (row, its status label), newest first
    chart: StepChart


def _pair_board(pair: Pair, now, range_key: str = DEFAULT_RANGE) -> PairBoard:
    current = ExchangeRate.objects.for_pair(pair).in_force(now).first()
    rows = list(
        ExchangeRate.objects.for_pair(pair).select_related("set_by").newest_first()[:HISTORY_LIMIT]
    )
    labelled = [(row, row.status_at(now, current).label) for row in rows]
    steps = [(row.valid_from, row.rate) for row in reversed(rows)]
    chart = step_chart(steps, now=now, length=RANGES[range_key][1])
    return PairBoard(pair, current, labelled, chart)


def _range(request: HtmxHttpRequest) -> str:
    """The chart's range from ?range=, one of RANGES' keys; anything else is the default."""
    key = request.GET.get("range", "")[:8]
    return key if key in RANGES else DEFAULT_RANGE


def _render(request: HtmxHttpRequest, *, form=None, preview=None, created=None, status=200):
    now = timezone.now()
    range_key = _range(request)
    context = {
        "boards": [_pair_board(pair, now, range_key) for pair in Pair],
        "ranges": [(key, label) for key, (label, _) in RANGES.items()],
        "range_key": range_key,
        "range_label": RANGES[range_key][0],
        "form": form,
        "preview": preview,
        "created": created,
    }
    template = "rates/list.html#board" if request.htmx else "rates/list.html"
    # htmx swaps only 2xx answers, so its fragments carry their errors with a 200.
    return render(request, template, context, status=200 if request.htmx else status)


@require_GET
def rates_list(request: HtmxHttpRequest):
    form = RateForm() if request.user.has_perm(SET_RATES) else None
    return _render(request, form=form)


@require_POST
@rate_setter_required
def rate_create(request: HtmxHttpRequest):
    form = RateForm(request.POST)
    if form.is_valid() and _asks_again(form):
        return _render(request, form=form, status=400)
    if form.is_valid():
        try:
            row = services.rate_set(set_by=request.user, **form.service_arguments())
        except services.RateError as e:
            form.add_error(e.field if e.field in form.fields else None, e.message)
        else:
            if not request.htmx:
                messages.success(request, f"Rate set: {row}.")
                return redirect("rates-list")
            return _render(request, form=RateForm(initial={"pair": row.pair}), created=row)
    return _render(request, form=form, status=400)


LARGE_CHANGE = Decimal("0.05")


def _asks_again(form: RateForm) -> bool:
    """A rate more than 5 % away from the one in force is set only when submitted again."""
    rate = form.cleaned_data["rate"]
    current = rate_in_force(form.cleaned_data["pair"]).rate
    change = abs(rate - current) / current
    if change <= LARGE_CHANGE or form.cleaned_data["confirm_rate"] == str(rate):
        return False
    form.data = form.data.copy()
    form.data["confirm_rate"] = str(rate)
    form.add_error(
        "rate",
        f"This changes the rate by {change:.1%} from {current} in force now. Deposits are "
        "credited and withdrawals paid at it: press Set rate again to confirm.",
    )
    return True


@require_GET
@rate_setter_required
def rate_preview(request: HtmxHttpRequest):
    preview = RatePreviewForm(request.GET)
    if request.htmx:
        return render(request, "rates/list.html#preview", {"preview": preview})
    # Without JS the Preview button lands here: the whole page, the form as it was typed.
    status = 200 if preview.is_valid() else 400
    return _render(
        request, form=RateForm(initial=request.GET.dict()), preview=preview, status=status
    )
