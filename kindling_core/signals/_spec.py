"""``SignalSpec``: the declaration of one signal.

A spec is what a component lists in its ``EMITS`` and what a :class:`SignalBus` holds per
declared name. It has two shapes (typed core signals beside keyword-payload extension signals):

typed (``payload_type`` given)
    emitted with exactly one payload object, an instance of ``payload_type``, which must be
    immutable: a frozen dataclass, a frozen attrs class or a tuple subclass (``NamedTuple``).
    Receivers are called as ``receiver(sender, payload=payload)``. Core signals are typed.

string / extension (``payload_type is None``)
    emitted with keyword arguments only; receivers are called as
    ``receiver(sender, **kwargs)``. Plugin and extension signals usually take this form.

Invariants: a spec is frozen and hashable; its ``name`` passed :func:`check_signal_name`
when it was built; equality compares every field, so two declarations of one name are
compatible exactly when they are equal.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import attrs

from kindling_core.errors import SignalError
from kindling_core.signals.naming import check_signal_name

__all__ = ["SignalSpec"]


def _check_payload_type(
    instance: SignalSpec, attribute: attrs.Attribute[Any], value: object
) -> None:
    if value is None:
        return
    if not isinstance(value, type):
        raise SignalError(
            f"signal {instance.name!r}: payload_type must be a class or None, got {value!r}",
            culprit=instance.name,
            remedy="pass a frozen attrs class or frozen dataclass, or None for keyword payloads",
        )
    if _is_immutable_payload_type(value):
        return
    raise SignalError(
        f"signal {instance.name!r}: payload type {value.__module__}.{value.__qualname__} is "
        f"not immutable; payloads are shared by every receiver, including receivers running "
        f"on other threads",
        culprit=instance.name,
        remedy="declare the payload with @attrs.frozen or @dataclasses.dataclass(frozen=True)",
    )


def _is_immutable_payload_type(cls: type) -> bool:
    if dataclasses.is_dataclass(cls):
        return bool(cls.__dataclass_params__.frozen)  # type: ignore[attr-defined]
    if attrs.has(cls):
        # attrs installs this function as __setattr__ on frozen classes (and only on them).
        return getattr(cls.__setattr__, "__name__", "") == "_frozen_setattrs"
    return issubclass(cls, tuple)


@attrs.frozen(cache_hash=True)
class SignalSpec:
    """The declaration of one signal: its name, payload shape and documentation.

    ``name`` follows the naming convention (:mod:`kindling_core.signals.naming`);
    ``payload_type`` is the payload class of a typed signal, or ``None`` for a signal emitted
    with keyword arguments; ``doc`` is one or two sentences saying when it is emitted (used in
    the generated signal catalogue); ``emitter`` names the emitting component.
    """

    name: str = attrs.field(validator=lambda _i, _a, v: check_signal_name(v))
    payload_type: type | None = attrs.field(default=None, validator=_check_payload_type)
    doc: str = ""
    emitter: str = ""

    @property
    def typed(self) -> bool:
        """True for a typed signal (emitted with one payload object)."""
        return self.payload_type is not None

    def describe_payload(self) -> str:
        """``"pkg.mod.Payload"`` or ``"keyword arguments"``, for messages and docs."""
        if self.payload_type is None:
            return "keyword arguments"
        return qualified_name(self.payload_type)


def qualified_name(cls: type) -> str:
    module = cls.__module__
    if module == "builtins":
        return cls.__qualname__
    return f"{module}.{cls.__qualname__}"
