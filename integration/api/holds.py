"""The read API of holds (docs/api.md: holds): `GET /api/integration/holds`, for the
line's other systems (a line controller stopping a held unit, an ERP blocking it)."""

from django.db.models import Count
from django_filters import rest_framework as filters
from rest_framework import generics, serializers

from execution.models import Hold
from integration.ingestion.fields import UtcDateTimeField
from mes.api.permissions import ReadOrIngestPermission


class HoldSerializer(serializers.ModelSerializer):
    id = serializers.CharField(read_only=True)
    unitSn = serializers.CharField(source="unit.sn")
    runNo = serializers.SerializerMethodField()
    specId = serializers.CharField(source="spec_id")
    specName = serializers.CharField(source="spec.name")
    firstValueId = serializers.CharField(source="first_value_id")
    eventId = serializers.CharField(source="event_id")
    openedAt = UtcDateTimeField(source="opened_at")
    isOpen = serializers.BooleanField(source="is_open")
    valueCount = serializers.IntegerField(source="value_total")
    closedAt = UtcDateTimeField(source="closed_at", allow_null=True)
    closedBy = serializers.SerializerMethodField()
    disposition = serializers.CharField(allow_blank=True)

    class Meta:
        model = Hold
        fields = [
            "id",
            "unitSn",
            "runNo",
            "specId",
            "specName",
            "firstValueId",
            "limits",
            "eventId",
            "openedAt",
            "isOpen",
            "valueCount",
            "disposition",
            "note",
            "closedAt",
            "closedBy",
        ]

    def get_runNo(self, hold) -> str | None:
        run = hold.unit.run
        return run.run_no if run else None

    def get_closedBy(self, hold) -> str | None:
        return hold.closed_by.username if hold.closed_by else None


class HoldFilterSet(filters.FilterSet):
    open = filters.BooleanFilter(field_name="closed_at", lookup_expr="isnull")
    unitSn = filters.CharFilter(field_name="unit__sn")
    runNo = filters.CharFilter(field_name="unit__run__run_no")
    specId = filters.NumberFilter(field_name="spec_id")
    openedFrom = filters.IsoDateTimeFilter(field_name="opened_at", lookup_expr="gte")
    openedTo = filters.IsoDateTimeFilter(field_name="opened_at", lookup_expr="lte")

    class Meta:
        model = Hold
        fields = []


class HoldListView(generics.ListAPIView):
    """Holds, newest first; `?open=true` for the units held now."""

    # unit__run, spec, closed_by: the names in each item.
    queryset = (
        Hold.objects.select_related("unit__run", "spec", "closed_by")
        .annotate(value_total=Count("hold_values"))
        .order_by("-opened_at", "-pk")
    )
    cursor_fields = ["opened_at"]  # the ordering, for keyset pages
    serializer_class = HoldSerializer
    filterset_class = HoldFilterSet
    permission_classes = [ReadOrIngestPermission]
