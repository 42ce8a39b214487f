from imagine.domains.travelplanner.sandbox.tables import (  # noqa: F401
    CUISINES, HOUSE_RULES, ROOM_TYPE_OK, ROOM_TYPES, SCHEMA, TABLES, Sandbox, SandboxError, read_official,
)
