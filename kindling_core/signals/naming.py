"""The signal naming convention, checked when a signal is declared.

A signal name is dotted lowercase ``{namespace}.{event}``:

``namespace``
    one or more segments (``pipe``, ``streaming.query``), each a lowercase word or words joined
    by single underscores, starting with a letter: ``[a-z][a-z0-9]*(_[a-z0-9]+)*``.

``event``
    the last segment, in the same alphabet, in one of these forms:

    ============================  ================================  =============================
    form                          meaning                           example
    ============================  ================================  =============================
    ``before_{op}``               ``op`` is about to happen         ``pipe.before_run``
    ``after_{op}``                ``op`` finished successfully      ``pipe.after_run``
    ``{op}_failed``               ``op`` raised                     ``pipe.run_failed``
    ``{state}_changed``           a state moved                     ``streaming.status_changed``
    ``{subject}_{participle}``    a one-off event, past tense       ``plan.cache_hit``,
                                                                    ``streaming.recovery_exhausted``
    ``{participle}``              a bare one-off event, past tense  ``pipe.skipped``
    ============================  ================================  =============================

A *participle* is a word ending in ``ed`` (except a few present-tense words that merely end
in ``ed``, see :data:`NOT_PARTICIPLES`) or an irregular past participle from
:data:`IRREGULAR_PARTICIPLES`. Irregular participles that are spelled like their present
tense (``run``, ``hit``, ``set``, ... see :data:`AMBIGUOUS_PARTICIPLES`) are accepted only
after a subject (``plan.cache_hit``), never bare: ``pipe.run`` reads as a command, not as
something that happened — use ``pipe.before_run`` / ``pipe.after_run``.

Invariant: :func:`check_signal_name` is a pure function of its argument; it returns the name
unchanged when valid and otherwise raises :class:`~kindling_core.errors.SignalNameError`
whose message quotes the name, names the rule it breaks, lists the accepted forms and, where
one is obvious, suggests a valid name. The error carries ``name``, ``rule`` and
``suggestions`` attributes.
"""

from __future__ import annotations

import re

from kindling_core.errors import SignalNameError

__all__ = [
    "CONVENTION",
    "IRREGULAR_PARTICIPLES",
    "AMBIGUOUS_PARTICIPLES",
    "NOT_PARTICIPLES",
    "check_signal_name",
    "is_signal_name",
]

#: One line stating the convention, quoted by every naming error (and usable in docs).
CONVENTION = (
    "signal names are dotted lowercase '{namespace}.{event}' where the event is "
    "'before_{op}', 'after_{op}', '{op}_failed', '{state}_changed' or a past-tense "
    "'{subject}_{participle}' (for example 'pipe.after_run', 'pipe.run_failed', "
    "'plan.cache_hit', 'pipe.skipped')"
)

#: Irregular past participles that differ from their present tense: valid bare or after a
#: subject (``pipe.begun`` is odd English but unambiguous; ``stream.query_lost`` reads well).
IRREGULAR_PARTICIPLES: frozenset[str] = frozenset(
    {
        "begun",
        "bound",
        "broken",
        "brought",
        "built",
        "caught",
        "chosen",
        "done",
        "drawn",
        "dealt",
        "found",
        "frozen",
        "given",
        "gone",
        "got",
        "gotten",
        "held",
        "hidden",
        "kept",
        "known",
        "laid",
        "left",
        "lost",
        "made",
        "meant",
        "paid",
        "rebuilt",
        "redone",
        "rewritten",
        "seen",
        "sent",
        "shown",
        "sold",
        "spent",
        "taken",
        "thrown",
        "told",
        "torn",
        "undone",
        "withdrawn",
        "won",
        "written",
    }
)

#: Irregular past participles spelled like their present tense: valid only after a subject
#: (``plan.cache_hit``, ``job.dry_run``), rejected bare (``pipe.run``, ``cache.hit``).
AMBIGUOUS_PARTICIPLES: frozenset[str] = frozenset(
    {
        "broadcast",
        "burst",
        "cast",
        "cut",
        "hit",
        "hurt",
        "let",
        "put",
        "quit",
        "read",
        "reset",
        "rerun",
        "run",
        "set",
        "shut",
        "split",
        "spread",
        "upset",
    }
)

#: Words ending in ``ed`` that are not past participles.
NOT_PARTICIPLES: frozenset[str] = frozenset(
    {
        "bed",
        "bleed",
        "breed",
        "deed",
        "embed",
        "exceed",
        "feed",
        "heed",
        "need",
        "proceed",
        "red",
        "seed",
        "shed",
        "shred",
        "speed",
        "succeed",
        "weed",
    }
)

_SEGMENT = re.compile(r"[a-z][a-z0-9]*(?:_[a-z0-9]+)*\Z")
_PHASE = re.compile(r"(before|after)_([a-z0-9]+(?:_[a-z0-9]+)*)\Z")


def is_signal_name(name: object) -> bool:
    """True when ``name`` follows the convention (see the module docstring)."""
    return isinstance(name, str) and _problem(name) is None


