"""The exception hierarchy of kindling-core.

Every error the framework raises on purpose derives from :class:`KindlingError` and carries
structured fields next to its message:

``culprit``
    what is at fault, named so a user can find it (a plugin id with its distribution and
    version, a TOML key path such as ``tool.kindling.plugins.disable[1]``, a pipe id, a signal
    name).
``remedy``
    what to do about it, in one sentence.

``str(error)`` always includes both, so logs and tracebacks are useful on their own.

Invariant: user-facing failures are ``KindlingError`` subclasses; anything else escaping the
framework is a bug in the framework (or an error raised by user code, passed through and
attributed). Where a failure used to be (or naturally is) a builtin error, the class also
derives from that builtin (``DeclarationError`` is a ``ValueError``, ``UnknownNameError`` a
``LookupError``), so ``except ValueError`` callers keep working; a wrong *type* of value gets a
``...TypeError`` subclass that is also a ``TypeError`` (:class:`ItemTypeError`).

Package-specific errors live next to their package (``kindling_core/model/errors.py``,
``kindling_core/planning/errors.py``, ``kindling_core/execution/errors.py``,
``kindling_core/spark/errors.py``...); ``docs/architecture.md`` shows the whole tree, generated
from the code by ``python -m kindling_core.docgen``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

__all__ = [
    "KindlingError",
    "ConfigError",
    "PluginError",
    "PluginImportError",
    "PluginConflictError",
    "PluginValidationError",
    "PluginRequirementError",
    "PluginConfigureError",
    "PluginItemError",
    "FailedProviderError",
    "SettingsError",
    "ItemError",
    "ItemTypeError",
    "UnknownNameError",
    "SignalError",
    "SignalNameError",
    "SignalPayloadError",
    "SignalArgumentError",
    "SignalArgumentTypeError",
    "UndeclaredSignalError",
    "UndeclaredSignalWarning",
    "ReceiverError",
]


class KindlingError(Exception):
    """Base class of every error kindling-core raises on purpose.

    ``message`` says what went wrong; ``culprit`` names what is at fault; ``remedy`` says how to
    fix it. Both are optional but are given wherever the framework knows them.
    """

    def __init__(self, message: str, *, culprit: str | None = None, remedy: str | None = None):
        self.message = message
        self.culprit = culprit
        self.remedy = remedy
        super().__init__(message)

    def __str__(self) -> str:
        parts = [self.message]
        if self.culprit and self.culprit not in self.message:
            parts.append(f"(culprit: {self.culprit})")
        text = " ".join(parts)
        if self.remedy:
            text += f"\n  remedy: {self.remedy}"
        return text

    def __reduce__(self) -> tuple[Any, ...]:  # keep structured fields across pickling (process pools, Spark)
        return (_rebuild, (type(self), self.message, self.culprit, self.remedy, self.__dict__))


def _rebuild(
    cls: type[KindlingError], message: str, culprit: str | None, remedy: str | None, state: dict[str, Any]
) -> KindlingError:  # pragma: no cover - trivial
    obj = cls.__new__(cls)
    KindlingError.__init__(obj, message, culprit=culprit, remedy=remedy)
    obj.__dict__.update(state)
    return obj


class ConfigError(KindlingError):
    """Configuration is malformed or names something that does not exist.

    ``path`` is the exact TOML key path (``tool.kindling.plugins.disable``) or the file path for
    a file that cannot be parsed; ``source`` is the file the value came from, if any.
    """

    def __init__(
        self,
        message: str,
        *,
        path: str | None = None,
        source: str | None = None,
        culprit: str | None = None,
        remedy: str | None = None,
    ):
        self.path = path
        self.source = source
        super().__init__(message, culprit=culprit or path, remedy=remedy)


class UnknownNameError(ConfigError, LookupError):
    """A name (plugin id, strategy, classifier, pipe, ...) that matches nothing available.

    The message carries a did-you-mean suggestion and the list of available names.
    """

    def __init__(
        self,
        kind: str,
        name: str,
        available: Iterable[str],
        *,
        path: str | None = None,
        source: str | None = None,
        remedy: str | None = None,
    ):
        from kindling_core._names import did_you_mean

        self.kind = kind
        self.name = name
        self.available: tuple[str, ...] = tuple(sorted(available))
        hint = did_you_mean(name, self.available)
        where = f" at {path}" if path else ""
        listing = ", ".join(self.available) if self.available else "(none)"
        message = f"unknown {kind} {name!r}{where}.{hint} Available: {listing}."
        super().__init__(
            message,
            path=path,
            source=source,
            culprit=name,
            remedy=remedy or f"use one of the available {kind} names",
        )


class PluginError(KindlingError):
    """A plugin could not be found, imported, validated or resolved.

    ``plugin`` is the plugin id; ``distribution`` and ``version`` name the installed package
    that provides it (``None`` for inline plugins registered in code).
    """

    def __init__(
        self,
        message: str,
        *,
        plugin: str | None = None,
        distribution: str | None = None,
        version: str | None = None,
        culprit: str | None = None,
        remedy: str | None = None,
    ):
        self.plugin = plugin
        self.distribution = distribution
        self.version = version
        if culprit is None and plugin is not None:
            culprit = describe_plugin(plugin, distribution, version)
        super().__init__(message, culprit=culprit, remedy=remedy)


def describe_plugin(plugin: str, distribution: str | None, version: str | None) -> str:
    """``"webhook (kindling-webhook 0.1.0)"``: how every message names a plugin."""
    if distribution is None:
        return f"{plugin} (inline)"
    return f"{plugin} ({distribution} {version or '?'})"


class PluginImportError(PluginError):
    """Importing a plugin's entry point raised. The original exception is ``__cause__``."""


