"""Wraps successful API answers in the envelope `{"ok": true, "data": …}`, encoded by orjson.

DRF's JSONRenderer encodes with the standard library: a batch of 500 events' answer took
about a twentieth of the batch's time in the worker (py-spy, bench/README.md). orjson
writes the same compact JSON; what it would write differently is handed to DRF's own
encoder (dates and times in DRF's form, decimals, lazy text) or escaped as DRF escapes
it (U+2028, U+2029). What orjson cannot encode at all (an integer beyond 64 bits) and a
pretty-printed answer (`Accept: application/json; indent=4`) go through DRF's renderer.
tests/mes/test_renderer.py holds the two encoders to the same bytes.
"""

import orjson
from rest_framework.renderers import JSONRenderer
from rest_framework.utils.encoders import JSONEncoder

# Handed to `default`: DRF's forms of them, not orjson's (RFC 3339 with microseconds).
PASSTHROUGH = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS
_drf_default = JSONEncoder().default


class EnvelopeJSONRenderer(JSONRenderer):
    # Compact output and real UTF-8: gateways parse it, people use the admin.
    compact = True
    ensure_ascii = False

    def render(self, data, accepted_media_type=None, renderer_context=None):
        response = (renderer_context or {}).get("response")
        already_wrapped = isinstance(data, dict) and data.get("ok") is False
        if response is not None and not already_wrapped and not response.exception:
            data = {"ok": True, "data": data}
        if data is None or self.get_indent(accepted_media_type, renderer_context or {}):
            return super().render(data, accepted_media_type, renderer_context)
        try:
            body = orjson.dumps(data, default=_drf_default, option=PASSTHROUGH)
        except orjson.JSONEncodeError:  # an integer past 64 bits, say: DRF's way, slower
            return super().render(data, accepted_media_type, renderer_context)
        if b"\xe2\x80\xa8" in body or b"\xe2\x80\xa9" in body:  # as DRF: a JavaScript subset
            body = body.replace(b"\xe2\x80\xa8", b"\\u2028").replace(b"\xe2\x80\xa9", b"\\u2029")
        return body
