"""Load an app by reference: ``"package.module:attr"`` → :class:`~kindling_core.app.App`.

``load_app`` imports the module with ``search_path`` (default: the working directory) put
first on ``sys.path`` for the duration of the import only, then looks up ``attr`` (dotted
attributes such as ``module:pipelines.app`` are followed; a reference without ``:attr`` means
``:app``). Failures raise :class:`AppLoadError` naming the reference and what went wrong:
a module that does not import (with the underlying error and where it was raised), a missing
attribute (with did-you-mean and the App objects the module does have), or an attribute that
is not an App (saying what it is).
"""

from __future__ import annotations

import importlib
import sys
import traceback
import types
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kindling_core._names import did_you_mean
from kindling_core.model.errors import AppLoadError

if TYPE_CHECKING:  # pragma: no cover
    from kindling_core.app import App

__all__ = ["load_app", "parse_app_ref"]

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


def _where(exc: BaseException) -> str:
    frames = traceback.extract_tb(exc.__traceback__)
    if not frames:
        return ""
    last = frames[-1]
    return f" (at {last.filename}:{last.lineno})"


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


def load_app(ref: str, *, search_path: Path | str | None = None) -> App:
    """Import the module of ``ref`` and return the :class:`App` it names (see module docstring)."""
    from kindling_core.app import App

    module_name, attr = parse_app_ref(ref)
    folder = str(Path(search_path if search_path is not None else Path.cwd()).resolve())
    added = folder not in sys.path
    if added:
        sys.path.insert(0, folder)
    try:
        try:
            module = importlib.import_module(module_name)
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
    finally:
        if added:
            try:
                sys.path.remove(folder)
            except ValueError:  # pragma: no cover - the module removed it itself
                pass

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
