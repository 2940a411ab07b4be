"""kindling_core.plugin is the plugin author's one import: the built-in plugins use nothing else."""

from __future__ import annotations

import ast
import enum
import subprocess
import sys
from pathlib import Path

import attrs

import kindling_core.plugin as api
from kindling_core.items import Item

ROOT = Path(__file__).resolve().parents[2]
BUILTIN_PLUGINS = sorted((ROOT / "plugins").glob("*.py"))


def kindling_imports(path: Path) -> list[tuple[int, str, str]]:
    """``(line, module, name)`` for every import of a kindling_core module in ``path``."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "kindling_core":
            found += [(node.lineno, node.module or "", alias.name) for alias in node.names]
        elif isinstance(node, ast.Import):
            found += [(node.lineno, alias.name, "") for alias in node.names if alias.name.split(".")[0] == "kindling_core"]
    return found


def test_builtin_plugins_import_only_the_public_module() -> None:
    assert len(BUILTIN_PLUGINS) >= 6
    offenders = [
        f"plugins/{path.name}:{line}: {module}{'.' + name if name else ''}"
        for path in BUILTIN_PLUGINS
        for line, module, name in kindling_imports(path)
        if module != "kindling_core.plugin"
    ]
    assert not offenders, "built-in plugins must import from kindling_core.plugin only:\n" + "\n".join(offenders)
    used = {name for path in BUILTIN_PLUGINS for _line, _module, name in kindling_imports(path)}
    assert used <= set(api.__all__), sorted(used - set(api.__all__))


def test_every_exported_name_exists_and_every_data_type_is_a_documented_payload() -> None:
    for name in api.__all__:
        assert getattr(api, name) is not None, name
    classes = [getattr(api, n) for n in api.__all__ if isinstance(getattr(api, n), type)]
    items = [c for c in classes if issubclass(c, Item)]
    assert {c.__name__ for c in items} == {
        "ExecutionStrategy", "CacheHeuristic", "FailureClassifier", "RecoveryStrategy", "ChangeDetector", "ErrorHandler",
    }
    # Every payload is exported; every exported attrs class or enum that is not an item is a
    # payload (the hook reference documents those field by field), except the registration
    # hooks' own arguments, which the configuration and signal docs cover.
    assert set(api.PAYLOAD_TYPES) <= set(classes)
    data_types = {c for c in classes if (attrs.has(c) or issubclass(c, enum.Enum)) and not issubclass(c, Item)}
    assert data_types - {api.KindlingConfig, api.SignalSpec} <= set(api.PAYLOAD_TYPES)


def test_public_module_imports_without_pyspark() -> None:
    code = (
        "import sys, importlib.abc\n"
        "class Hide(importlib.abc.MetaPathFinder):\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in ('pyspark', 'delta'):\n"
        "            raise ModuleNotFoundError(name)\n"
        "sys.meta_path.insert(0, Hide())\n"
        "import kindling_core.plugin, kindling_plugins.strategies, kindling_plugins.cache\n"
        "assert 'pyspark' not in sys.modules\n"
        "print('ok')\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_hook_reference_documents_every_field_method_and_member_of_the_payloads() -> None:
    from kindling_core._typedoc import attribute_docs, public_members, summary
    from kindling_core.docgen import render_hooks

    reference = render_hooks()
    for cls in api.PAYLOAD_TYPES:
        assert f"### `{cls.__name__}`" in reference, cls
        docs = attribute_docs(cls)
        # Graph methods and Setting fields are described with their own code (class docstrings).
        described = cls not in (api.PipeGraph, api.Setting)
        if issubclass(cls, enum.Enum):
            for member in cls:
                assert f"| `{member.name}` | `{member.value!r}` |" in reference
                assert docs.get(member.name), f"{cls.__name__}.{member.name} has no description"
            continue
        for field in attrs.fields(cls) if attrs.has(cls) else ():
            assert f"| `{field.name}` |" in reference, f"{cls.__name__}.{field.name}"
            assert docs.get(field.name) or not described, f"{cls.__name__}.{field.name} has no attribute docstring"
        for name, member in public_members(cls):
            assert f"`{name}(" in reference or f"`{name}` (property" in reference, f"{cls.__name__}.{name}"
            if described:
                assert summary(member if isinstance(member, property) else getattr(cls, name)), f"{cls.__name__}.{name} has no docstring"
    assert "`pipe(pipe_id: str) -> Pipe`" in reference
    assert "The callable works with: [`StrategyInput`](#strategyinput)." in reference
