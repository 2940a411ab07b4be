"""Load an app by reference: ``"package.module:attr"`` → :class:`~kindling_core.app.App`.

``load_app`` imports the module with ``search_path`` (default: the working directory) put
first on ``sys.path`` for the duration of the import only, then looks up ``attr`` (dotted
attributes such as ``module:pipelines.app`` are followed; a reference without ``:attr`` means
``:app``). ``overrides`` (the ``kindling`` command line's options) are in effect during the
import, so an ``App()`` built at import time applies them (see :mod:`kindling_core.overrides`).

What can go wrong, and what is raised:

* a :class:`~kindling_core.errors.KindlingError` raised while the module runs (a bad
  declaration, bad configuration, a broken plugin in strict mode) is raised as itself, with
  its traceback: it is the user's mistake at the line :func:`raised_at` names, not an import
  failure;
* any other exception while importing → :class:`AppLoadError` (``reason="import"``) naming
  the exception and the last line of the user's own files it passed through;
* a missing attribute (did-you-mean, and the App objects the module does have) →
  ``reason="attribute"``; an attribute that is not an App (saying what it is) → ``"type"``;
* options that did not reach the App because it was built before ``load_app`` imported the
  module (the module was already imported in this process) → ``reason="overrides"``.
  Re-importing the module instead would build a second App beside the first, run the module's
  side effects twice, and still miss apps held by modules imported earlier; an error is honest.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import importlib.util
import os
import site
import sys
import sysconfig
import traceback
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from kindling_core._names import did_you_mean
from kindling_core.app import App
from kindling_core.errors import KindlingError
from kindling_core.model.errors import AppLoadError
from kindling_core.overrides import CliOverrides, in_effect

__all__ = ["load_app", "parse_app_ref", "raised_at"]

_FORMAT = "'package.module:attr' (for example 'pipelines.orders:app')"


def parse_app_ref(ref: str) -> tuple[str, str]:
    """Split ``"package.module:attr"`` into ``(module, attr)``; ``attr`` defaults to ``app``."""
    if not isinstance(ref, str) or not ref.strip():
        raise AppLoadError(f"app reference {ref!r} is empty; expected {_FORMAT}", ref=str(ref), reason="syntax",
                           remedy="pass --app package.module:attr or set tool.kindling.app")
    module, _, attr = ref.strip().partition(":")
    attr = attr or "app"
    parts_ok = all(p.isidentifier() for p in module.split(".")) and all(p.isidentifier() for p in attr.split("."))
    if not parts_ok:
        raise AppLoadError(f"app reference {ref!r} is malformed; expected {_FORMAT}", ref=ref, reason="syntax",
                           remedy="write the module's dotted import path, a colon, and the attribute name")
    return module, attr


def _folder(path: str) -> str:
    return os.path.join(os.path.realpath(path), "")


@functools.lru_cache(maxsize=1)
def _kindling_dirs() -> tuple[str, ...]:
    """kindling_core's folder and the built-in plugins' (``kindling_plugins``, found, not imported)."""
    folders = [os.path.dirname(os.path.abspath(__file__))]
    spec = importlib.util.find_spec("kindling_plugins")
    if spec is not None and spec.submodule_search_locations:
        folders.extend(spec.submodule_search_locations)
    return tuple(_folder(folder) for folder in folders)


def _library_dirs() -> tuple[str, ...]:
    """Folders whose files are not the user's: kindling's, the standard library, site-packages."""
    paths = sysconfig.get_paths()
    folders = {paths[key] for key in ("stdlib", "platstdlib", "purelib", "platlib") if key in paths}
    folders.update(getattr(site, "getsitepackages", list)())
    return _kindling_dirs() + tuple(_folder(folder) for folder in folders)


def _last_frame(exc: BaseException, excluded: tuple[str, ...]) -> str | None:
    for frame in reversed(traceback.extract_tb(exc.__traceback__)):
        name = frame.filename
        if not name.startswith("<") and not os.path.realpath(name).startswith(excluded):
            return f"{name}:{frame.lineno}"
    return None


def raised_at(exc: BaseException) -> str | None:
    """``file:line`` of the last traceback frame of ``exc`` in the user's own files.

    The user's files are those outside kindling (kindling_core and its built-in plugins), the
    standard library and site-packages (and not ``<frozen ...>`` pseudo-files). A ``SyntaxError`` names its own file and line.
    ``None`` when no frame qualifies.
    """
    if isinstance(exc, SyntaxError) and exc.filename and exc.lineno:
        return f"{exc.filename}:{exc.lineno}"
    return _last_frame(exc, _library_dirs())


def _where(exc: BaseException) -> str:
    """`` (at FILE:LINE)``: :func:`raised_at`, else (an app installed in site-packages) the
    last frame outside kindling."""
    location = raised_at(exc) or _last_frame(exc, _kindling_dirs())
    return f" (at {location})" if location else ""


def _a(noun: str) -> str:
    return f"{'an' if noun[:1].lower() in 'aeiou' else 'a'} {noun}"


def _describe(obj: Any) -> str:
    """``"a function (make_app)"``, ``"an int (42)"``, ``"the class pkg.App"``, ``"a module"``."""
    if isinstance(obj, type):
        return f"the class {obj.__module__}.{obj.__qualname__}"
    if isinstance(obj, types.ModuleType):
        return f"the module {obj.__name__}"
    if callable(obj) and hasattr(obj, "__qualname__"):
        return f"{_a(type(obj).__name__)} ({obj.__qualname__})"
    kind = type(obj)
    if kind.__module__ == "builtins":
        return f"{_a(kind.__name__)} ({obj!r:.60})"
    return _a(f"{kind.__module__}.{kind.__qualname__}")


@contextlib.contextmanager
def _first_on_sys_path(folder: str) -> Iterator[None]:
    added = folder not in sys.path
    if added:
        sys.path.insert(0, folder)
    try:
        yield
    finally:
        if added:
            with contextlib.suppress(ValueError):  # the module removed it itself
                sys.path.remove(folder)


def _import(module_name: str, ref: str, folder: str) -> types.ModuleType:
    try:
        return importlib.import_module(module_name)
    except KindlingError:
        raise  # the user's declaration or configuration mistake: itself, not an import failure
    except ModuleNotFoundError as exc:
        missing = exc.name or module_name
        if module_name == missing or module_name.startswith(missing + "."):
            message = (f"cannot import module {module_name!r} of app reference {ref!r}: "
                       f"ModuleNotFoundError: {exc} (searched {folder} and sys.path)")
            remedy = "check the module path, run from the project folder, or install the package"
        else:
            message = (f"module {module_name!r} of app reference {ref!r} failed to import: "
                       f"ModuleNotFoundError: {exc}{_where(exc)}")
            remedy = f"install {missing!r} or fix the import in {module_name!r}"
        raise AppLoadError(message, ref=ref, reason="import", remedy=remedy) from exc
    except Exception as exc:
        raise AppLoadError(
            f"module {module_name!r} of app reference {ref!r} failed to import: "
            f"{type(exc).__name__}: {exc}{_where(exc)}",
            ref=ref,
            reason="import",
            remedy=f"fix the error raised while importing {module_name!r}",
        ) from exc


def _attribute(module: types.ModuleType, module_name: str, attr: str, ref: str) -> App:
    obj: Any = module
    walked: list[str] = []
    for part in attr.split("."):
        if not hasattr(obj, part):
            owner = f"module {module_name!r}" if not walked else f"{module_name}:{'.'.join(walked)}"
            names = [n for n in dir(obj) if not n.startswith("_")]
            apps = [n for n in names if isinstance(getattr(obj, n, None), App)]
            found = f" App objects there: {', '.join(apps)}." if apps else " It defines no App object."
            raise AppLoadError(
                f"app reference {ref!r}: {owner} has no attribute {part!r}.{did_you_mean(part, names)}{found}",
                ref=ref,
                reason="attribute",
                remedy=f"use {module_name}:{apps[0]}" if apps else "create the app with app = App(...) in that module",
            )
        obj = getattr(obj, part)
        walked.append(part)
    if not isinstance(obj, App):
        raise AppLoadError(
            f"app reference {ref!r} names {_describe(obj)}, not a kindling App",
            ref=ref,
            reason="type",
            remedy="point the reference at an App instance (app = App(...)), not a module, class or function",
        )
    return obj


def load_app(ref: str, *, search_path: Path | str | None = None, overrides: CliOverrides | None = None) -> App:
    """Import the module of ``ref`` and return the :class:`App` it names (see module docstring)."""
    module_name, attr = parse_app_ref(ref)
    folder = str(Path(search_path if search_path is not None else Path.cwd()).resolve())
    with _first_on_sys_path(folder), in_effect(overrides):
        module = _import(module_name, ref, folder)
    app = _attribute(module, module_name, attr, ref)
    if overrides is not None and not overrides.empty and app.cli_overrides != overrides:
        raise AppLoadError(
            f"app reference {ref!r} names an App built before kindling imported {module_name!r} "
            f"(that module was already imported in this process), so {overrides.describe()} "
            "did not reach it",
            ref=ref,
            reason="overrides",
            remedy="run kindling in a fresh process; from Python, call load_app(..., overrides=...) before "
            "anything else imports the app's module",
        )
    return app
