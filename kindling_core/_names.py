"""Name rules shared by items, plugin ids, entities and pipes, and "did you mean" hints."""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable

from kindling_core.errors import ItemError

__all__ = ["ITEM_NAME_RE", "is_item_name", "check_item_name", "suggest_item_name", "did_you_mean", "split_app_ref"]

#: Plugin ids and item names: lowercase ASCII letters and digits in words joined by single
#: dashes, starting with a letter (``version-poll``, ``databricks-classifier``, ``x2``).
ITEM_NAME_RE = re.compile(r"^[a-z][a-z0-9]*(?:-[a-z0-9]+)*$")


def is_item_name(name: object) -> bool:
    """True when ``name`` is a valid plugin id / item name."""
    return isinstance(name, str) and ITEM_NAME_RE.match(name) is not None


def suggest_item_name(name: object) -> str | None:
    """A valid name close to ``name`` (``"Pager Duty"`` → ``"pager-duty"``), or ``None``."""
    if not isinstance(name, str) or not name:
        return None
    fixed = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    return fixed if fixed and fixed[0].isalpha() else None


def check_item_name(name: object, *, what: str = "name") -> str:
    """Return ``name`` if valid, else raise :class:`~kindling_core.errors.ItemError` (a
    ``ValueError``) quoting ``what`` and the name, stating the rule and suggesting a fix."""
    if isinstance(name, str) and is_item_name(name):
        return name
    fixed = suggest_item_name(name)
    suggestion = f" (for example {fixed!r})" if fixed else ""
    raise ItemError(
        f"invalid {what} {name!r}: use lowercase letters and digits in words joined by "
        f"single dashes, starting with a letter{suggestion}",
        value=name,
        culprit=f"{what} {name!r}",
        remedy=f"rename it to {fixed!r}" if fixed else "give it a lowercase-dashed name such as 'my-item'",
    )


def split_app_ref(ref: object) -> tuple[str, str] | None:
    """``"package.module:attr"`` → ``(module, attr)`` (``attr`` defaults to ``app``; dotted
    attributes are allowed), or ``None`` when ``ref`` is not that syntax."""
    if not isinstance(ref, str) or not ref.strip():
        return None
    module, _, attr = ref.strip().partition(":")
    attr = attr or "app"
    if all(p.isidentifier() for p in module.split(".")) and all(p.isidentifier() for p in attr.split(".")):
        return module, attr
    return None


def did_you_mean(name: str, candidates: Iterable[str]) -> str:
    """``" Did you mean 'batch'?"`` or ``""`` when nothing is close."""
    matches = difflib.get_close_matches(name, list(candidates), n=3, cutoff=0.6)
    if not matches:
        return ""
    if len(matches) == 1:
        return f" Did you mean {matches[0]!r}?"
    return " Did you mean " + " or ".join(repr(m) for m in matches) + "?"
