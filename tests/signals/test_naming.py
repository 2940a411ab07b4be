"""The signal naming convention: what is accepted, what is rejected and what the error says."""

from __future__ import annotations

import re
import string

import pytest

from kindling_core.errors import SignalNameError
from kindling_core.signals import CONVENTION, SignalSpec, check_signal_name, is_signal_name
from kindling_core.signals.naming import AMBIGUOUS_PARTICIPLES, IRREGULAR_PARTICIPLES

try:
    from hypothesis import given
    from hypothesis import strategies as st
except ImportError:  # pragma: no cover - hypothesis is a dev dependency
    given = st = None  # type: ignore[assignment]

ACCEPTED = [
    "pipe.before_run",
    "pipe.after_run",
    "pipe.run_failed",
    "streaming.status_changed",
    "streaming.query.before_start",
    "streaming.query.after_restart",
    "streaming.recovery_exhausted",
    "plan.cache_hit",
    "plan.cache_missed",
    "pipe.skipped",
    "pipe.failed",
    "entity.schema_changed",
    "restart.dimension_v2_changed",
    "executor.plan_built",
    "webhook.alert_sent",
    "streaming.query_lost",
    "dimension.change_found",
    "pipe.before_write_delta",
    "a1.b2.after_x9",
]

REJECTED = [
    # (name, rule, fragment of the explanation)
    ("Pipe.after_run", "uppercase", "uppercase"),
    ("pipe.After_Run", "uppercase", "uppercase"),
    ("pipe.after-run", "hyphen", "hyphens"),
    ("pipe.after run", "whitespace", "whitespace"),
    (" pipe.after_run", "whitespace", "whitespace"),
    ("pipe", "single-segment", "single segment"),
    ("after_run", "single-segment", "single segment"),
    ("", "empty", "empty"),
    ("pipe..after_run", "empty-segment", "empty segment"),
    (".pipe.after_run", "empty-segment", "empty segment"),
    ("pipe.after_run.", "empty-segment", "empty segment"),
    ("pipe.before_", "missing-op", "names no operation"),
    ("pipe.after_", "missing-op", "names no operation"),
    ("pipe.before", "missing-op", "names no operation"),
    ("pipe.after", "missing-op", "names no operation"),
    ("pipe.cache__hit", "double-underscore", "double underscore"),
    ("pipe__x.after_run", "double-underscore", "double underscore"),
    ("pipe.run_failed_", "trailing-underscore", "ends with an underscore"),
    ("pipe_.after_run", "trailing-underscore", "ends with an underscore"),
    ("_pipe.after_run", "leading-underscore", "starts with an underscore"),
    ("1pipe.after_run", "leading-digit", "starts with a digit"),
    ("pipe.after_rün", "bad-character", "lowercase ASCII"),
    ("pipe.run", "present-tense", "present tense"),
    ("cache.hit", "present-tense", "present tense"),
    ("pipe.start", "not-past-tense", "present tense"),
    ("pipe.run_start", "not-past-tense", "'start'"),
    ("streaming.status", "not-past-tense", "neither"),
    ("pipe.need", "not-past-tense", "'need'"),
]


@pytest.mark.parametrize("name", ACCEPTED)
def test_accepted_names(name: str) -> None:
    assert check_signal_name(name) == name
    assert is_signal_name(name)
    assert SignalSpec(name).name == name


@pytest.mark.parametrize(("name", "rule", "fragment"), REJECTED)
def test_rejected_names_say_which_rule_and_quote_the_name(
    name: str, rule: str, fragment: str
) -> None:
    with pytest.raises(SignalNameError) as info:
        check_signal_name(name)
    err = info.value
    message = str(err)
    assert err.rule == rule
    assert err.name == name
    assert repr(name) in message  # the culprit
    assert fragment in message  # the rule, explained
    assert "before_{op}" in message and "_changed" in message  # the accepted forms
    assert not is_signal_name(name)


@pytest.mark.parametrize(
    ("name", "suggestion"),
    [
        ("Pipe.After-Run", "pipe.after_run"),
        ("pipe.after run", "pipe.after_run"),
        ("pipe.cache__hit", "pipe.cache_hit"),
        ("pipe.run", "pipe.after_run"),
        ("pipe.start", "pipe.before_start"),
        ("pipe.start", "pipe.start_failed"),
    ],
)
def test_the_error_suggests_a_fix(name: str, suggestion: str) -> None:
    with pytest.raises(SignalNameError) as info:
        check_signal_name(name)
    assert suggestion in info.value.suggestions
    assert repr(suggestion) in str(info.value)
    for suggested in info.value.suggestions:
        assert is_signal_name(suggested)


