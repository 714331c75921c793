from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from accounts.models import profile_of
from notifications.forms import SettingsForm
from notifications.models import Notification

ALL_KINDS = set(Notification.Kind.values)


@require_http_methods(["GET", "POST"])
@login_required
def settings_page(request: HttpRequest):
    """The person's time zone and the notifications they get (their own data only)."""
    profile = profile_of(request.user)
    if request.method == "POST":
        form = SettingsForm(request.POST)
        if form.is_valid():
            profile.time_zone = form.cleaned_data["time_zone"]
            profile.muted = sorted(ALL_KINDS - set(form.cleaned_data["kinds"]))
            profile.save(update_fields=["time_zone", "muted"])
            messages.success(request, "Settings saved.")
            return redirect("notifications-settings")
    else:
        wanted = sorted(ALL_KINDS - set(profile.muted))
        form = SettingsForm(initial={"time_zone": profile.time_zone, "kinds": wanted})
    recent = Notification.objects.filter(user=request.user, skipped=False)[:10]
    status = 400 if form.is_bound else 200  # a bound form here did not validate
    return render(
        request, "notifications/settings.html", {"form": form, "recent": recent}, status=status
    )
