"""Markdown for a type's reference entry: docstring, fields, methods and properties, enum members.

Used by :mod:`kindling_core.docgen` for the hook reference. Descriptions come from the code:

* a field's or an enum member's description is its *attribute docstring*, the string literal
  written right after it in the class body (inherited fields are looked up along the MRO);
* a method's or property's description is the first paragraph of its docstring;
* signatures are written as declared (string annotations shown as written).

Public members are the names not starting with ``_`` defined by the class or a kindling base
class (never ``object``'s, ``str``'s or ``Enum``'s own), minus the attrs fields.
"""

from __future__ import annotations

import ast
import enum
import inspect
import re
import textwrap
import types
from typing import Any

import attrs

__all__ = ["attribute_docs", "public_members", "render_type", "signature_text", "summary"]


def summary(obj: Any) -> str:
    """The first paragraph of ``obj``'s docstring on one line (``""`` when it has none)."""
    doc = inspect.getdoc(obj) if not isinstance(obj, property) else inspect.getdoc(obj.fget)
    if not doc:
        return ""
    return " ".join(doc.split("\n\n", 1)[0].split())


def attribute_docs(cls: type) -> dict[str, str]:
    """Name → attribute docstring for every annotated or assigned name in ``cls`` and its bases."""
    docs: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        if klass.__module__ in ("builtins", "enum") or not klass.__module__.startswith("kindling"):
            continue
        try:
            source = textwrap.dedent(inspect.getsource(klass))
        except (OSError, TypeError):
            continue
        body = ast.parse(source).body[0].body  # type: ignore[attr-defined]
        for statement, following in zip(body, body[1:], strict=False):
            if isinstance(statement, ast.AnnAssign) and isinstance(statement.target, ast.Name):
                name = statement.target.id
            elif isinstance(statement, ast.Assign) and len(statement.targets) == 1 and isinstance(statement.targets[0], ast.Name):
                name = statement.targets[0].id
            else:
                continue
            if isinstance(following, ast.Expr) and isinstance(following.value, ast.Constant) and isinstance(following.value.value, str):
                docs[name] = " ".join(inspect.cleandoc(following.value.value).split())
    return docs


def _value(value: Any) -> str:
    """A default value as code: enum members by name (``PipeMode.BATCH``), functions by module
    and name (``random.random``; a repr would carry a memory address), others by repr."""
    if isinstance(value, enum.Enum):
        return f"{type(value).__name__}.{value.name}"
    if isinstance(value, (types.FunctionType, types.BuiltinFunctionType)):
        module = value.__module__ or type(getattr(value, "__self__", None)).__module__
        return f"{module}.{value.__name__}"
    return repr(value)


def _annotation(value: Any) -> str:
    if value is inspect.Parameter.empty:
        return ""
    return value if isinstance(value, str) else getattr(value, "__name__", repr(value))


def signature_text(function: Any) -> str:
    """``name(param: type, ...) -> type`` as declared, without ``self`` / ``cls``."""
    signature = inspect.signature(function)
    parts = []
    for parameter in signature.parameters.values():
        if parameter.name in ("self", "cls"):
            continue
        text = ("*" if parameter.kind is parameter.VAR_POSITIONAL else "**" if parameter.kind is parameter.VAR_KEYWORD else "")
        text += parameter.name
        if parameter.annotation is not parameter.empty:
            text += f": {_annotation(parameter.annotation)}"
        if parameter.default is not parameter.empty:
            text += f" = {_value(parameter.default)}"
        parts.append(text)
    returns = _annotation(signature.return_annotation)
    return f"{function.__name__}({', '.join(parts)})" + (f" -> {returns}" if returns else "")


def public_members(cls: type) -> list[tuple[str, Any]]:
    """``(name, member)`` of the public methods and properties of ``cls``, sorted by name."""
    fields = {f.name for f in attrs.fields(cls)} if attrs.has(cls) else set()
    found: dict[str, Any] = {}
    for klass in cls.__mro__:
        if not klass.__module__.startswith("kindling"):
            continue
        for name, member in vars(klass).items():
            if name.startswith("_") or name in fields or name in found:
                continue
            if isinstance(member, (property, staticmethod, classmethod)) or inspect.isfunction(member):
                found[name] = member
    return sorted(found.items())


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _default(field: attrs.Attribute) -> str:
    default: Any = field.default
    if default is attrs.NOTHING:
        return "required"
    if isinstance(default, attrs.Factory):  # type: ignore[arg-type]
        return "computed" if default.takes_self else f"`{_value(default.factory())}`"
    return f"`{_value(default)}`"


def render_type(cls: type, *, qualifier: str = "kindling_core.plugin") -> str:
    """The reference entry of ``cls``: heading, docstring, then tables of its members."""
    out = [f"\n### `{cls.__name__}`\n\n`from {qualifier} import {cls.__name__}`\n\n"]
    out.append((inspect.getdoc(cls) or "").strip() + "\n")
    docs = attribute_docs(cls)
    if isinstance(cls, type) and issubclass(cls, enum.Enum):
        out.append("\n| member | value | meaning |\n|---|---|---|\n")
        for member in cls:
            out.append(f"| `{member.name}` | `{member.value!r}` | {_cell(docs.get(member.name, ''))} |\n")
        return "".join(out)
    if attrs.has(cls):
        out.append("\n| field | type | default | meaning |\n|---|---|---|---|\n")
        for field in attrs.fields(cls):
            type_text = _annotation(field.type) if field.type is not None else ""
            out.append(
                f"| `{field.name}` | `{_cell(type_text)}` | {_default(field)} | {_cell(docs.get(field.name, ''))} |\n"
            )
    members = public_members(cls)
    if members:
        out.append("\n| method or property | meaning |\n|---|---|\n")
        for name, member in members:
            if isinstance(member, property) and member.fget is not None:
                returns = _annotation(inspect.signature(member.fget).return_annotation)
                shown = f"`{name}` (property{', ' + returns if returns else ''})"
                meaning = summary(member)
            else:
                function = member.__func__ if isinstance(member, (staticmethod, classmethod)) else member
                prefix = "classmethod " if isinstance(member, classmethod) else ""
                shown = f"{prefix}`{_cell(signature_text(function))}`"
                meaning = summary(function)
            out.append(f"| {shown} | {_cell(meaning)} |\n")
    return "".join(out)


def _anchor(name: str) -> str:
    return name.lower()


def render_item(cls: type, payloads: tuple[type, ...]) -> str:
    """An item type's fields table, and links to the payload types its callable takes or gives."""
    out = ["\n| field | type | default | meaning |\n|---|---|---|---|\n"]
    docs = attribute_docs(cls)
    named: list[str] = []
    for field in attrs.fields(cls):
        type_text = _annotation(field.type) if field.type is not None else ""
        out.append(f"| `{field.name}` | `{_cell(type_text)}` | {_default(field)} | {_cell(docs.get(field.name, ''))} |\n")
        named += [p.__name__ for p in payloads if re.search(rf"\b{p.__name__}\b", type_text)]
    if named:
        links = ", ".join(f"[`{n}`](#{_anchor(n)})" for n in dict.fromkeys(named))
        out.append(f"\nThe callable works with: {links}.\n")
    return "".join(out)


def render_payload_types(payloads: tuple[type, ...]) -> str:
    """The reference section for every type items' callables receive and return."""
    out = [
        "\n## Types plugins receive and return\n\n"
        "Everything below is importable from `kindling_core.plugin`. Fields are read-only (the "
        "types are frozen); methods and properties never mutate anything.\n"
    ]
    out += [render_type(cls) for cls in payloads]
    return "".join(out)