def test_non_string_names_are_rejected() -> None:
    with pytest.raises(SignalNameError, match="must be a str"):
        check_signal_name(42)  # type: ignore[arg-type]


def test_spec_construction_validates_the_name() -> None:
    with pytest.raises(SignalNameError, match="'pipe.run'"):
        SignalSpec("pipe.run")


def test_the_error_is_a_value_error_with_culprit_and_remedy() -> None:
    with pytest.raises(ValueError) as info:
        check_signal_name("pipe.start")
    assert info.value.culprit == "pipe.start"
    assert "remedy:" in str(info.value)


def test_irregular_participles_need_a_subject_only_when_ambiguous() -> None:
    for word in sorted(IRREGULAR_PARTICIPLES):
        assert is_signal_name(f"pipe.{word}"), word
        assert is_signal_name(f"pipe.thing_{word}"), word
    for word in sorted(AMBIGUOUS_PARTICIPLES):
        assert not is_signal_name(f"pipe.{word}"), word
        assert is_signal_name(f"pipe.thing_{word}"), word


def test_convention_text_lists_the_forms() -> None:
    for form in ("before_{op}", "after_{op}", "{op}_failed", "{state}_changed", "{participle}"):
        assert form in CONVENTION


# -- properties (hypothesis) ----------------------------------------------------------

if st is not None:
    _word = st.from_regex(r"[a-z][a-z0-9]{0,7}", fullmatch=True)
    _segment = st.lists(_word, min_size=1, max_size=3).map("_".join)
    _namespace = st.lists(_segment, min_size=1, max_size=3).map(".".join)
    _event = st.one_of(
        _segment.map(lambda op: f"before_{op}"),
        _segment.map(lambda op: f"after_{op}"),
        _segment.map(lambda op: f"{op}_failed"),
        _segment.map(lambda state: f"{state}_changed"),
        st.tuples(
            _segment, st.sampled_from(sorted(IRREGULAR_PARTICIPLES | AMBIGUOUS_PARTICIPLES))
        ).map("_".join),
        st.sampled_from(sorted(IRREGULAR_PARTICIPLES)),
    )
    valid_names = st.tuples(_namespace, _event).map(".".join)

    @given(valid_names)
    def test_generated_valid_names_are_accepted(name: str) -> None:
        assert check_signal_name(name) == name

    @given(valid_names, st.data())
    def test_uppercasing_any_letter_is_rejected(name: str, data: st.DataObject) -> None:
        letters = [i for i, c in enumerate(name) if c.isalpha()]
        i = data.draw(st.sampled_from(letters))
        broken = name[:i] + name[i].upper() + name[i + 1 :]
        with pytest.raises(SignalNameError) as info:
            check_signal_name(broken)
        assert info.value.rule == "uppercase"
        assert name in info.value.suggestions  # the lowercase form is the obvious fix

    @given(valid_names, st.sampled_from(["-", " ", "__", "..", "/"]), st.data())
    def test_inserting_a_forbidden_separator_is_rejected(
        name: str, bad: str, data: st.DataObject
    ) -> None:
        i = data.draw(st.integers(min_value=1, max_value=len(name) - 1))
        with pytest.raises(SignalNameError):
            check_signal_name(name[:i] + bad + name[i:])

    @given(st.text(alphabet=string.ascii_letters + string.digits + "._- ", max_size=40))
    def test_validator_accepts_exactly_the_grammar_and_fails_only_with_signal_name_error(
        text: str,
    ) -> None:
        try:
            check_signal_name(text)
        except SignalNameError as err:
            assert repr(text) in str(err)
            for suggested in err.suggestions:
                assert is_signal_name(suggested)
        else:
            # anything accepted is dotted lowercase with at least two clean segments
            assert re.fullmatch(
                r"[a-z][a-z0-9]*(_[a-z0-9]+)*(\.[a-z][a-z0-9]*(_[a-z0-9]+)*)+", text
            )
