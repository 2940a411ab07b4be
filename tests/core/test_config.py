from __future__ import annotations

from pathlib import Path

import pytest

from kindling_core.config import find_pyproject, load_config, parse_config, with_overrides
from kindling_core.errors import ConfigError


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_without_kindling_table(tmp_path: Path) -> None:
    write(tmp_path / "pyproject.toml", "[project]\nname = 'x'\n")
    config = load_config(start=tmp_path, environ={})
    assert config.strategy == "batch"
    assert config.plugins.autoload is True
    assert config.source == (tmp_path / "pyproject.toml").resolve()


def test_nearest_pyproject_upward(tmp_path: Path) -> None:
    write(tmp_path / "pyproject.toml", "[tool.kindling]\nstrategy = 'streaming'\n")
    deep = tmp_path / "a" / "b"
    deep.mkdir(parents=True)
    assert find_pyproject(deep) == tmp_path / "pyproject.toml"
    assert load_config(start=deep, environ={}).strategy == "streaming"


def test_explicit_config_path(tmp_path: Path) -> None:
    path = write(tmp_path / "ci.toml", "[tool.kindling.plugins]\ndisable = ['x']\n")
    assert load_config(path, environ={}).plugins.disable == ("x",)


def test_malformed_toml_names_file_and_position(tmp_path: Path) -> None:
    path = write(tmp_path / "pyproject.toml", "[tool.kindling\nstrategy = 'batch'\n")
    with pytest.raises(ConfigError) as info:
        load_config(path, environ={})
    message = str(info.value)
    assert str(path) in message
    assert "line 1" in message
    assert "remedy" in message


def test_unknown_key_has_exact_path_and_did_you_mean(tmp_path: Path) -> None:
    path = write(tmp_path / "pyproject.toml", "[tool.kindling.plugins]\nautolaod = false\n")
    with pytest.raises(ConfigError) as info:
        load_config(path, environ={})
    assert info.value.path == "tool.kindling.plugins.autolaod"
    assert "Did you mean 'autoload'?" in str(info.value)
    assert str(path) in str(info.value)


def test_unknown_top_level_key() -> None:
    with pytest.raises(ConfigError, match=r"tool\.kindling\.strategi.*Did you mean 'strategy'"):
        parse_config({"strategi": "batch"})


@pytest.mark.parametrize(
    ("data", "path", "expected"),
    [
        ({"plugins": {"disable": "x"}}, "tool.kindling.plugins.disable", "an array of strings"),
        ({"plugins": {"disable": ["ok", 3]}}, "tool.kindling.plugins.disable[1]", "must be a string"),
        ({"plugins": {"strict": "yes"}}, "tool.kindling.plugins.strict", "a boolean"),
        ({"signals": {"async-workers": True}}, "tool.kindling.signals.async-workers", "an integer"),
        ({"plugins": 3}, "tool.kindling.plugins", "must be a table"),
        ({"settings": {"webhook": 1}}, "tool.kindling.settings.webhook", "table"),
    ],
)
def test_wrong_types_name_the_key(data: dict, path: str, expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(data)
    assert info.value.path == path
    assert expected in str(info.value)


def test_settings_are_free_form_and_read_only() -> None:
    config = parse_config({"settings": {"webhook": {"url": "http://x", "any-key": [1, 2]}}})
    assert config.settings_for("webhook")["any-key"] == [1, 2]
    assert config.settings_for("missing") == {}
    with pytest.raises(TypeError):
        config.settings_for("webhook")["url"] = "y"  # type: ignore[index]


def test_environment_overrides(tmp_path: Path) -> None:
    path = write(tmp_path / "pyproject.toml", "[tool.kindling.plugins]\ndisable = ['a']\n")
    config = load_config(path, environ={"KINDLING_DISABLE_PLUGIN_AUTOLOAD": "1", "KINDLING_DISABLE_PLUGINS": "b, c"})
    assert config.plugins.autoload is False
    assert config.plugins.disable == ("a",)
    assert config.plugins.env_disable == ("b", "c")
    assert [where for _, where in config.plugins.all_disabled()] == [
        "tool.kindling.plugins.disable[0]",
        "env KINDLING_DISABLE_PLUGINS",
        "env KINDLING_DISABLE_PLUGINS",
    ]


def test_overrides_are_validated_and_merged() -> None:
    config = parse_config({"plugins": {"disable": ["a"]}})
    changed = with_overrides(config, strategy="streaming", plugins={"strict": True})
    assert changed.strategy == "streaming"
    assert changed.plugins.strict is True and changed.plugins.disable == ("a",)
    with pytest.raises(ConfigError, match="autoload"):
        with_overrides(config, plugins={"autolod": False})
    with pytest.raises(ConfigError, match="strategy"):
        with_overrides(config, strategi="x")
