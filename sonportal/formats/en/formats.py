# One time format on every page, with the zone it is in (the person's, chosen in their
# settings; UTC by default): 2026-12-01 11:15 UTC.
DATETIME_FORMAT = "Y-m-d H:i T"
SHORT_DATETIME_FORMAT = "Y-m-d H:i T"
DATE_FORMAT = "Y-m-d"
SHORT_DATE_FORMAT = "Y-m-d"
TIME_FORMAT = "H:i"
