"""Date and time formats of the back office, per language (FORMAT_MODULE_PATH)."""
