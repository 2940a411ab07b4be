"""Name rules shared by items, plugin ids, entities and pipes, and "did you mean" hints."""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable

__all__ = ["ITEM_NAME_RE", "is_item_name", "check_item_name", "did_you_mean"]

#: Plugin ids and item names: lowercase ASCII letters and digits in words joined by single
#: dashes, starting with a letter (``version-poll``, ``databricks-classifier``, ``x2``).
ITEM_NAME_RE = re.compile(r"^[a-z][a-z0-9]*(?:-[a-z0-9]+)*$")


def is_item_name(name: object) -> bool:
    """True when ``name`` is a valid plugin id / item name."""
    return isinstance(name, str) and ITEM_NAME_RE.match(name) is not None


def check_item_name(name: object, *, what: str = "name") -> str:
    """Return ``name`` if valid, else raise ``ValueError`` explaining the rule."""
    if not is_item_name(name):
        suggestion = ""
        if isinstance(name, str) and name:
            fixed = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
            if fixed and fixed[0].isalpha():
                suggestion = f" (for example {fixed!r})"
        raise ValueError(
            f"invalid {what} {name!r}: use lowercase letters and digits in words joined by "
            f"single dashes, starting with a letter{suggestion}"
        )
    return name  # type: ignore[return-value]


def did_you_mean(name: str, candidates: Iterable[str]) -> str:
    """``" Did you mean 'batch'?"`` or ``""`` when nothing is close."""
    matches = difflib.get_close_matches(name, list(candidates), n=3, cutoff=0.6)
    if not matches:
        return ""
    if len(matches) == 1:
        return f" Did you mean {matches[0]!r}?"
    return " Did you mean " + " or ".join(repr(m) for m in matches) + "?"
