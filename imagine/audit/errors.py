"""The one error the audit raises: its message is meant for the user, as one line."""


class AuditError(Exception):
    """A refused statement, bad SQL, or missing data; `str(error)` is a one-line explanation."""
