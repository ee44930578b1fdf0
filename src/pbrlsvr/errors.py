"""The project's exception types.

Every error a user can cause (a bad config key, a malformed data row, an unknown language,
a model package that is not installed) is raised as a subclass of :class:`PbrlsvrError`, so
the CLI can print its message plainly instead of a traceback, and library users can catch one
type.
"""

from __future__ import annotations


class PbrlsvrError(Exception):
    """Base class for errors caused by user input or the environment, not by a bug."""


class ConfigError(PbrlsvrError, ValueError):
    """A configuration file or override is malformed: names the key, the value and what was expected."""


class DataError(PbrlsvrError, ValueError):
    """A data file or dataset cannot be read as problems (missing column, malformed row, ...)."""


class UnknownLanguageError(PbrlsvrError, ValueError):
    """A language code is not in :data:`pbrlsvr.languages.LANGUAGES`."""


class MissingDependencyError(PbrlsvrError, ImportError):
    """An optional package is needed; the message names the command that installs it."""


class ModelLoadError(PbrlsvrError, OSError):
    """A model id, folder or file cannot be loaded (missing, corrupt, wrong checksum)."""