class PluginConflictError(PluginError):
    """Two distributions claim one plugin id, or two plugins provide one item name."""

    def __init__(self, message: str, *, claimants: Sequence[str], **kwargs: Any):
        self.claimants = tuple(claimants)
        super().__init__(message, **kwargs)


class PluginValidationError(PluginError):
    """A plugin is malformed: a hookimpl for no known hook, a bad signature, an invalid item."""


class PluginRequirementError(PluginError):
    """A plugin listed in ``tool.kindling.plugins.require`` is missing, disabled or too old."""


class PluginConfigureError(PluginError):
    """A plugin's ``kindling_configure`` raised: the plugin is failed and none of its items is
    used. The original exception is ``__cause__``."""


class PluginItemError(PluginError):
    """A plugin's item raised, or returned something the core cannot use, while the core used it.

    Given to the error handlers (source ``plugin-item``, subject the item name); the core goes
    on with the rest of the chain (:func:`kindling_core.errorhandling.call_plugin_item`).
    ``item`` is the item name and ``family`` its family key; an exception the item raised is
    ``__cause__``.
    """

    def __init__(self, message: str, *, item: str, family: str, **kwargs: Any):
        self.item = item
        self.family = family
        super().__init__(message, **kwargs)


class FailedProviderError(UnknownNameError):
    """A name configuration selects is missing because a plugin that provides it (or may) failed.

    ``failed`` holds those plugins' labels (``acme (acme-kindling 1.2.0)``); the message says
    why each failed. ``culprit`` is the failed plugin, not the configuration.
    """

    def __init__(
        self,
        kind: str,
        name: str,
        available: Iterable[str],
        *,
        failed: Sequence[str],
        message: str,
        path: str | None = None,
        remedy: str | None = None,
    ):
        self.kind = kind
        self.name = name
        self.available = tuple(sorted(available))
        self.failed = tuple(failed)
        ConfigError.__init__(self, message, path=path, culprit=", ".join(self.failed), remedy=remedy)


class SettingsError(ConfigError, ValueError):
    """A value in ``[tool.kindling.settings.<plugin-id>]`` is invalid for that plugin.

    Raised by the core for a value that breaks the plugin's declared schema
    (:mod:`kindling_core.plugin_settings`), or by the plugin itself for a finer check.
    ``plugin`` is the plugin id, ``key`` the setting (``""`` for the whole table, dotted for a
    nested key); ``path`` is the exact key path, ``tool.kindling.settings.acme.hot-tag``
    (``table`` is the table's name when the user keyed it by the distribution name instead of
    the plugin id).
    """

    def __init__(
        self,
        message: str,
        *,
        plugin: str,
        key: str,
        table: str | None = None,
        source: str | None = None,
        remedy: str | None = None,
    ):
        self.plugin = plugin
        self.key = key
        path = f"tool.kindling.settings.{table or plugin}" + (f".{key}" if key else "")
        super().__init__(message, path=path, source=source, remedy=remedy)


class ItemError(PluginValidationError, ValueError):
    """A plugin item was constructed with an invalid field (a bad name, an empty description).

    Raised by the item types themselves (:mod:`kindling_core.items`), so the plugin is not
    known yet: the loader, which calls each plugin's hook separately, attributes the error to
    the plugin. ``value`` is the rejected value; ``culprit`` names the field.
    """

    def __init__(self, message: str, *, value: object = None, culprit: str | None = None, remedy: str | None = None):
        self.value = value
        super().__init__(message, culprit=culprit, remedy=remedy)


class ItemTypeError(ItemError, TypeError):
    """A plugin item field got a value of the wrong type (a ``classify`` that is not callable)."""


class SignalError(KindlingError):
    """Base of signal declaration, connection and emission errors."""


class SignalNameError(SignalError, ValueError):
    """A signal name breaks the naming convention (see :mod:`kindling_core.signals`)."""


class SignalPayloadError(SignalError, TypeError):
    """A typed signal was emitted with a payload of the wrong type."""


class UndeclaredSignalError(SignalError, LookupError):
    """A signal name was used that no component declared (strict mode, or emit)."""


class SignalArgumentError(SignalError, ValueError):
    """The signal API was given a value it cannot use (``sender=None``, ``async_workers=0``)."""


class SignalArgumentTypeError(SignalArgumentError, TypeError):
    """The signal API was given an argument of the wrong type (a receiver that is not callable)."""


class UndeclaredSignalWarning(UserWarning):
    """Connecting to a signal name that is not (yet) declared. An error in strict mode."""


class ReceiverError(SignalError):
    """A signal receiver raised. Raised to the emitter only when propagation is configured.

    ``signal`` is the signal name and ``receiver`` a readable name of the receiver; the
    receiver's exception is ``__cause__``.
    """

    def __init__(self, message: str, *, signal: str, receiver: str, **kwargs: Any):
        self.signal = signal
        self.receiver = receiver
        super().__init__(message, culprit=kwargs.pop("culprit", receiver), **kwargs)
