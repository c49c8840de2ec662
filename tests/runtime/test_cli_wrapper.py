"""The one CLI wrapper: exit statuses and messages every console entry point shares."""

from __future__ import annotations

import subprocess
import sys

import pytest

from catuvac.runtime.cli_wrapper import cli_entry, run_cli
from catuvac.runtime.errors import CatuvacError


class _Boom(CatuvacError, ValueError):
    pass


def test_user_error_is_one_line_exit_2(capsys):
    def main(argv):
        raise _Boom("bad.wav: not an audio file; pass a WAV")

    assert run_cli(main, [], "prog-x") == 2
    err = capsys.readouterr().err
    assert err == "prog-x: error: bad.wav: not an audio file; pass a WAV\n"


def test_error_exit_code_attribute_is_used(capsys):
    class Verify(CatuvacError):
        exit_code = 3

    assert run_cli(lambda a: (_ for _ in ()).throw(Verify("agreement 0.5 < 0.99")), [], "p") == 3


def test_bug_keeps_its_traceback():
    def main(argv):
        raise KeyError("internal")

    with pytest.raises(KeyError):
        run_cli(main, [], "p")


def test_ctrl_c_is_one_line_exit_130(capsys):
    def main(argv):
        raise KeyboardInterrupt

    assert run_cli(main, [], "p") == 130
    assert capsys.readouterr().err.strip() == "p: interrupted"


def test_missing_training_extra_names_the_extra(capsys):
    def main(argv):
        raise ModuleNotFoundError("No module named 'sklearn'", name="sklearn")

    assert run_cli(main, [], "catuvac-eval") == 2
    err = capsys.readouterr().err
    assert "pip install 'catuvac[train]'" in err and err.count("\n") == 1


def test_other_missing_module_is_a_bug():
    def main(argv):
        raise ModuleNotFoundError("No module named 'nope'", name="nope")

    with pytest.raises(ModuleNotFoundError):
        run_cli(main, [], "p")


def test_decorator_passes_argv_and_return_code():
    @cli_entry("p")
    def main(argv=None):
        return len(argv)

    assert main(["a", "b"]) == 2


def test_full_disk_on_stdout_is_one_line(tmp_path):
    """``catuvac-scenes --help > /dev/full``: one line on stderr, exit 2, no traceback."""
    code = ("from catuvac.runtime.cli_wrapper import cli_entry\n"
            "@cli_entry('p')\n"
            "def main(argv=None):\n"
            "    print('x' * 100)\n"
            "    return 0\n"
            "raise SystemExit(main([]))\n")
    with open("/dev/full", "w") as full:
        r = subprocess.run([sys.executable, "-c", code], stdout=full, stderr=subprocess.PIPE, text=True, timeout=60)
    assert r.returncode == 2, r.stderr
    assert "Traceback" not in r.stderr and "no space left" in r.stderr


def test_broken_pipe_is_quiet():
    code = ("from catuvac.runtime.cli_wrapper import cli_entry\n"
            "@cli_entry('p')\n"
            "def main(argv=None):\n"
            "    for _ in range(100000):\n"
            "        print('line ' * 20)\n"
            "    return 0\n"
            "raise SystemExit(main([]))\n")
    p = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert p.stdout is not None
    p.stdout.read(100)
    p.stdout.close()
    err = p.stderr.read().decode() if p.stderr else ""
    assert p.wait(timeout=60) == 0
    assert "Traceback" not in err and "Exception ignored" not in err


def test_every_error_class_derives_from_catuvac_error():
    """The per-module error classes all share the base (and keep their old built-in base)."""
    from catuvac.firmware_sim.nalr import AudiogramError
    from catuvac.firmware_sim.plugins import ParamError, PrepareError
    from catuvac.firmware_sim.profiles import ProfileError
    from catuvac.firmware_sim.simulator import ClassifierUnavailable
    from catuvac.runtime.audio import AudioError
    from catuvac.runtime.clusterer import ClustererError
    from catuvac.runtime.frontend import FrontEndError
    from catuvac.runtime.modelmeta import ModelMetadataError
    from catuvac.runtime.profiles_map import ProfileMapError
    from catuvac.runtime.smoothing import SmootherError
    from catuvac.runtime.sources import AudioDeviceError

    for cls in (AudiogramError, ParamError, PrepareError, ProfileError, AudioError, ClustererError, FrontEndError,
                ModelMetadataError, ProfileMapError, SmootherError):
        assert issubclass(cls, CatuvacError) and issubclass(cls, ValueError), cls
    for cls in (ClassifierUnavailable, AudioDeviceError):
        assert issubclass(cls, CatuvacError) and issubclass(cls, RuntimeError), cls


def test_catuvac_warning_is_one_line(capsys):
    import warnings

    from catuvac.runtime.errors import CatuvacWarning

    def main(argv):
        warnings.warn("x.wav: truncated", CatuvacWarning, stacklevel=2)
        return 0

    assert run_cli(main, [], "p") == 0
    assert capsys.readouterr().err == "p: warning: x.wav: truncated\n"


def test_permission_denied_on_a_named_file_is_one_line(capsys):
    import errno

    def main(argv):
        raise PermissionError(errno.EACCES, "Permission denied", "/readonly/out.json")

    assert run_cli(main, [], "p") == 2
    assert capsys.readouterr().err == "p: error: /readonly/out.json: Permission denied; choose a path you may write to\n"
