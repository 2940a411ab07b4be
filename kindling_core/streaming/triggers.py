"""Stream triggers as text: what ``@app.pipe(trigger=...)`` and ``default-trigger`` accept.

A trigger says when a streaming query runs its next micro-batch. Accepted forms (any case,
surrounding blanks ignored):

``availableNow`` (also ``available-now``, ``available_now``)
    process everything available now, in as many batches as the read options allow, then stop;
``once``
    process everything available now in one batch, then stop (Spark deprecates it in favour of
    ``availableNow``; accepted because existing jobs use it);
an interval: a number and a unit (``10 seconds``, ``500 ms``, ``1.5 minutes``, ``2h``)
    a micro-batch every interval (``processingTime``); ``0 seconds`` means "as soon as the
    previous batch finished" (Spark's default when a query names no trigger).

Units: ``ms``/``millisecond(s)``, ``s``/``sec(s)``/``second(s)``, ``m``/``min(s)``/``minute(s)``,
``h``/``hour(s)``. Intervals are kept in whole milliseconds.

This is a leaf module (it imports nothing of kindling_core), so the configuration rules and
the pipe model can both check trigger text without loading the streaming runtime.
"""

from __future__ import annotations

import re

import attrs

__all__ = ["TRIGGER_FORMS", "Trigger", "is_trigger"]

#: One line listing the accepted forms, quoted by every error about a trigger.
TRIGGER_FORMS = "'availableNow', 'once', or an interval such as '10 seconds', '500 ms' or '1 minute'"

_INTERVAL = re.compile(r"^(\d+(?:\.\d+)?)\s*([a-z]+)$")
_UNITS_MS = {
    **dict.fromkeys(("ms", "milli", "millis", "millisecond", "milliseconds"), 1),
    **dict.fromkeys(("s", "sec", "secs", "second", "seconds"), 1000),
    **dict.fromkeys(("m", "min", "mins", "minute", "minutes"), 60_000),
    **dict.fromkeys(("h", "hr", "hrs", "hour", "hours"), 3_600_000),
}
_AVAILABLE_NOW = {"availablenow", "available-now", "available_now"}
#: The longest interval accepted (a day): longer is almost certainly a unit mistake.
_MAX_INTERVAL_MS = 24 * 3_600_000


@attrs.frozen
class Trigger:
    """A parsed trigger: ``kind`` is ``"interval"``, ``"available_now"`` or ``"once"``;
    ``interval_ms`` the interval of an ``"interval"`` trigger (0 otherwise)."""

    kind: str
    interval_ms: int = 0

    @classmethod
    def parse(cls, text: object) -> Trigger:
        """The trigger ``text`` stands for; ``ValueError`` saying why when it is none of the
        accepted forms (see the module docstring)."""
        if not isinstance(text, str):
            raise ValueError(f"a trigger is text, not {type(text).__name__}")
        word = text.strip().lower()
        if word in _AVAILABLE_NOW:
            return cls("available_now")
        if word == "once":
            return cls("once")
        if word.startswith("interval "):  # Spark's own spelling: "interval 10 seconds"
            word = word[len("interval ") :].strip()
        match = _INTERVAL.match(word)
        if match is None:
            raise ValueError(f"{text!r} is not a trigger")
        number, unit = match.groups()
        if unit not in _UNITS_MS:
            raise ValueError(f"{text!r} has an unknown unit {unit!r}")
        interval_ms = round(float(number) * _UNITS_MS[unit])
        if interval_ms > _MAX_INTERVAL_MS:
            raise ValueError(f"{text!r} is longer than a day")
        return cls("interval", interval_ms)

    @property
    def bounded(self) -> bool:
        """True when the query stops by itself once the available input is processed."""
        return self.kind != "interval"

    def writer_arguments(self) -> dict[str, object]:
        """Keyword arguments of ``DataStreamWriter.trigger`` for this trigger."""
        if self.kind == "available_now":
            return {"availableNow": True}
        if self.kind == "once":
            return {"once": True}
        return {"processingTime": f"{self.interval_ms} milliseconds"}

    def __str__(self) -> str:
        if self.kind == "available_now":
            return "availableNow"
        if self.kind == "once":
            return "once"
        ms = self.interval_ms
        if ms and ms % 1000 == 0:
            seconds = ms // 1000
            return f"{seconds} second{'s' if seconds != 1 else ''}"
        return f"{ms} millisecond{'s' if ms != 1 else ''}"


def is_trigger(text: object) -> bool:
    """True when ``text`` is an accepted trigger (see the module docstring)."""
    try:
        Trigger.parse(text)
    except ValueError:
        return False
    return True
