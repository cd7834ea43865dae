"""Wraps successful API answers in the envelope `{"ok": true, "data": …}`."""

from rest_framework.renderers import JSONRenderer


class EnvelopeJSONRenderer(JSONRenderer):
    # Compact output and real UTF-8: gateways parse it, people use the admin.
    compact = True
    ensure_ascii = False

    def render(self, data, accepted_media_type=None, renderer_context=None):
        response = (renderer_context or {}).get("response")
        already_wrapped = isinstance(data, dict) and data.get("ok") is False
        if response is not None and not already_wrapped and not response.exception:
            data = {"ok": True, "data": data}
        return super().render(data, accepted_media_type, renderer_context)
