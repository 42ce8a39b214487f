"""TravelPlanner's Great Expectations suites (`sandbox`, `queries`), built on the generic `imagine.checks`."""
