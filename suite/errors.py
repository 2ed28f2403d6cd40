"""The one exception type for bad input: its message is the whole, one-line story."""


class UserError(Exception):
    """Bad input or environment: the CLI and the pytest plugin print it as one line.

    The message names the file (or option), the field, and the fix; no traceback is shown.
    """
