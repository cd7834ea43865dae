"""Master-data calls from other systems (docs/master-data.md): each upsert of
execution.master_data run with its IntegrationMessage (system PLM for stations,
operations and routes, ERP for runs), SUCCESS in the transaction that writes the data,
or FAILED with the refusal's code after it rolled back, as tracking keeps its refusals.
The API calls these; `MasterDataCallRefused` is its answer to a refusal."""

from dataclasses import dataclass

from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from execution.master_data import (
    MasterDataRefused,
    Outcome,
    upsert_operation,
    upsert_route_version,
    upsert_run,
    upsert_station,
)
from integration.ingestion.rules import resolve_failed_messages
from integration.models import IntegrationMessage
from mes.api.exceptions import ApiError
from mes.db import insert_models, new_model

Entity = IntegrationMessage.EntityType
System = IntegrationMessage.System

# Who sends each kind: engineering (PLM) owns the line and its routes, the ERP its orders.
SYSTEM_OF = {
    Entity.STATION: System.PLM,
    Entity.OPERATION: System.PLM,
    Entity.ROUTE: System.PLM,
    Entity.RUN: System.ERP,
}
MASTER_DATA_ENTITY_TYPES = frozenset(SYSTEM_OF)
STATUS_BY_CODE = {
    "VALIDATION_ERROR": 400,
    "ROUTE_VERSION_IN_USE": 409,
    "UNIT_HAS_TRACKS": 409,
    "RUN_STARTED": 409,
    "SPEC_HAS_VALUES": 409,
}
# A unique key won by a concurrent call of the same item: taken again, it finds the row.
TRIES = 2


def is_master_data(message: IntegrationMessage) -> bool:
    return message.entity_type in MASTER_DATA_ENTITY_TYPES


def status_of(code: str) -> int:
    """400 for a body not as documented, 409 for what the data's state refuses, 422 for a
    reference not found (OPERATION_NOT_FOUND, …)."""
    return STATUS_BY_CODE.get(code, 422)


class MasterDataCallRefused(ApiError):
    """A refused call, kept as a FAILED message: its code, item and field."""

    def __init__(self, refusal: MasterDataRefused, message: IntegrationMessage):
        details = {**refusal.details, "messageId": str(message.pk)}
        super().__init__(refusal.code, refusal.message, status_of(refusal.code), details)
        self.failed_message = message


@dataclass
class MasterDataAnswer:
    outcome: Outcome
    message: IntegrationMessage

    @property
    def answer(self) -> dict:
        return {**self.outcome.as_answer(), "messageId": str(self.message.pk)}


def put_station(payload, *, code: str, sent_by) -> MasterDataAnswer:
    """Create or update the station `code` (docs/master-data.md). Raises
    MasterDataCallRefused (kept as a FAILED message)."""
    upsert = lambda data: upsert_station(data, code=code)  # noqa: E731
    return _receive(Entity.STATION, code, {"code": code}, payload, sent_by, upsert)


def put_operation(payload, *, code: str, sent_by) -> MasterDataAnswer:
    """Create or update the operation `code` and the specs it names."""
    upsert = lambda data: upsert_operation(data, code=code)  # noqa: E731
    return _receive(Entity.OPERATION, code, {"code": code}, payload, sent_by, upsert)


def put_route_version(payload, *, code: str, version_no: int, sent_by) -> MasterDataAnswer:
    """Create a route version, or change one no run uses (409 ROUTE_VERSION_IN_USE)."""
    return _receive(
        Entity.ROUTE,
        f"{code}/v{version_no}",
        {"code": code, "version": version_no},
        payload,
        sent_by,
        lambda data: upsert_route_version(data, code=code, version_no=version_no),
    )


def put_run(payload, *, run_no: str, sent_by) -> MasterDataAnswer:
    """Create or update the run `run_no` and plan its serials (409 UNIT_HAS_TRACKS)."""
    upsert = lambda data: upsert_run(data, run_no=run_no)  # noqa: E731
    return _receive(Entity.RUN, run_no, {"runNo": run_no}, payload, sent_by, upsert)


def _receive(entity, key, url_keys, payload, sent_by, upsert) -> MasterDataAnswer:
    business_key = f"master-data:{entity}:{key}"
    stored = {**payload, **url_keys} if isinstance(payload, dict) else {"body": payload}

    def message(status, **fields):
        return new_model(
            IntegrationMessage,
            direction=IntegrationMessage.Direction.IN,
            system=SYSTEM_OF[entity],
            entity_type=entity,
            business_key=business_key,
            dedupe_key=business_key,
            status=status,
            payload=stored,
            sent_by_id=getattr(sent_by, "pk", None),
            **fields,
        )

    for attempt in range(1, TRIES + 1):
        try:
            with transaction.atomic():
                outcome = upsert(payload)
                success = message(IntegrationMessage.Status.SUCCESS)
                # Earlier refusals of this item are answered by this write.
                resolve_failed_messages([business_key], timezone.now())
                insert_models([success])
            return MasterDataAnswer(outcome, success)
        except MasterDataRefused as refusal:
            failed = message(
                IntegrationMessage.Status.FAILED,
                error_code=refusal.code,
                error_message=refusal.message,
            )
            insert_models([failed])
            raise MasterDataCallRefused(refusal, failed) from None
        except IntegrityError:
            if attempt == TRIES or connection.in_atomic_block:
                raise
    raise AssertionError("unreachable")
