"""load_app: references, import failures, errors in the user's module, missing attributes, non-apps."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from kindling_core.loading import load_app, parse_app_ref
from kindling_core.model import AppLoadError, SignatureMismatchError

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


# ----------------------------------------------------------------------------- the user's own errors

BAD_SIGNATURE = """
from kindling_core.app import App
from kindling_core.config import KindlingConfig

app = App(config=KindlingConfig(), entry_points=[])
app.entity("raw.a", path="lake/a")

@app.pipe("p.b", inputs=["raw.a"], output="s.b")
def b(a, extra):
    return a
"""


@pytest.fixture
def user_files(tmp_path: Path):
    """Modules named after the test (sys.modules caching cannot hide a bug), forgotten afterwards."""
    suffix = "".join(c if c.isalnum() else "_" for c in tmp_path.name)

    def write(stem: str, source: str) -> tuple[str, Path]:
        path = tmp_path / f"{stem}_{suffix}.py"
        path.write_text(textwrap.dedent(source))
        return path.stem, path

    yield write
    for name in [n for n in sys.modules if n.endswith(suffix)]:
        del sys.modules[name]


def test_a_declaration_error_is_raised_as_itself_not_as_an_import_failure(user_files, tmp_path: Path) -> None:
    module, path = user_files("badsig", BAD_SIGNATURE)
    with pytest.raises(SignatureMismatchError) as info:
        load_app(f"{module}:app", search_path=tmp_path)
    assert "function b(a, extra) requires 2 positional parameter(s)" in str(info.value)
    assert "failed to import" not in str(info.value)
    from kindling_core.loading import raised_at

    assert raised_at(info.value) == f"{path}:8"  # the @app.pipe line, not kindling_core/model/pipe.py


def test_an_exception_in_the_module_points_at_the_users_line(user_files, tmp_path: Path) -> None:
    module, path = user_files("zero", "x = 1\ny = 2\nz = x / 0\n")
    with pytest.raises(AppLoadError) as info:
        load_app(f"{module}:app", search_path=tmp_path)
    assert str(info.value).startswith(
        f"module {module!r} of app reference '{module}:app' failed to import: ZeroDivisionError: division by zero "
        f"(at {path}:3)"
    )


def test_an_exception_raised_in_a_library_points_at_the_users_call(user_files, tmp_path: Path) -> None:
    module, path = user_files("lib", "import json\n\nsettings = json.loads('{')\n")
    with pytest.raises(AppLoadError) as info:
        load_app(f"{module}:app", search_path=tmp_path)
    assert "JSONDecodeError" in str(info.value) and f"(at {path}:3)" in str(info.value)


def test_an_exception_in_a_module_the_app_imports_points_at_that_module(user_files, tmp_path: Path) -> None:
    helper, helper_path = user_files("helper", "def load():\n    return {}['missing']\n")
    module, _ = user_files("uses", f"import {helper}\n\nvalue = {helper}.load()\n")
    with pytest.raises(AppLoadError) as info:
        load_app(f"{module}:app", search_path=tmp_path)
    assert "KeyError: 'missing'" in str(info.value) and f"(at {helper_path}:2)" in str(info.value)


def test_an_app_installed_in_site_packages_still_names_its_line(user_files, tmp_path: Path, monkeypatch) -> None:
    import site

    from kindling_core.loading import raised_at

    monkeypatch.setattr(site, "getsitepackages", lambda: [str(tmp_path)])  # the module is "installed"
    module, path = user_files("installed", "x = 1\ny = 2\nz = x / 0\n")
    with pytest.raises(AppLoadError) as info:
        load_app(f"{module}:app", search_path=tmp_path)
    assert raised_at(info.value.__cause__) is None  # not the user's own files...
    assert f"ZeroDivisionError: division by zero (at {path}:3)" in str(info.value)  # ...but still the line


def test_a_syntax_error_names_the_file_and_line(user_files, tmp_path: Path) -> None:
    module, path = user_files("syntax", "x = 1\ny = (\n")
    with pytest.raises(AppLoadError) as info:
        load_app(f"{module}:app", search_path=tmp_path)
    assert "failed to import: SyntaxError" in str(info.value) and f"(at {path}:2)" in str(info.value)


# ----------------------------------------------------------------------------- the module's place


def test_model_does_not_import_the_app_or_the_loader() -> None:
    """model → loading → app → model was a cycle; model now imports neither."""
    code = (
        "import sys, kindling_core.model\n"
        "assert 'kindling_core.loading' not in sys.modules and 'kindling_core.app' not in sys.modules\n"
        "from kindling_core.model import load_app\n"  # the old spelling still works, lazily
        "from kindling_core.loading import load_app as moved\n"
        "assert load_app is moved\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
