from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from core.serializers import BoundedListField
from sons.models import SON

FINGERPRINT = r"^[0-9a-f]{64}$"
MAX_REPORTED_VERSIONS = 16  # per sidechain; the signer reports at most as many (signer/service.py)


class HeartbeatInput(serializers.Serializer):
    """A heartbeat signed with the SON's Bitcoin key; see docs/signer.md."""

    son = serializers.IntegerField(min_value=1, help_text="The SON's id (GET son/me).")
    timestamp = serializers.IntegerField(min_value=0, help_text="Unix time, seconds.")
    nonce = serializers.RegexField(
        r"^[0-9a-f]{32}$", help_text="32 lowercase hex characters, random, never reused."
    )
    version = serializers.ChoiceField(
        choices=[1, 2],
        default=1,
        help_text="What the signature covers (docs/signer.md). 1 (the default): son, timestamp"
        " and nonce only; a heartbeat of version 1 that has `federations` or"
        " `hive_federations` is refused (code unsigned_lists). 2: also both lists.",
    )
    signature = serializers.RegexField(
        r"^[0-9a-f]{16,146}$",
        help_text="DER ECDSA signature (hex) with the SON's Bitcoin key over sha256 of"
        " 'sonportal-heartbeat:v1:' + son + ':' + timestamp + ':' + nonce (version 1), or of"
        " 'sonportal-heartbeat:v2:' + son + ':' + timestamp + ':' + nonce + ':' + L (version"
        " 2), L being the SHA-256 hex of F(federations) + ';' + F(hive_federations), where"
        " F(list) is its fingerprints sorted, without duplicates, joined by ',' ('' for an"
        " empty list) and F(missing) is '-'.",
    )
    federations = BoundedListField(
        child=serializers.RegexField(FINGERPRINT, max_length=64),
        max_length=MAX_REPORTED_VERSIONS,
        required=False,
        help_text="Fingerprints (SHA-256 hex of the sorted hex keys joined by commas) of the"
        " Bitcoin federation versions the signer's configuration accepts, signed (version 2)."
        " They tell people and the rotation's move which SONs consent; the signer enforces its"
        " configuration itself.",
    )
    hive_federations = BoundedListField(
        child=serializers.RegexField(FINGERPRINT, max_length=64),
        max_length=MAX_REPORTED_VERSIONS,
        required=False,
        help_text="The same for the Hive federation versions its configuration accepts"
        " (hive.accepted_federations; the keys as 66 hex digits, as the portal stores them)."
        " Missing from a heartbeat that has `federations`: none.",
    )


class HeartbeatOutput(serializers.Serializer):
    son = serializers.IntegerField(source="pk")
    name = serializers.CharField()
    status = serializers.ChoiceField(choices=SON.Status.choices)
    last_heartbeat_at = serializers.DateTimeField(allow_null=True)


class SONOutput(HeartbeatOutput):
    public_keys = serializers.SerializerMethodField()

    @extend_schema_field(serializers.DictField(child=serializers.CharField()))
    def get_public_keys(self, son: SON) -> dict[str, str]:
        return {key.sidechain: key.public_key for key in son.public_keys.all()}


class RejectionOutput(serializers.Serializer):
    detail = serializers.CharField()
    code = serializers.CharField()
