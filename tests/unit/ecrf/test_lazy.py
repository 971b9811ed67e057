"""Heavy libraries bound at module level load on first use, once."""

import subprocess
import sys

import pytest

from ecrf.lazy import lazy_module


def test_a_lazy_module_imports_on_first_attribute_read():
    name = "json.tool"  # small, and imported by nothing in the engine
    sys.modules.pop(name, None)
    tool = lazy_module(name)
    assert name not in sys.modules
    assert callable(tool.main)
    assert name in sys.modules


def test_a_missing_lazy_module_fails_where_it_is_used():
    missing = lazy_module("ecrf_no_such_library")
    with pytest.raises(ModuleNotFoundError):
        missing.anything  # noqa: B018


def test_the_app_starts_without_the_heavy_libraries():
    code = "import sys, ecrf.app; print(sorted({'scipy', 'lifelines', 'openpyxl', 'mongomock'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
