from imagine.sandbox.tables import (  # noqa: F401
    CUISINES, HOUSE_RULES, ROOM_TYPES, SCHEMA, TABLES, Sandbox, SandboxError, read_official,
)
