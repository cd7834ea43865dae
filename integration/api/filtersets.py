"""Filters of the read API (docs/api.md); a value that cannot be parsed is a 400."""

from django import forms
from django_filters import rest_framework as filters

from integration.models import DeviceDataRecord, IntegrationMessage


class WholeNumberFilter(filters.Filter):
    field_class = forms.IntegerField


class DeviceDataRecordFilterSet(filters.FilterSet):
    eventId = filters.CharFilter(field_name="event_id")
    runNo = filters.CharFilter(field_name="run_no")
    unitSn = filters.CharFilter(field_name="unit_sn")
    stationCode = filters.CharFilter(field_name="station_code")
    stepNo = WholeNumberFilter(field_name="step_no")
    source = filters.ChoiceFilter(choices=DeviceDataRecord.Source.choices)
    eventFrom = filters.IsoDateTimeFilter(field_name="event_time", lookup_expr="gte")
    eventTo = filters.IsoDateTimeFilter(field_name="event_time", lookup_expr="lte")

    class Meta:
        model = DeviceDataRecord
        fields = []


class IntegrationMessageFilterSet(filters.FilterSet):
    status = filters.ChoiceFilter(choices=IntegrationMessage.Status.choices)
    system = filters.ChoiceFilter(choices=IntegrationMessage.System.choices)
    entityType = filters.ChoiceFilter(
        field_name="entity_type", choices=IntegrationMessage.EntityType.choices
    )
    businessKey = filters.CharFilter(field_name="business_key")
    createdFrom = filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    createdTo = filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="lte")
    # A choice, not a BooleanFilter: that one takes an unknown value as "no filter".
    acknowledged = filters.ChoiceFilter(
        choices=[("true", "true"), ("false", "false")], method="filter_acknowledged"
    )

    class Meta:
        model = IntegrationMessage
        fields = []

    def filter_acknowledged(self, queryset, name, value):
        return queryset.filter(acknowledged_at__isnull=value != "true")
