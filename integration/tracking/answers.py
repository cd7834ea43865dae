"""The answers of track-in and track-out (docs/api.md "Stations"), as first given and
as kept for re-sends; the serializers describe them for the OpenAPI schema."""

from rest_framework import serializers

from execution.models import Unit
from integration.answers import DataValueResultSerializer, HoldNoteSerializer, hold_answer
from integration.ingestion.fields import UtcDateTimeField, utc_text


def track_in_answer(outcome) -> dict:
    track, unit = outcome.track, outcome.unit
    return {
        "status": unit.status,
        "trackId": str(track.pk),
        "unitSn": unit.sn,
        "runNo": outcome.run.run_no,
        "stepNo": track.step_no,
        "stationCode": outcome.station.code,
        "inAt": utc_text(track.in_at),
    }


def track_out_answer(outcome) -> dict:
    track, unit = outcome.track, outcome.unit
    return {
        "status": unit.status,
        "trackId": str(track.pk),
        "unitSn": unit.sn,
        "runNo": outcome.run.run_no,
        "stationCode": outcome.station.code,
        "stepNo": track.step_no,
        "nextStepNo": outcome.next_step_no,
        "result": track.result,
        "inspectionOverride": track.inspection_override,
        "defectCode": track.defect_code or None,
        "defectLocation": track.defect_location or None,
        "outAt": utc_text(track.out_at),
        "values": [
            {
                "specId": str(value.spec_id),
                "specName": value.spec.name,
                "judge": value.judge,
                "alarmed": value.alarmed,
            }
            for value in outcome.values
        ],
        "hold": hold_answer(outcome.hold),
    }


class TrackInAnswerSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=Unit.Status.choices)
    trackId = serializers.CharField()
    unitSn = serializers.CharField()
    runNo = serializers.CharField()
    stepNo = serializers.IntegerField()
    stationCode = serializers.CharField()
    inAt = UtcDateTimeField()
    isDuplicate = serializers.BooleanField()


class TrackOutAnswerSerializer(serializers.Serializer):
    status = serializers.ChoiceField(
        choices=Unit.Status.choices, help_text="QUEUED, DONE, OUT_FAILED or ON_HOLD."
    )
    trackId = serializers.CharField()
    unitSn = serializers.CharField()
    runNo = serializers.CharField()
    stationCode = serializers.CharField()
    stepNo = serializers.IntegerField()
    nextStepNo = serializers.IntegerField(allow_null=True)
    result = serializers.CharField()
    inspectionOverride = serializers.BooleanField()
    defectCode = serializers.CharField(allow_null=True)
    defectLocation = serializers.CharField(allow_null=True)
    outAt = UtcDateTimeField()
    values = DataValueResultSerializer(many=True)
    hold = HoldNoteSerializer(allow_null=True)
    isDuplicate = serializers.BooleanField()
