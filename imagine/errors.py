"""The base of the project's own user-facing errors (bad input, bad config, a missing file or model).

A stage reports one of these (or a ValueError / TypeError / OSError) in one line and writes nothing
(`imagine.stage`); anything else is a bug and keeps its traceback."""


class UserError(Exception):
    """A failure the user can fix; the message says what and where."""
