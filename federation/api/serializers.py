from __future__ import annotations

from rest_framework import serializers


class CheckSerializer(serializers.Serializer):
    ok = serializers.BooleanField()
    detail = serializers.CharField(required=False, allow_blank=True)


class StatusSerializer(serializers.Serializer):
    """Documents the shape of GET /api/v1/status (see federation.selectors.node_status)."""

    node_id = serializers.CharField(allow_null=True)
    display_name = serializers.CharField(allow_null=True)
    initialised = serializers.BooleanField()
    home = serializers.CharField()
    topology = serializers.ChoiceField(choices=["embedded", "production"])
    base_url = serializers.CharField()
    versions = serializers.DictField(child=serializers.JSONField())
    running = serializers.BooleanField()
    started_at = serializers.DateTimeField(allow_null=True)
    uptime_seconds = serializers.FloatField(allow_null=True)
    healthy = serializers.BooleanField()
    checks = serializers.DictField(child=CheckSerializer())
