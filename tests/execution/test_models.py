"""Database constraints of what is stored (docs/ingestion.md): each fails if its constraint goes."""

import pytest
from django.db import IntegrityError, transaction
from django.db.models import ProtectedError

from execution.models import DataSpec, DataValue, RouteStep, Track, Unit
from integration.models import DeviceDataRecord, IntegrationMessage
from tests.factories import (
    BASE_TIME,
    CarrierTrackFactory,
    DataSpecFactory,
    OperationFactory,
    RouteStepFactory,
    RouteVersionFactory,
    TrackFactory,
)

pytestmark = pytest.mark.django_db


def make_value(spec, *, track=None, carrier_track=None, **fields) -> DataValue:
    return DataValue.objects.create(
        spec=spec,
        track=track,
        carrier_track=carrier_track,
        collected_at=BASE_TIME,
        value_number=245.0,
        limits=spec.limits,
        judge=DataValue.Judge.PASS,
        source="AUTO",
        source_ref="device-data:evt-1",
        **fields,
    )


def make_record(event_id="evt-1", **fields) -> DeviceDataRecord:
    fields = {
        "event_time": BASE_TIME,
        "source": DeviceDataRecord.Source.AUTO,
        "data": [{"specName": "Peak Temperature", "valueNumber": 245}],
        "payload_hash": "0" * 64,
        **fields,
    }
    return DeviceDataRecord.objects.create(event_id=event_id, **fields)


# --- DataValue: exactly one of track and carrier_track -----------------------------------------


def test_data_value_on_a_track_is_stored():
    value = make_value(DataSpecFactory(), track=TrackFactory())
    assert DataValue.objects.get(pk=value.pk).track_id == value.track_id


def test_data_value_on_a_carrier_track_is_stored():
    value = make_value(DataSpecFactory(), carrier_track=CarrierTrackFactory())
    assert DataValue.objects.get(pk=value.pk).carrier_track_id == value.carrier_track_id


def test_data_value_with_both_track_and_carrier_track_is_refused_by_the_database():
    spec, track, carrier_track = DataSpecFactory(), TrackFactory(), CarrierTrackFactory()
    with pytest.raises(IntegrityError), transaction.atomic():
        make_value(spec, track=track, carrier_track=carrier_track)
    assert not DataValue.objects.exists()


def test_data_value_with_neither_track_nor_carrier_track_is_refused_by_the_database():
    spec = DataSpecFactory()
    with pytest.raises(IntegrityError), transaction.atomic():
        make_value(spec)
    assert not DataValue.objects.exists()


def test_data_value_moved_onto_both_tracks_by_an_update_is_refused():
    value = make_value(DataSpecFactory(), track=TrackFactory())
    carrier_track = CarrierTrackFactory()
    with pytest.raises(IntegrityError), transaction.atomic():
        DataValue.objects.filter(pk=value.pk).update(carrier_track=carrier_track)
    assert DataValue.objects.get(pk=value.pk).carrier_track_id is None


# --- uniqueness --------------------------------------------------------------------------------


def test_duplicate_event_id_is_refused_by_the_database():
    make_record("evt-42")
    with pytest.raises(IntegrityError), transaction.atomic():
        make_record("evt-42", payload_hash="1" * 64)
    assert DeviceDataRecord.objects.filter(event_id="evt-42").count() == 1


def test_different_event_ids_are_both_stored():
    make_record("evt-1")
    make_record("evt-2")
    assert DeviceDataRecord.objects.count() == 2


def test_duplicate_spec_name_in_one_operation_is_refused():
    operation = OperationFactory()
    DataSpecFactory(operation=operation, name="Peak Temperature")
    with pytest.raises(IntegrityError), transaction.atomic():
        DataSpecFactory(operation=operation, name="Peak Temperature")
    assert DataSpec.objects.filter(operation=operation).count() == 1


def test_same_spec_name_in_another_operation_is_allowed():
    DataSpecFactory(operation=OperationFactory(code="OP-REFLOW"), name="Conveyor Speed")
    DataSpecFactory(operation=OperationFactory(code="OP-WAVE"), name="Conveyor Speed")
    assert DataSpec.objects.filter(name="Conveyor Speed").count() == 2


