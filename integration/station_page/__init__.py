"""The station page: an operator's terminal to track units in and out (docs/station-page.md)."""
