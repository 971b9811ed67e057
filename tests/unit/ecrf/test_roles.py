"""The permission matrix lives in one place and the README shows exactly it."""

from pathlib import Path

from ecrf.roles import Action, matrix_markdown, may


def test_readme_renders_the_permission_matrix_from_code():
    readme = (Path(__file__).resolve().parents[3] / "README.md").read_text()
    assert matrix_markdown() in readme


def test_matrix_examples_from_the_issue():
    assert may("site_staff", Action.ENTER_DATA) and not may("monitor", Action.ENTER_DATA)
    assert may("monitor", Action.VERIFY) and not may("investigator", Action.VERIFY)
    assert may("investigator", Action.SIGN) and not may("data_manager", Action.SIGN)
    assert may("data_manager", Action.LOCK) and not may("admin", Action.LOCK)
    assert may("admin", Action.ADMINISTER) and not may("wizard", Action.ADMINISTER)


def test_only_a_data_manager_may_amend_a_study():
    assert [role for role in ("site_staff", "investigator", "monitor", "data_manager", "admin")
            if may(role, Action.AMEND_STUDY)] == ["data_manager"]
