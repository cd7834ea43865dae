"""Content negotiation that answers JSON rather than 406 (docs/api.md lists no 406).

Gateways written for the replaced system may send any Accept header, or none
that fits; refusing them with 406 would lose their data. A request whose Accept
or `?format=` the view cannot satisfy is answered in the view's first renderer
(the JSON envelope for every API view).
"""

from django.http import Http404
from rest_framework import exceptions
from rest_framework.negotiation import DefaultContentNegotiation


class FirstRendererFallbackNegotiation(DefaultContentNegotiation):
    def select_renderer(self, request, renderers, format_suffix=None):
        try:
            return super().select_renderer(request, renderers, format_suffix)
        except (exceptions.NotAcceptable, Http404):
            return renderers[0], renderers[0].media_type
