from rest_framework import serializers

from sidechains.models import SON


class HeartbeatOutput(serializers.Serializer):
    son = serializers.IntegerField(source="pk")
    name = serializers.CharField()
    status = serializers.ChoiceField(choices=SON.Status.choices)
    last_heartbeat_at = serializers.DateTimeField()


class SigningRequestList(serializers.Serializer):
    results = serializers.ListField(child=serializers.DictField())
