"""A click parameter type for an option that overrides one configuration key.

``SettingType("execution", "timeout_seconds")`` parses the option's text as the key's TOML type
and checks it by the key's rule (:mod:`kindling_core.config_rules`), so ``--timeout -3`` and
``--on-failure fail-fast`` are judged exactly as ``timeout-seconds = -3`` and
``on-failure = "fail-fast"`` would be; click reports a bad value naming the option (exit 2).
"""

from __future__ import annotations

from typing import Any

import click

from kindling_core.config import setting_rule
from kindling_core.config_rules import Problem, check

__all__ = ["SettingType"]

_PARSERS: dict[str, click.ParamType] = {"integer": click.INT, "number": click.FLOAT}


class SettingType(click.ParamType):
    """The values ``[tool.kindling.<table>] <key>`` accepts, on the command line."""

    def __init__(self, table: str, key: str) -> None:
        self.rule = setting_rule(table, key)
        self.key_path = f"tool.kindling.{table}.{key}".replace("_", "-")
        self.name = self.rule.type_word()

    def get_metavar(self, param: click.Parameter, ctx: click.Context | None = None) -> str | None:
        if self.rule.choices:
            return "[" + "|".join(self.rule.choices) + "]"
        return {"integer": "INTEGER", "number": "SECONDS" if self.rule.unit == "seconds" else "NUMBER"}.get(self.rule.kind, "TEXT")

    def shell_complete(self, ctx: click.Context, param: click.Parameter, incomplete: str) -> list[Any]:
        from click.shell_completion import CompletionItem

        return [CompletionItem(choice) for choice in self.rule.choices if choice.startswith(incomplete)]

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        parser = _PARSERS.get(self.rule.kind)
        typed = parser.convert(value, param, ctx) if parser is not None and isinstance(value, str) else value
        try:
            return check(self.rule, typed)
        except Problem as problem:
            self.fail(
                f"must be {problem.requirement}, got {value!r} (it sets {self.key_path}).{problem.hint}", param, ctx
            )
