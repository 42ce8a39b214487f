"""The one error the audit raises: its message is meant for the user, as one line."""

from imagine.errors import UserError


class AuditError(UserError):
    """A refused statement, bad SQL, or missing data; `str(error)` is a one-line explanation."""
