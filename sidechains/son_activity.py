"""What each SON did in the pipelines, for the SON pages (sons/activity.py asks; sons sits
below sidechains, so this module registers itself there when the app is ready): Bitcoin and
Hive transactions signed, and Bitcoin signing requests refused, with the reasons in words.
Hive refusals are noted on the transaction only, not per SON, so they are not counted."""

from collections import Counter
from collections.abc import Sequence
from datetime import datetime, timedelta

from sidechains.models import HiveSignature, SignerRefusal, TxSignature
from sidechains.refusals import reason_words
from sons.activity import ActivityRow, count_rows

NONE = (0, 0, 0, 0)


def signing_activity(son_ids: Sequence[int], now: datetime) -> dict[int, tuple[list, list]]:
    """Four queries whatever the number of SONs."""
    bitcoin = count_rows(
        TxSignature.objects.filter(son_id__in=son_ids), "son_id", "created_at", now, "sidechain_tx"
    )
    hive = count_rows(
        HiveSignature.objects.filter(son_id__in=son_ids), "son_id", "created_at", now, "hive_tx"
    )
    refusals = count_rows(
        SignerRefusal.objects.filter(son_id__in=son_ids), "son_id", "created_at", now
    )
    reasons = _reasons(son_ids, now - timedelta(days=30))
    return {
        son_id: (
            [
                ActivityRow(
                    "bitcoin_signed", "Bitcoin transactions signed", bitcoin.get(son_id, NONE)
                ),
                ActivityRow("hive_signed", "Hive transactions signed", hive.get(son_id, NONE)),
                ActivityRow(
                    "refused", "Bitcoin signing requests refused", refusals.get(son_id, NONE)
                ),
            ],
            sorted(reasons.get(son_id, Counter()).items(), key=lambda kv: (-kv[1], kv[0])),
        )
        for son_id in son_ids
    }


def _reasons(son_ids: Sequence[int], since: datetime) -> dict[int, Counter]:
    """Per SON, how many refusals gave each reason (in words; a refusal with several codes
    that read the same counts once for them)."""
    out: dict[int, Counter] = {}
    rows = SignerRefusal.objects.filter(son_id__in=son_ids, created_at__gte=since)
    for son_id, codes in rows.values_list("son_id", "reasons"):
        words = {reason_words(str(code)) for code in codes or []}
        out.setdefault(son_id, Counter()).update(words)
    return out
