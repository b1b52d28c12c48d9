"""The suite's own rules, checked by running pytest on small test files (pytester).

- With ``CI`` set, a skip is a failure that names what is missing (a model, PulseAudio, a network
  namespace, espeak-ng...): on CI a green run must mean every test ran.
- Without ``CI``, a skip stays a skip (a developer without PulseAudio can still run the rest).
- An expected failure (xfail) is not a skip and stays what it is.
- ``--strict-markers``: a misspelt marker (``@pytest.mark.model``) is an error, not a test that
  silently never gets selected or deselected.
"""

from __future__ import annotations

from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

CONFTEST = (Path(__file__).parent / "conftest.py").read_text(encoding="utf-8")
PYPROJECT = (Path(__file__).parent.parent / "pyproject.toml").read_text(encoding="utf-8")

SKIPPING = """
import pytest

def test_needs_the_server():
    pytest.skip("no virtual audio devices: pulseaudio is not installed")

@pytest.mark.skipif(True, reason="espeak-ng missing: make test installs it")
def test_needs_espeak():
    pass

@pytest.fixture
def namespace():
    pytest.skip("cannot make a network namespace here")

def test_needs_a_namespace(namespace):
    pass

@pytest.mark.xfail(reason="known", strict=True)
def test_known_failure():
    assert False

def test_fine():
    pass
"""


@pytest.fixture
def suite(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makeconftest(CONFTEST)
    pytester.makefile(".toml", pyproject=PYPROJECT.replace('testpaths = ["tests"]', 'testpaths = ["."]'))
    pytester.makepyfile(test_skipping=SKIPPING)
    return pytester


def test_with_ci_set_every_skip_fails_naming_what_is_missing(suite, monkeypatch):
    monkeypatch.setenv("CI", "1")
    result = suite.runpytest()
    result.assert_outcomes(passed=1, failed=1, errors=2, xfailed=1)  # a setup-time skip is an error
    result.stdout.fnmatch_lines([
        "*CI is set, so a skip is a failure: no virtual audio devices: pulseaudio is not installed*",
        "*CI is set, so a skip is a failure: espeak-ng missing*",
        "*CI is set, so a skip is a failure: cannot make a network namespace here*",
    ], consecutive=False)
    assert result.ret != 0


@pytest.mark.parametrize("value", ["", "0", "false"])
def test_without_ci_a_skip_stays_a_skip(suite, monkeypatch, value):
    monkeypatch.setenv("CI", value)
    result = suite.runpytest()
    result.assert_outcomes(passed=1, skipped=3, xfailed=1)
    assert result.ret == 0


def test_a_misspelt_marker_is_an_error(suite):
    suite.makepyfile(test_typo="import pytest\n\n@pytest.mark.model\ndef test_x():\n    pass\n")
    result = suite.runpytest("test_typo.py")
    assert result.ret != 0
    result.stdout.fnmatch_lines(["*'model' not found in `markers` configuration option*"])
