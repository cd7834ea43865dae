"""The ingestion service: every device event, from REST, MQTT, CFX, a replay or the
demo, goes through `receive_device_events` (docs/ingestion.md).

- `service`: the public face (`receive_device_event(s)`, `replay_failed_message`);
- `rules`: the rules in order; `retries`: failures and retries; `errors`: refusals;
- `attempt`: one event on its way; `group_commit`: single posts sharing a commit;
- `fields`, `shape`: rule 1, the event's shape; `event_hash`: the canonical event;
  `stored_payload`: what a message keeps of it.

It may import `execution` and `mes`, never `integration.api` or a transport.
"""
