"""The one error base class of catuvac (torch-free, imported by every layer).

Every error a user can fix (a bad file, a wrong flag value, a model of the wrong kind, data that
does not fit) derives from :class:`CatuvacError`; the CLI wrapper
(:mod:`catuvac.runtime.cli_wrapper`) turns it into one line on stderr and exit status 2. Anything
else that escapes a command is a bug and keeps its traceback.

The per-module classes (``AudioError``, ``ProfileMapError``, ``DatasetError`` …) stay where they
are and derive from this one; those that were ``ValueError``/``RuntimeError`` before still are,
so an existing ``except ValueError`` keeps working.
"""

from __future__ import annotations

__all__ = ["CatuvacError", "UsageError", "MissingExtraError", "CatuvacWarning"]


class CatuvacError(Exception):
    """A user-facing error: its message says what is wrong and what to do.

    ``exit_code`` is the process exit status the CLI wrapper uses (2 = bad input).
    """

    exit_code: int = 2


class UsageError(CatuvacError, ValueError):
    """A bad combination or value of command-line options that argparse cannot check itself."""


class MissingExtraError(CatuvacError, ImportError):
    """A command needs an optional dependency set (``pip install 'catuvac[train]'``)."""


class CatuvacWarning(UserWarning):
    """Something the user should know but that does not stop the work (a truncated file, a lost band).

    The CLI wrapper prints it as one line ``PROG: warning: MESSAGE``.
    """
