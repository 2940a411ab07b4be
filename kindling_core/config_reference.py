"""Render ``docs/reference/config.md`` from the configuration's fields.

Every table and key of ``[tool.kindling]`` with its TOML type, default, allowed values and
documentation, read from the same :class:`~kindling_core.config_rules.Rule` objects that check
the values; then the environment variables and the command-line options that set keys.
:mod:`kindling_core.docgen` writes it and a test checks it is not stale.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from typing import Any

from kindling_core.config import ALIASES, ENVIRONMENT, KindlingConfig, rule_of, toml_fields
from kindling_core.config_rules import MAX_SECONDS, default_of

__all__ = ["render_config"]


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, float) and value.is_integer():
        return f"{value:.1f}"
    if isinstance(value, (tuple, list)):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, dict) or hasattr(value, "items"):
        return "{}" if not value else "{ " + ", ".join(f'"{k}" = {_toml(v)}' for k, v in value.items()) + " }"
    return repr(value)


def _keys_table(cls: type) -> list[str]:
    rows = ["| key | type | default | allowed | meaning |", "|---|---|---|---|---|"]
    for key, field in toml_fields(cls).items():
        rule = rule_of(field)
        assert rule is not None
        if rule.kind == "section":
            rows.append(f"| `{key}` | table | | | {_cell(rule.doc)} See [`[tool.kindling.{key}]`](#toolkindling{key}). |")
            continue
        rows.append(
            f"| `{key}` | {rule.type_word()} | `{_cell(_toml(default_of(field)))}` | {_cell(rule.allowed()) or 'any'} | {_cell(rule.doc)} |"
        )
    return rows


def _sections() -> Iterator[tuple[str, str, type]]:
    for key, field in toml_fields(KindlingConfig).items():
        rule = rule_of(field)
        if rule is not None and rule.section is not None:
            yield key, rule.doc, rule.section


def _cli_options() -> list[str]:
    """``kindling`` options typed with :class:`SettingType`: which key each one sets."""
    import click

    from kindling_core.cli import cli
    from kindling_core.cli._setting_type import SettingType

    rows: list[str] = []

    def walk(command: click.Command, words: tuple[str, ...]) -> None:
        for param in command.params:
            if isinstance(param.type, SettingType):
                flag = max(param.opts, key=len)
                rows.append(f"| `{' '.join(words)} {flag}` | `{param.type.key_path}` |")
        if isinstance(command, click.Group):
            for name in sorted(command.commands):
                walk(command.commands[name], (*words, name))

    walk(cli, ("kindling",))
    return ["| option | sets |", "|---|---|", *rows] if rows else []


def render_config() -> str:
    """Markdown for every table and key of ``[tool.kindling]``."""
    from kindling_core.docgen import HEADER

    out = [HEADER, "# Configuration reference\n\n"]
    out.append(
        "kindling reads `[tool.kindling]` from the nearest `pyproject.toml` upward from the working "
        "directory (or the file given to `--config` / `App(config_path=...)`), then the environment "
        "variables below, then overrides from code (`App(...)`, `app.run(...)`) and the command line; "
        "later wins.\n\n"
        "Every value is checked when it is loaded, whatever its source, by the rules in this page: "
        "a bad value is an error naming the exact key path (`tool.kindling.execution.timeout-seconds`), "
        "where the value came from, what is allowed and the remedy; an unknown key is an error with "
        "a did-you-mean and the known keys of its table. Keys are written with dashes in TOML "
        "(`timeout-seconds`); overrides in code accept dashes or underscores. Durations in seconds "
        f"are at most {MAX_SECONDS} (30 days); non-finite numbers (`nan`, `inf`) are refused. "
        "`[tool.kindling.settings.<plugin-id>]` belongs to that plugin, which checks it.\n"
    )
    out.append("\n## `[tool.kindling]`\n\n")
    out.append("\n".join(_keys_table(KindlingConfig)) + "\n")
    for key, doc, section in _sections():
        out.append(f"\n## `[tool.kindling.{key}]`\n\n{doc}")
        details = inspect.cleandoc(section.__doc__ or "").split("\n\n")[1:]  # after the summary line
        out.extend(" " + " ".join(part.split()) for part in details)
        out.append("\n\n" + "\n".join(_keys_table(section)) + "\n")
    out.append("\n## Environment variables\n\n| variable | effect |\n|---|---|\n")
    for name, doc in ENVIRONMENT.items():
        out.append(f"| `{name}` | {_cell(doc)} |\n")
    out.append("\n## Overrides from code and the command line\n\n")
    out.append(
        "`App(**overrides)` and `with_overrides(config, **overrides)` take the keys of "
        "`[tool.kindling]`; a table is a dict merged into the configured one. Aliases: "
        + ", ".join(f"`{alias}=` for `{target}`" for alias, target in ALIASES.items() if "_" in alias)
        + " (`App`'s own `plugins=` takes plugin objects). `app.run(on_failure=..., max_retries=..., "
        "timeout_seconds=..., concurrency=...)` override `[tool.kindling.execution]` for one run. "
        "All of them are checked by the rules above.\n"
    )
    options = _cli_options()
    if options:
        out.append("\n" + "\n".join(options) + "\n")
    return "".join(out)
