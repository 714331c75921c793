"""Progress that reads right: "1 of 2 confirmations", capped at the target and marked done,
with a progress bar for the eye and the same words for screen readers."""

from django import template
from django.utils.html import format_html

register = template.Library()


@register.simple_tag
def progress(done: int | None, target: int, noun: str = "confirmations"):
    if done is None:
        return "node unavailable"
    shown = max(0, min(int(done), int(target)))
    finished = shown >= target
    return format_html(
        '<span class="progress-text">{} of {} {}{}</span>'
        '<progress class="bar" max="{}" value="{}" aria-hidden="true"></progress>',
        shown,
        target,
        noun,
        " ✓ done" if finished else "",
        target,
        shown,
    )
