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


@register.simple_tag
def explorer_tx(txid: str):
    """The txid, linked to the block explorer set for the network (BITCOIN_EXPLORER_TX_URL,
    `{txid}` in it), or plain when none is set (regtest)."""
    from django.conf import settings

    url = settings.BITCOIN_EXPLORER_TX_URL
    if not url or not txid:
        return txid
    return format_html('<a href="{}" rel="noopener noreferrer">{}</a>', url.format(txid=txid), txid)
