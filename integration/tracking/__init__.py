"""Track in and track out at the boundary: the calls' shape, exactly once by eventId, the
kept refusals and replays (docs/execution.md). REST calls `service`; CFX calls `machine`,
which calls `service`."""
