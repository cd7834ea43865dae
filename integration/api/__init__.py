"""The REST API of `integration`: views, response serializers, filter sets and URLs
(docs/api.md). Views translate and answer; the rules are in the services below.
"""
