import zoneinfo

from django import forms

from notifications.models import Notification

TIME_ZONES = sorted(zoneinfo.available_timezones())


class SettingsForm(forms.Form):
    time_zone = forms.ChoiceField(
        label="Time zone",
        choices=[(tz, tz.replace("_", " ")) for tz in TIME_ZONES],
        help_text="Times on every page are shown in it.",
    )
    kinds = forms.MultipleChoiceField(
        label="Mail me when",
        choices=Notification.Kind.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
