"""The back office of `execution`: master data, runs, collected values, holds and SPC.

Importing the package registers every admin (Django's autodiscovery imports it).
Its modules use the back-office kit in `mes/admin/` and the services of `execution`;
they import nothing of `integration`.
"""

from execution.admin import (  # noqa: F401  (registers)
    dispositions,
    holds,
    master_data,
    reason_codes,
    runs,
    spc_decisions,
    specs,
    values,
)
