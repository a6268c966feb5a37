"""Errors the kit raises for problems a user can fix (bad input, bad parameters, missing stages)."""


class KitError(Exception):
    """A problem the user can act on; its message says what and where."""


class BadInputError(KitError):
    """An input file is unusable. ``path`` names the file, ``reason`` says why."""

    def __init__(self, path, reason):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{path}: {reason}")


class ParamsError(KitError):
    """A parameter profile or a parameter value is malformed."""


class MissingStageError(KitError):
    """A stage needs the output of an earlier stage that has not run yet."""
