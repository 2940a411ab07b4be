"""Built-in change detectors: ``version-poll`` (the default) and ``change-data-feed``.

Their detection machinery (the batched Delta version probe and a Change Data Feed reader)
arrives with dimension-driven restarts; until then the items are registered, selectable and
listed, and calling ``detect`` says plainly that it is not available yet.
"""

from __future__ import annotations

from collections.abc import Callable

from kindling_core.plugin import ChangeContext, ChangeDetector, ChangeReport, hookimpl


def _not_yet(name: str) -> Callable[[ChangeContext], ChangeReport | None]:
    def detect(context: ChangeContext) -> ChangeReport | None:
        raise NotImplementedError(
            f"change detector {name!r} is declared but its machinery (dimension-driven restarts) "
            f"is not part of this kindling-core version; it cannot watch {context.entity!r} yet"
        )

    return detect


@hookimpl
def kindling_change_detectors() -> list[ChangeDetector]:
    """Register ``version-poll`` and ``change-data-feed``."""
    return [
        ChangeDetector(
            name="version-poll",
            description="poll the latest Delta versions of all watched tables in one batch; ignores commits that change no data",
            detect=_not_yet("version-poll"),
        ),
        ChangeDetector(
            name="change-data-feed",
            description="follow the Delta Change Data Feed of a watched table",
            detect=_not_yet("change-data-feed"),
        ),
    ]
