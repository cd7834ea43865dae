"""The label values mes/metrics.py makes at 0 from the start are the ones that occur:
the ingestion views by their URL names, the 422 codes of docs/api.md, every database
error cause."""

import re
from pathlib import Path

from django.conf import settings
from django.urls import reverse

from mes.database_errors import Cause
from mes.metrics import CAUSES, EVENT_OUTCOMES, INGESTION_VIEWS, REFUSAL_CODES


def test_the_ingestion_views_named_in_the_metrics_are_url_names():
    for view in INGESTION_VIEWS:
        assert reverse(view).startswith("/api/integration/device-data")


def test_the_refusal_codes_are_docs_api_mds_422_codes():
    api = (Path(settings.BASE_DIR) / "docs/api.md").read_text()
    statuses = api.split("## Statuses and error codes", 1)[1].split("\n## ", 1)[0]
    (row,) = [line for line in statuses.splitlines() if line.startswith("| 422 |")]
    documented = re.findall(r"`([A-Z_]+)`", row.split("|")[2])
    assert len(documented) >= 10
    assert sorted(REFUSAL_CODES) == sorted(documented)
    assert {("failed", code) for code in documented} <= set(EVENT_OUTCOMES)


def test_every_database_error_cause_has_its_series():
    assert set(CAUSES) == {cause.name.lower() for cause in Cause}