def check_signal_name(name: object) -> str:
    """Return ``name`` if it follows the convention, else raise ``SignalNameError``.

    The error message names the signal, the broken rule and the accepted forms, and
    suggests a fix where one is obvious (``'Pipe.After-Run'`` -> ``'pipe.after_run'``,
    ``'pipe.run'`` -> ``'pipe.before_run'``, ``'pipe.after_run'`` or ``'pipe.run_failed'``).
    """
    if not isinstance(name, str):
        err = SignalNameError(
            f"invalid signal name {name!r}: a signal name must be a str, "
            f"not {type(name).__name__}; {CONVENTION}",
            culprit=repr(name),
            remedy="pass the signal name as a string",
        )
        err.name, err.rule, err.suggestions = name, "not-a-string", ()  # type: ignore[attr-defined]
        raise err
    found = _problem(name)
    if found is None:
        return name
    rule, detail = found
    suggestions = _suggest(name, rule)
    if suggestions:
        quoted = [repr(s) for s in suggestions]
        listed = quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " or " + quoted[-1]
        remedy = f"rename it, for example to {listed}"
    else:
        remedy = "rename it following the convention above"
    err = SignalNameError(
        f"invalid signal name {name!r}: {detail}; {CONVENTION}",
        culprit=name,
        remedy=remedy,
    )
    err.name, err.rule, err.suggestions = name, rule, suggestions  # type: ignore[attr-defined]
    raise err


def _is_participle(word: str) -> bool:
    if word in IRREGULAR_PARTICIPLES or word in AMBIGUOUS_PARTICIPLES:
        return True
    return len(word) > 3 and word.endswith("ed") and word not in NOT_PARTICIPLES


def _problem(name: str) -> tuple[str, str] | None:
    """``None`` when valid, else ``(rule, explanation)``; rules are short stable ids."""
    if not name:
        return "empty", "the name is empty"
    if name != name.strip() or any(c.isspace() for c in name):
        return "whitespace", "it contains whitespace"
    if name != name.lower():
        return "uppercase", "it contains uppercase letters"
    if "-" in name:
        return "hyphen", "it contains hyphens (use underscores inside a segment)"
    segments = name.split(".")
    if any(not s for s in segments):
        return "empty-segment", "it has an empty segment (leading, trailing or doubled dot)"
    if len(segments) < 2:
        return (
            "single-segment",
            f"it has a single segment; prefix a namespace, as in 'pipe.{name}'",
        )
    for index, seg in enumerate(segments):
        if _SEGMENT.match(seg):
            continue
        if index == len(segments) - 1 and seg.rstrip("_") in ("before", "after"):
            op = seg.rstrip("_")
            return "missing-op", f"event {seg!r} names no operation (use '{op}_{{op}}')"
        if "__" in seg:
            return "double-underscore", f"segment {seg!r} contains a double underscore"
        if seg.endswith("_"):
            return "trailing-underscore", f"segment {seg!r} ends with an underscore"
        if seg.startswith("_"):
            return "leading-underscore", f"segment {seg!r} starts with an underscore"
        if seg[0].isdigit():
            return "leading-digit", f"segment {seg!r} starts with a digit"
        return (
            "bad-character",
            f"segment {seg!r} may contain only lowercase ASCII letters, digits and underscores",
        )
    event = segments[-1]
    if _PHASE.match(event):
        return None
    words = event.split("_")
    last = words[-1]
    if words[0] in ("before", "after") and len(words) == 1:
        return "missing-op", f"event {event!r} names no operation (use '{event}_{{op}}')"
    if _is_participle(last):
        if len(words) == 1 and last in AMBIGUOUS_PARTICIPLES:
            return (
                "present-tense",
                f"event {event!r} reads as present tense (a command, not something that happened)",
            )
        return None
    return (
        "not-past-tense",
        f"event {event!r} is neither before_/after_{{op}} nor ends in a past participle "
        f"({last!r} reads as present tense or a noun)",
    )


def _suggest(name: str, rule: str) -> tuple[str, ...]:
    """Valid names close to ``name``, best first; empty when nothing is obvious."""
    if rule in ("not-a-string", "empty"):
        return ()
    fixed = re.sub(r"[\s\-]+", "_", name.strip().lower())
    fixed = re.sub(r"_+", "_", fixed)
    fixed = re.sub(r"\.+", ".", fixed)
    fixed = ".".join(s.strip("_") for s in fixed.strip(".").split("."))
    if fixed != name and is_signal_name(fixed):
        return (fixed,)
    segments = fixed.split(".")
    if len(segments) < 2 or not all(_SEGMENT.match(s) for s in segments):
        return ()
    ns, event = ".".join(segments[:-1]), segments[-1]
    if event in ("before", "after"):
        return ()
    candidates = (f"{ns}.before_{event}", f"{ns}.after_{event}", f"{ns}.{event}_failed")
    return tuple(c for c in candidates if is_signal_name(c))
