"""The tests' own helpers: a missing shared data set skips, and fails when CI is set (issue 19)."""
import pytest

from project import SHARED_DATA, shared_data


def test_missing_shared_data_skips_outside_ci(monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match=r"\.\./shared/data/no-such-set/x\.csv is not present"):
        shared_data("no-such-set", "x.csv")


def test_missing_shared_data_fails_in_ci(monkeypatch):
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI is set: the shared data must be there"):
        shared_data("no-such-set")


def test_present_shared_data_is_its_path(monkeypatch, tmp_path):
    import project

    monkeypatch.setattr(project, "SHARED_DATA", tmp_path)
    (tmp_path / "set").mkdir()
    assert shared_data("set") == tmp_path / "set" and SHARED_DATA.name == "data"
