"""``kindling signals list [--json]``: the declared core signals."""

from __future__ import annotations

import json

import click

from kindling_core.signal_catalog import core_signals
from kindling_core.signals import SignalSpec


def _type_name(spec: SignalSpec) -> str:
    return spec.payload_type.__name__ if spec.payload_type is not None else "(keyword arguments)"


@click.group()
def signals() -> None:
    """Inspect the signals kindling emits."""


@signals.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array (machine-clean).")
def list_signals(as_json: bool) -> None:
    """List every core signal with its payload type and emitter."""
    specs = core_signals()
    if as_json:
        rows = [
            {
                "name": spec.name,
                "payload": _type_name(spec),
                "fields": list(_fields(spec)),
                "emitter": spec.emitter,
                "doc": spec.doc,
            }
            for spec in specs
        ]
        click.echo(json.dumps(rows, indent=2))
        return
    width = max([len(s.name) for s in specs] + [4])
    for spec in specs:
        click.echo(f"{spec.name:<{width}}  {_type_name(spec):<24}  {spec.doc}")


def _fields(spec: SignalSpec) -> tuple[str, ...]:
    import dataclasses

    import attrs

    payload = spec.payload_type
    if payload is None:
        return ()
    if attrs.has(payload):
        return tuple(field.name for field in attrs.fields(payload))
    if dataclasses.is_dataclass(payload):
        return tuple(field.name for field in dataclasses.fields(payload))
    return ()
