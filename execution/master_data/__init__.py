"""Master data in by business key: stations, operations with their specs, route versions
and runs with their serials, each upserted all or nothing (docs/master-data.md). The
API, `manage.py import_master_data` and the admin's import call these; nothing here
knows a transport."""

from execution.master_data.bundle import import_bundle, preview_bundle, summary
from execution.master_data.catalog import upsert_operation, upsert_station
from execution.master_data.errors import MasterDataRefused, Outcome
from execution.master_data.routes import upsert_route_version
from execution.master_data.runs import upsert_run

__all__ = [
    "MasterDataRefused",
    "Outcome",
    "import_bundle",
    "preview_bundle",
    "summary",
    "upsert_operation",
    "upsert_route_version",
    "upsert_run",
    "upsert_station",
]
