"""Clinical rules as pure functions: CTCAE v5 grades, ASTCT CRS/ICANS, aplastic anemia severity and
response, doses, units and dates. No I/O; missing or malformed inputs give None, never an exception."""
