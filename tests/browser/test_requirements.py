"""Without a browser the suite skips on a learner's machine, naming the command that installs
one, and fails under CI=true: CI can never pass by skipping the browser tests."""

import pytest
from labdriver import INSTALL, find_chromium, require_chromium


@pytest.fixture
def no_browser(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty folder: no chromium on PATH
    monkeypatch.delenv("COURSE_CHROMIUM", raising=False)
    monkeypatch.setattr("labdriver.MAC_CHROME", str(tmp_path / "Google Chrome"))
    assert find_chromium() is None


def test_a_learner_without_chromium_is_told_the_install_command(no_browser, monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match=f"install it with: {INSTALL}$"):
        require_chromium()


def test_ci_without_chromium_fails(no_browser, monkeypatch):
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI=true but no Chromium found"):
        require_chromium()


def test_a_browser_path_that_does_not_exist_is_named(monkeypatch, tmp_path):
    monkeypatch.setenv("COURSE_CHROMIUM", str(tmp_path / "chromium"))
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="chromium does not exist"):
        require_chromium()
