"""Mail to people, always with a plain-text and an HTML part, from templates/<name>.txt and
templates/<name>.html."""

from typing import Any

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string


def mail_send(*, to: list[str], subject: str, template: str, context: dict[str, Any]) -> None:
    text = render_to_string(f"{template}.txt", context)
    html = render_to_string(f"{template}.html", context)
    message = EmailMultiAlternatives(
        subject=f"{settings.ACCOUNT_EMAIL_SUBJECT_PREFIX}{subject}",
        body=text,
        to=[address for address in to if address],
    )
    message.attach_alternative(html, "text/html")
    message.send()
