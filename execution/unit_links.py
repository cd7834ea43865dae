"""Links to a unit's page, from any admin row that names a unit.

A row that holds the unit itself links to its page directly; a row that only names its
serial number (a record, a message's payload) links through the by-serial address, which
redirects, so a list of a hundred rows costs no query for its links.
"""

from django.urls import reverse
from django.utils.html import format_html

from execution.models import Unit


def unit_page_url(unit: Unit) -> str:
    """The unit's page (admin/execution/unit/<id>/page/)."""
    return reverse("admin:execution_unit_page", args=[unit.pk])


def unit_by_sn_url(sn: str) -> str:
    """The address that finds a unit by its serial number and redirects to its page."""
    return reverse("admin:execution_unit_by_sn", args=[sn])


def unit_link(sn_or_unit: Unit | str | None) -> str:
    """An HTML link to the unit's page, labelled with its serial number; "—" for none."""
    if isinstance(sn_or_unit, Unit):
        return format_html(
            '<a class="mes-unit-link" href="{}">{}</a>', unit_page_url(sn_or_unit), sn_or_unit.sn
        )
    if not sn_or_unit:
        return "—"
    return format_html(
        '<a class="mes-unit-link" href="{}">{}</a>', unit_by_sn_url(sn_or_unit), sn_or_unit
    )
