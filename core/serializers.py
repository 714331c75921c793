"""DRF fields shared by the apps' API inputs."""

from rest_framework import serializers


class BoundedListField(serializers.ListField):
    """A ListField that refuses an over-long list before it validates a single item."""

    def to_internal_value(self, data):
        if isinstance(data, list) and self.max_length is not None and len(data) > self.max_length:
            self.fail("max_length", max_length=self.max_length)
        return super().to_internal_value(data)
