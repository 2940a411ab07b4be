"""load_app: references, import failures, missing attributes, non-apps."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from kindling_core.model import AppLoadError, load_app, parse_app_ref

APP_MODULE = """
from kindling_core.app import App
from kindling_core.config import KindlingConfig

main_app = App(config=KindlingConfig(), entry_points=[])

class Holder:
    app = main_app

def make_app():
    return main_app

count = 3
"""


@pytest.fixture
def folder(tmp_path: Path):
    (tmp_path / "loading_demo_mod.py").write_text(APP_MODULE)
    (tmp_path / "loading_demo_broken.py").write_text("x = 1\nraise ValueError('bad config value')\n")
    (tmp_path / "loading_demo_dep.py").write_text("import definitely_missing_dependency_xyz\n")
    yield tmp_path
    for name in ("loading_demo_mod", "loading_demo_broken", "loading_demo_dep"):
        sys.modules.pop(name, None)


def test_loads_an_app_and_restores_sys_path(folder: Path) -> None:
    before = list(sys.path)
    app = load_app("loading_demo_mod:main_app", search_path=folder)
    assert type(app).__name__ == "App"
    assert sys.path == before
    assert load_app("loading_demo_mod:Holder.app", search_path=folder) is app


def test_default_search_path_is_the_working_directory(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(folder)
    assert load_app("loading_demo_mod:main_app") is not None


def test_module_that_does_not_exist(folder: Path) -> None:
    with pytest.raises(AppLoadError) as info:
        load_app("no_such_pkg_abc.jobs:app", search_path=folder)
    message = str(info.value)
    assert "cannot import module 'no_such_pkg_abc.jobs' of app reference 'no_such_pkg_abc.jobs:app'" in message
    assert "ModuleNotFoundError" in message and str(folder) in message
    assert info.value.reason == "import"


def test_module_that_raises_while_importing(folder: Path) -> None:
    with pytest.raises(AppLoadError) as info:
        load_app("loading_demo_broken:app", search_path=folder)
    message = str(info.value)
    assert "module 'loading_demo_broken' of app reference 'loading_demo_broken:app' failed to import" in message
    assert "ValueError: bad config value" in message and "loading_demo_broken.py:2" in message
    assert isinstance(info.value.__cause__, ValueError)


def test_module_with_a_missing_dependency(folder: Path) -> None:
    with pytest.raises(AppLoadError, match="failed to import: ModuleNotFoundError: No module named 'definitely_missing_dependency_xyz'"):
        load_app("loading_demo_dep:app", search_path=folder)


def test_missing_attribute_lists_the_apps(folder: Path) -> None:
    with pytest.raises(AppLoadError) as info:
        load_app("loading_demo_mod:app", search_path=folder)
    message = str(info.value)
    assert "module 'loading_demo_mod' has no attribute 'app'" in message
    assert "App objects there: main_app." in message
    assert info.value.reason == "attribute"


@pytest.mark.parametrize(
    ("attr", "what"),
    [("count", "an int (3)"), ("make_app", "a function (make_app)"), ("Holder", "the class loading_demo_mod.Holder")],
)
def test_attribute_that_is_not_an_app(folder: Path, attr: str, what: str) -> None:
    with pytest.raises(AppLoadError) as info:
        load_app(f"loading_demo_mod:{attr}", search_path=folder)
    assert f"app reference 'loading_demo_mod:{attr}' names {what}, not a kindling App" in str(info.value)
    assert info.value.reason == "type"


@pytest.mark.parametrize("ref", ["", "pkg mod:app", "pkg:app-x", ":app"])
def test_malformed_references(ref: str) -> None:
    with pytest.raises(AppLoadError) as info:
        parse_app_ref(ref)
    assert info.value.reason == "syntax" and "package.module:attr" in str(info.value)


def test_attr_defaults_to_app() -> None:
    assert parse_app_ref("pipelines.orders") == ("pipelines.orders", "app")
