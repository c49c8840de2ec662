"""One wrapper for every console entry point: the same exit statuses and messages everywhere.

- :class:`~catuvac.runtime.errors.CatuvacError` → ``PROG: error: MESSAGE`` on stderr, exit 2
  (or the error's ``exit_code``);
- a missing optional dependency (torch, scikit-learn, onnx) → one line naming the extra to
  install, exit 2;
- Ctrl-C → ``PROG: interrupted``, exit 130;
- stdout closed by its reader (``| head``) → silent, exit 0; a full disk → one line, exit 2;
- anything else is a bug and keeps its traceback.

Use as a decorator on a ``main(argv) -> int`` function::

    @cli_entry("catuvac-sim")
    def main(argv=None) -> int: ...
"""

from __future__ import annotations

import errno
import functools
import os
import sys
import warnings
from typing import Any, Callable, Sequence, TypeVar

from .errors import CatuvacError, CatuvacWarning

__all__ = ["cli_entry", "run_cli", "TRAIN_ONLY_MODULES", "missing_extra_message"]

#: Top-level modules that come only with ``pip install 'catuvac[train]'``.
TRAIN_ONLY_MODULES = frozenset({"torch", "sklearn", "onnx", "onnxscript"})
_DISK_FULL = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}
_NO_PERMISSION = {errno.EACCES, errno.EPERM, errno.EROFS}

Main = Callable[..., int]
F = TypeVar("F", bound=Main)


def missing_extra_message(module: str) -> str:
    return (f"this command needs the training extra ({module} is not installed); "
            "install it with: pip install 'catuvac[train]'")


def _silence_stdout() -> None:
    """After a broken pipe, point stdout at /dev/null so the interpreter's final flush stays quiet."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # stdout is not a real file (e.g. under pytest)
        pass


def _one_line_warnings(prog: str, default: Callable[..., None]) -> Callable[..., None]:
    """A ``warnings.showwarning`` that prints :class:`CatuvacWarning` as ``PROG: warning: MESSAGE``."""

    def show(message: Warning | str, category: type[Warning], filename: str, lineno: int, file: Any = None, line: str | None = None) -> None:
        if issubclass(category, CatuvacWarning):
            print(f"{prog}: warning: {message}", file=sys.stderr)
        else:
            default(message, category, filename, lineno, file, line)

    return show


def run_cli(main: Main, argv: Sequence[str] | None = None, prog: str | None = None) -> int:
    """Run ``main(argv)`` and map its exceptions to one-line messages and exit statuses."""
    prog = prog or os.path.basename(sys.argv[0]) or "catuvac"

    def fail(msg: str, code: int = 2) -> int:
        print(f"{prog}: error: {msg}", file=sys.stderr)
        return code

    try:
        with warnings.catch_warnings():
            warnings.showwarning = _one_line_warnings(prog, warnings.showwarning)
            rc = main(argv)
        sys.stdout.flush()  # a full disk or a closed pipe shows up here, not at interpreter exit
        return int(rc or 0)
    except CatuvacError as e:
        return fail(str(e), e.exit_code)
    except KeyboardInterrupt:
        print(f"\n{prog}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        _silence_stdout()
        return 0
    except ModuleNotFoundError as e:
        top = (e.name or "").split(".")[0]
        if top in TRAIN_ONLY_MODULES:
            return fail(missing_extra_message(top))
        raise
    except OSError as e:
        if e.errno in _DISK_FULL:
            where = f" ({e.filename})" if e.filename else ""
            return fail(f"no space left to write{where}: {os.strerror(e.errno or 0)}; free some space and run again")
        if e.errno in _NO_PERMISSION and e.filename:
            return fail(f"{e.filename}: {os.strerror(e.errno or 0)}; choose a path you may write to")
        raise


def cli_entry(prog: str) -> Callable[[F], F]:
    """Decorator: ``main(argv)`` runs under :func:`run_cli` with this program name."""

    def wrap(main: F) -> F:
        @functools.wraps(main)
        def wrapped(argv: Sequence[str] | None = None, *args, **kwargs) -> int:  # noqa: ANN002, ANN003
            return run_cli(lambda a: main(a, *args, **kwargs), argv, kwargs.get("prog", prog))

        return wrapped  # type: ignore[return-value]

    return wrap
