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
attributed).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

__all__ = [
    "KindlingError",
    "ConfigError",
    "PluginError",
    "PluginImportError",
    "PluginConflictError",
    "PluginValidationError",
    "PluginRequirementError",
    "UnknownNameError",
    "SignalError",
    "SignalNameError",
    "SignalPayloadError",
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

    def __reduce__(self):  # keep structured fields across pickling (process pools, Spark)
        return (_rebuild, (type(self), self.message, self.culprit, self.remedy, self.__dict__))


def _rebuild(cls, message, culprit, remedy, state):  # pragma: no cover - trivial
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

    def __init__(self, message: str, *, claimants: Sequence[str], **kwargs):
        self.claimants = tuple(claimants)
        super().__init__(message, **kwargs)


class PluginValidationError(PluginError):
    """A plugin is malformed: a hookimpl for no known hook, a bad signature, an invalid item."""


class PluginRequirementError(PluginError):
    """A plugin listed in ``tool.kindling.plugins.require`` is missing, disabled or too old."""


class SignalError(KindlingError):
    """Base of signal declaration, connection and emission errors."""


class SignalNameError(SignalError, ValueError):
    """A signal name breaks the naming convention (see :mod:`kindling_core.signals`)."""


class SignalPayloadError(SignalError, TypeError):
    """A typed signal was emitted with a payload of the wrong type."""


class UndeclaredSignalError(SignalError, LookupError):
    """A signal name was used that no component declared (strict mode, or emit)."""


class UndeclaredSignalWarning(UserWarning):
    """Connecting to a signal name that is not (yet) declared. An error in strict mode."""


class ReceiverError(SignalError):
    """A signal receiver raised. Raised to the emitter only when propagation is configured.

    ``signal`` is the signal name and ``receiver`` a readable name of the receiver; the
    receiver's exception is ``__cause__``.
    """

    def __init__(self, message: str, *, signal: str, receiver: str, **kwargs):
        self.signal = signal
        self.receiver = receiver
        super().__init__(message, culprit=kwargs.pop("culprit", receiver), **kwargs)
