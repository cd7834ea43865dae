"""Display helpers shared by the back office's pages: badges, JSON blocks and links."""

import json
from urllib.parse import urlencode

from django.urls import reverse
from django.utils.html import format_html


def badge(code: str, label: str | None = None):
    """A coloured label for a status, judge or alarm (styled in admin/includes/mes_styles.html)."""
    return format_html('<span class="mes-badge mes-badge-{}">{}</span>', code, label or code)


def pretty_json(value):
    """JSON as an indented, scrollable block."""
    if value is None:
        return "—"
    text = json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True)
    return format_html('<pre class="mes-json">{}</pre>', text)


def admin_link(url: str, text) -> str:
    return format_html('<a href="{}">{}</a>', url, text)


def changelist_url(app_label: str, model_name: str, **params) -> str:
    return reverse(f"admin:{app_label}_{model_name}_changelist") + "?" + urlencode(params)
