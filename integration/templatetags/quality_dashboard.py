"""`{% quality_dashboard %}`: the figures of integration.dashboard on the admin index."""

from django import template

from integration.dashboard import build_dashboard

register = template.Library()


@register.inclusion_tag("admin/includes/quality_dashboard.html", takes_context=True)
def quality_dashboard(context):
    return {"dashboard": build_dashboard(context["request"].user)}
