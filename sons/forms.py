from django import forms


class TokenRotationForm(forms.Form):
    """The operator's "issue a new API token" on their SON's page."""

    reason = forms.CharField(
        max_length=200,
        required=False,
        help_text="Kept in the audit log; empty: a routine rotation.",
    )
