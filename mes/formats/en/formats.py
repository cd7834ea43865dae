"""One date-time format for every list and page: 2026-11-30 14:03:27, in the site's TIME_ZONE.

Seconds are shown because events of one unit come seconds apart; the order year-month-day
sorts as text and reads the same in every plant. Only display formats are set: what
date and time boxes accept stays Django's.
"""

DATETIME_FORMAT = "Y-m-d H:i:s"
SHORT_DATETIME_FORMAT = "Y-m-d H:i:s"
DATE_FORMAT = "Y-m-d"
SHORT_DATE_FORMAT = "Y-m-d"
TIME_FORMAT = "H:i:s"