def test_duplicate_step_number_in_one_route_version_is_refused():
    route = RouteVersionFactory()
    RouteStepFactory(route_version=route, step_no=40)
    with pytest.raises(IntegrityError), transaction.atomic():
        RouteStepFactory(route_version=route, step_no=40)
    assert RouteStep.objects.filter(route_version=route).count() == 1


def test_same_step_number_in_another_route_version_is_allowed():
    RouteStepFactory(route_version=RouteVersionFactory(code="ROUTE-A"), step_no=40)
    RouteStepFactory(route_version=RouteVersionFactory(code="ROUTE-A", version_no=2), step_no=40)
    assert RouteStep.objects.filter(step_no=40).count() == 2


def test_duplicate_route_code_and_version_is_refused():
    RouteVersionFactory(code="ROUTE-SMT", version_no=1)
    with pytest.raises(IntegrityError), transaction.atomic():
        RouteVersionFactory(code="ROUTE-SMT", version_no=1)


# --- PROTECT: measured data is never deleted by cascade ----------------------------------------


def test_deleting_a_track_with_data_values_is_refused():
    track = TrackFactory()
    value = make_value(DataSpecFactory(), track=track)
    with pytest.raises(ProtectedError):
        track.delete()
    assert DataValue.objects.filter(pk=value.pk, track=track).exists()


def test_deleting_a_track_a_device_data_record_points_at_is_refused():
    track = TrackFactory()
    record = make_record(track=track)
    with pytest.raises(ProtectedError):
        track.delete()
    assert DeviceDataRecord.objects.get(pk=record.pk).track_id == track.pk


def test_deleting_a_carrier_track_with_data_values_is_refused():
    carrier_track = CarrierTrackFactory()
    make_value(DataSpecFactory(), carrier_track=carrier_track)
    with pytest.raises(ProtectedError):
        carrier_track.delete()
    assert DataValue.objects.filter(carrier_track=carrier_track).count() == 1


def test_deleting_a_unit_whose_track_holds_data_values_is_refused():
    track = TrackFactory()
    make_value(DataSpecFactory(), track=track)
    with pytest.raises(ProtectedError):
        track.unit.delete()
    assert Unit.objects.filter(pk=track.unit_id).exists()
    assert Track.objects.filter(pk=track.pk).exists()
    assert DataValue.objects.filter(track=track).count() == 1


def test_deleting_a_spec_with_data_values_is_refused():
    spec = DataSpecFactory()
    make_value(spec, track=TrackFactory())
    with pytest.raises(ProtectedError):
        spec.delete()
    assert DataSpec.objects.filter(pk=spec.pk).exists()


def test_deleting_an_operation_a_device_data_record_points_at_is_refused():
    operation = OperationFactory()  # no specs, so only the record protects it
    record = make_record(operation=operation)
    with pytest.raises(ProtectedError):
        operation.delete()
    assert DeviceDataRecord.objects.get(pk=record.pk).operation_id == operation.pk


def test_deleting_an_operation_whose_spec_holds_data_values_is_refused():
    spec = DataSpecFactory()
    make_value(spec, track=TrackFactory())
    with pytest.raises(ProtectedError):
        spec.operation.delete()
    assert DataValue.objects.filter(spec=spec).count() == 1


def test_deleting_a_record_that_messages_point_at_is_refused():
    record = make_record()
    IntegrationMessage.objects.create(
        business_key="device-data:evt-1",
        dedupe_key="device-data:evt-1",
        status=IntegrationMessage.Status.SUCCESS,
        payload={"eventId": "evt-1"},
        record=record,
    )
    with pytest.raises(ProtectedError):
        record.delete()
    assert IntegrationMessage.objects.filter(record=record).count() == 1


def test_track_without_measured_data_can_be_deleted():
    track = TrackFactory()
    track.delete()
    assert not Track.objects.filter(pk=track.pk).exists()
