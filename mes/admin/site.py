"""The back office's name, home link, empty cell and date-time text (docs/back-office.md).

Django's default admin site stays the back office (its URL names are the contract);
this sets what it shows: the product's name instead of "Django administration", a
"View site" link to the API documentation (the product has no other public page), one
dash for an empty cell, no menu column beside the lists, and `moment()`, the one
date-time text of computed columns, the same as Django's for date-time fields
(mes/formats/en/formats.py).
"""

from django.contrib import admin
from django.utils import formats, timezone

PRODUCT = "SMT MES"
EMPTY = "—"


def configure_admin_site(site: admin.AdminSite) -> None:
    """Name the product on every page, and link "View site" to the API docs."""
    site.site_header = f"{PRODUCT} back office"
    site.site_title = PRODUCT
    site.index_title = "Quality and integration"
    site.site_url = "/api/docs/"
    site.empty_value_display = EMPTY
    # The menu beside every page took 300 of a 1,400 px screen's width from the lists; it
    # repeats the front page's, one click away (Home).
    site.enable_nav_sidebar = False


def moment(value) -> str:
    """A date-time as every list shows it (2026-11-30 14:03:27, site time zone); a dash
    for none."""
    if value is None:
        return EMPTY
    return formats.date_format(timezone.localtime(value), "DATETIME_FORMAT")
