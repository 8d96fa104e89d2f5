"""errors: one exception base, and the one mapping from an outcome to an exit code."""

from __future__ import annotations

import importlib
import pkgutil

import pytest

import maestro
from maestro.diagnostics import error
from maestro.diff.git import DiffError
from maestro.errors import INTERNAL, INTERRUPTED, OK, USAGE, MaestroError, Unusable, UsageError, exit_code_for
from maestro.mlflow.state import RegistryUnavailable


@pytest.mark.parametrize(
    ("exc", "code", "err"),
    [
        (UsageError("no such folder"), USAGE, "maestro: no such folder\n"),
        (DiffError("--base x: not a git revision"), USAGE, "maestro: --base x: not a git revision\n"),
        (
            RegistryUnavailable("MLflow at http://x is not reachable"),
            USAGE,
            "maestro: MLflow at http://x is not reachable\n",
        ),
        (KeyboardInterrupt(), INTERRUPTED, "maestro: interrupted\n"),
        (BrokenPipeError(), OK, ""),
    ],
)
def test_exit_codes(exc: BaseException, code: int, err: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert exit_code_for(exc) == code
    assert capsys.readouterr().err == err


def test_unusable_prints_its_diagnostics(capsys: pytest.CaptureFixture[str]) -> None:
    diag = error("M301", "environments.prod.sync: bad", file="config/platform.yaml", line=3, col=5)
    assert exit_code_for(Unusable([diag], "text")) == USAGE
    out = capsys.readouterr().out
    assert out.startswith("config/platform.yaml:3:5: M301 environments.prod.sync: bad\n")


def test_a_bug_exits_3_asking_for_a_report(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MAESTRO_DEBUG", raising=False)
    assert exit_code_for(ZeroDivisionError("division by zero")) == INTERNAL
    err = capsys.readouterr().err
    assert "internal error (ZeroDivisionError: division by zero)" in err and "please report it" in err


def test_debug_shows_the_traceback(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAESTRO_DEBUG", "1")
    with pytest.raises(ZeroDivisionError):
        exit_code_for(ZeroDivisionError("division by zero"))


def test_every_exception_that_ends_a_command_derives_from_the_base() -> None:
    """Exceptions defined in the package either end a command (a MaestroError, with its exit
    code) or are caught inside their module; none of the former escapes the base."""
    for info in pkgutil.walk_packages(maestro.__path__, "maestro."):
        if info.name.endswith("__main__"):
            continue
        module = importlib.import_module(info.name)
        for value in vars(module).values():
            if isinstance(value, type) and issubclass(value, MaestroError):
                assert value.exit_code in (1, 2), value
