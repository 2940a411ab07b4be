"""Pipes: functions from input DataFrames to one output entity, batch or streaming.

A :class:`Pipe` is immutable metadata plus the transform function. Validation at construction:

* ``id``, every input, the output and every dimension follow :data:`~kindling_core.model.ID_RULE`;
* inputs are distinct; ``dimensions`` are a subset of ``inputs`` (a streaming pipe's
  dimensions are the static tables it joins; changes to them can restart it);
* ``mode`` is ``batch`` or ``streaming`` and ``write`` is ``overwrite``, ``append`` or ``merge``
  (strings or the enums);
* the function can take the inputs positionally, one DataFrame per input in declared order:
  it has at least as many positional parameters as inputs (or ``*args``), no more *required*
  ones, and no required keyword-only ones. Parameter names need not match the entity ids.

A pipe whose output is also one of its inputs is a self-loop; that is reported when the graph
is built (:class:`kindling_core.planning.SelfLoopError`), like any other cycle.
"""

from __future__ import annotations

import enum
import functools
import inspect
import types
from collections.abc import Callable, Mapping
from typing import Any

import attrs

from kindling_core._convert import frozen_mapping, str_tuple
from kindling_core._names import did_you_mean
from kindling_core.model._ids import ID_RE, as_id_tuple, canonical, check_id
from kindling_core.model.errors import (
    DeclarationError,
    InvalidChoiceError,
    InvalidDimensionError,
    SignatureMismatchError,
)
from kindling_core.streaming.triggers import TRIGGER_FORMS, Trigger

__all__ = ["Pipe", "PipeMode", "WriteMode", "check_signature"]


class PipeMode(str, enum.Enum):
    """How a pipe runs: a one-off batch job, or a long-running Structured Streaming query."""

    BATCH = "batch"
    """Runs once per run: read the inputs, write the output, done."""
    STREAMING = "streaming"
    """A long-running Structured Streaming query reading its first input as a stream."""

    def __str__(self) -> str:
        return self.value


class WriteMode(str, enum.Enum):
    """How a pipe writes its output entity."""

    OVERWRITE = "overwrite"
    """Replace the table's contents."""
    APPEND = "append"
    """Add the rows to the table."""
    MERGE = "merge"
    """Upsert on the output entity's ``merge_keys``."""

    def __str__(self) -> str:
        return self.value


# Value → member (the members are ``str`` enums, so a member finds itself here too). A dict
# lookup instead of ``PipeMode(value)``: the enum call costs a microsecond per declaration.
_PIPE_MODES: dict[Any, PipeMode] = {mode.value: mode for mode in PipeMode}
_WRITE_MODES: dict[Any, WriteMode] = {write.value: write for write in WriteMode}


def _to_pipe_mode(value: Any) -> Any:
    """``"batch"`` → ``PipeMode.BATCH``; invalid values pass through to be reported with the id."""
    try:
        return _PIPE_MODES.get(value, value)
    except TypeError:  # unhashable
        return value


def _to_write_mode(value: Any) -> Any:
    """``"merge"`` → ``WriteMode.MERGE``; invalid values pass through to be reported with the id."""
    try:
        return _WRITE_MODES.get(value, value)
    except TypeError:  # unhashable
        return value






def _summary(func: Callable[..., Any]) -> str:
    """The first paragraph of the function's docstring, on one line ("" when none)."""
    doc = getattr(func, "__doc__", None)
    if not isinstance(doc, str) or not doc.strip():
        return ""
    return _first_paragraph(doc)


@functools.lru_cache(maxsize=1024)
def _first_paragraph(doc: str) -> str:
    text = inspect.cleandoc(doc)
    return " ".join(text.split("\n\n", 1)[0].split())


@attrs.frozen
class Pipe:
    """A transform from ``inputs`` (entity ids, in parameter order) to one ``output`` entity.

    ``func`` is called with one DataFrame per input (it is excluded from equality, hashing
    and fingerprints: plans depend on metadata only). ``description`` defaults to the first
    paragraph of the function's docstring. ``origin`` records where the pipe was declared.
    """

    id: str
    """The pipe's id (unique among the app's pipes)."""
    inputs: tuple[str, ...] = attrs.field(converter=str_tuple)
    """Entity ids the function receives, one DataFrame each, in this order."""
    output: str
    """Id of the entity the pipe writes."""
    func: Callable[..., Any] = attrs.field(eq=False, hash=False, repr=False)
    """The transform function."""
    mode: PipeMode = attrs.field(default=PipeMode.BATCH, converter=_to_pipe_mode)
    """``batch`` or ``streaming``."""
    dimensions: tuple[str, ...] = attrs.field(default=(), converter=str_tuple)
    """Inputs that are static tables joined by a streaming pipe (their changes can restart it)."""
    tags: tuple[str, ...] = attrs.field(default=(), converter=str_tuple)
    """Free-form labels (``critical``, ``finance``...) for strategies, heuristics and selection."""
    write: WriteMode = attrs.field(default=WriteMode.OVERWRITE, converter=_to_write_mode)
    """How the output is written: ``overwrite``, ``append`` or ``merge``."""
    description: str = ""
    """One line for humans (default: the first paragraph of the function's docstring)."""
    options: Mapping[str, Any] = attrs.field(factory=dict, converter=frozen_mapping, hash=False)
    """Free-form read-only settings for plugins and runners (``{"sla": "1h"}``)."""
    trigger: str | None = None
    """Streaming pipes: when the next micro-batch runs (``"10 seconds"``, ``"availableNow"``,
    ``"once"``; see :mod:`kindling_core.streaming.triggers`). ``None``: the configured
    ``default-trigger`` of ``[tool.kindling.streaming]``."""
    read_options: Mapping[str, Any] = attrs.field(factory=dict, converter=frozen_mapping, hash=False)
    """Streaming pipes: options of every input read as a stream (``{"maxFilesPerTrigger": 1,
    "startingVersion": 5}``); dimensions, read as static tables, do not get them."""
    checkpoint: str | None = None
    """Streaming pipes: the checkpoint location (a path relative to the project root, or a URL);
    ``None``: ``<checkpoint-base>/<pipe id>`` of ``[tool.kindling.streaming]``."""
    on_checkpoint_mismatch: str = "fail"
    """Streaming pipes: what a start does when the pipe no longer matches its checkpoint (the
    plan fingerprint kindling stored beside it differs): ``"fail"`` (raise
    :class:`~kindling_core.streaming.errors.CheckpointMismatchError` before Spark starts) or
    ``"clean-start"`` (move the checkpoint aside and resume each Delta source at the first
    version it had not processed; see ``docs/design/checkpoints.md``)."""
    origin: str = attrs.field(default="", eq=False, repr=False)
    """Where the pipe was declared (``function f at file.py:12``)."""

    def __attrs_post_init__(self) -> None:
        # Declaring 100,000 pipes must be cheap: every check has a fast path for valid input,
        # and the precise error message is only built when a check fails.
        inputs, dimensions = self.inputs, self.dimensions
        match = ID_RE.match
        try:
            valid = (
                match(self.id) and match(self.output) and all(map(match, inputs))
                and (not dimensions or all(map(match, dimensions)))
            )
        except TypeError:  # not a string
            valid = False
        if not valid:
            check_id(self.id, kind="pipe")
            as_id_tuple(inputs, kind="pipe", where="inputs", declaration=self.id)
            check_id(self.output, kind="entity", where="output", declaration=self.id)
            as_id_tuple(dimensions, kind="pipe", where="dimensions", declaration=self.id)
        if type(self.mode) is not PipeMode or type(self.write) is not WriteMode:
            _check_choice(self.id, "mode", self.mode, PipeMode)
            _check_choice(self.id, "write", self.write, WriteMode)
        count = len(inputs)
        if count > 1 and (inputs[0] == inputs[1] if count == 2 else len(set(inputs)) != count):
            duplicate = next(e for i, e in enumerate(inputs) if e in inputs[:i])
            raise DeclarationError(
                f"pipe {self.id!r} lists input {duplicate!r} twice; inputs must be distinct",
                declaration=self.id,
                remedy="list each input entity once",
            )
        if dimensions:
            _check_dimensions(self.id, dimensions, inputs)
        if self.trigger is not None or self.read_options or self.checkpoint is not None or self.on_checkpoint_mismatch != "fail":
            _check_stream_settings(self)
        if self.tags:
            for index, tag in enumerate(self.tags):
                if not isinstance(tag, str) or not tag.strip():
                    raise DeclarationError(f"pipe {self.id!r}: tags[{index}] must be a non-empty string, got {tag!r}", declaration=self.id)
        func = self.func
        if type(func) is not _FunctionType or not _takes_positionally(func, count):
            if not callable(func):
                raise DeclarationError(
                    f"pipe {self.id!r}: func must be callable, got {type(func).__name__}",
                    declaration=self.id,
                    remedy="decorate a function with @app.pipe(...)",
                )
            check_signature(self.id, func, inputs)
        if not self.description:
            object.__setattr__(self, "description", _summary(func))

    @property
    def is_streaming(self) -> bool:
        """``mode is PipeMode.STREAMING``."""
        return self.mode is PipeMode.STREAMING

    def fingerprint_data(self) -> str:
        """Metadata that shapes plans, canonical: everything but ``func``, ``description`` and
        ``origin``, as one line of text (ids cannot contain spaces or commas, so joining them is
        unambiguous; tags and options are written as ``repr``). The catalog fingerprint hashes
        these lines, sorted; text is several times cheaper to build than a tuple to ``repr``.
        """
        options = canonical(self.options) if self.options else ()
        text = (
            f"pipe {self.id} {','.join(self.inputs)} {self.output} {self.mode._value_} "
            f"{','.join(self.dimensions)} {self.write._value_} {self.tags!r} {options!r}"
        )
        if self.trigger is not None or self.read_options or self.checkpoint is not None or self.on_checkpoint_mismatch != "fail":
            text += f" stream {self.trigger!r} {canonical(self.read_options)!r} {self.checkpoint!r} {self.on_checkpoint_mismatch!r}"
        return text


#: The values of ``on_checkpoint_mismatch``.
CHECKPOINT_MISMATCH_POLICIES = ("fail", "clean-start")


def _check_stream_settings(pipe: Pipe) -> None:
    """``trigger``, ``read_options``, ``checkpoint`` and ``on_checkpoint_mismatch``: only on
    streaming pipes, and well-formed."""
    given = [name for name in ("trigger", "read_options", "checkpoint") if getattr(pipe, name)]
    if pipe.on_checkpoint_mismatch != "fail":
        given.append("on_checkpoint_mismatch")
    if pipe.mode is not PipeMode.STREAMING:
        raise DeclarationError(
            f"pipe {pipe.id!r} is a batch pipe but declares {', '.join(f'{n}=' for n in given)}, "
            "which only streaming pipes use",
            declaration=pipe.id,
            remedy="declare the pipe with mode='streaming', or remove " + ", ".join(f"{n}=" for n in given),
        )
    if pipe.trigger is not None:
        try:
            Trigger.parse(pipe.trigger)
        except ValueError as exc:
            raise DeclarationError(
                f"pipe {pipe.id!r}: trigger={pipe.trigger!r} is not a trigger ({exc}); accepted: {TRIGGER_FORMS}",
                declaration=pipe.id,
                remedy="write the trigger as 'availableNow', 'once' or an interval such as trigger='10 seconds'",
            ) from None
    for key, value in pipe.read_options.items():
        if not isinstance(key, str) or not key.strip() or isinstance(value, (Mapping, list, tuple, set)) or value is None:
            raise DeclarationError(
                f"pipe {pipe.id!r}: read_options must map option names to strings, numbers or booleans, "
                f"got {key!r}: {value!r}",
                declaration=pipe.id,
                remedy="pass read_options={'maxFilesPerTrigger': 1, 'startingVersion': 5} (Spark reader options)",
            )
    policy = pipe.on_checkpoint_mismatch
    if policy not in CHECKPOINT_MISMATCH_POLICIES:
        hint = did_you_mean(policy, CHECKPOINT_MISMATCH_POLICIES) if isinstance(policy, str) else ""
        raise InvalidChoiceError(
            f"pipe {pipe.id!r}: on_checkpoint_mismatch must be one of "
            f"{', '.join(repr(c) for c in CHECKPOINT_MISMATCH_POLICIES)}, got {policy!r}.{hint}",
            field="on_checkpoint_mismatch",
            value=policy,
            choices=list(CHECKPOINT_MISMATCH_POLICIES),
            declaration=pipe.id,
            remedy="use on_checkpoint_mismatch='fail' (the default: stop with the reason) or 'clean-start' "
            "(move the checkpoint aside and resume where it ended)",
        )
    if pipe.checkpoint is not None and (not isinstance(pipe.checkpoint, str) or not pipe.checkpoint.strip()):
        raise DeclarationError(
            f"pipe {pipe.id!r}: checkpoint must be a non-empty path or URL, got {pipe.checkpoint!r}",
            declaration=pipe.id,
            remedy="pass checkpoint='abfss://.../checkpoints/my_pipe' or a local path, or leave it out",
        )


def _check_dimensions(pipe_id: str, dimensions: tuple[str, ...], inputs: tuple[str, ...]) -> None:
    for dimension in dimensions:
        if dimension not in inputs:
            raise InvalidDimensionError(
                f"pipe {pipe_id!r} names dimension {dimension!r}, which is not one of its inputs "
                f"({', '.join(inputs) or 'none'}).{did_you_mean(dimension, inputs)}",
                pipe=pipe_id,
                dimension=dimension,
                inputs=inputs,
                remedy="add the dimension to inputs= (the function receives it like any input) "
                "or remove it from dimensions=",
            )
    if len(set(dimensions)) != len(dimensions):
        raise DeclarationError(f"pipe {pipe_id!r} lists a dimension twice", declaration=pipe_id)


def _check_choice(pipe_id: str, field: str, value: Any, enum_type: type[enum.Enum]) -> None:
    if isinstance(value, enum_type):
        return
    choices = [member.value for member in enum_type]
    hint = did_you_mean(value, choices) if isinstance(value, str) else ""
    raise InvalidChoiceError(
        f"pipe {pipe_id!r}: {field} must be one of {', '.join(repr(c) for c in choices)}, got {value!r}.{hint}",
        field=field,
        value=value,
        choices=choices,
        declaration=pipe_id,
        remedy=f"use {field}={choices[0]!r} or another listed value",
    )


def _shape(func: Callable[..., Any]) -> tuple[list[str], int, bool, list[str]] | None:
    """``(positional names, required positional count, has *args, required kw-only names)``.

    A fast path reads plain functions' code objects (declaring 100,000 pipes must be cheap);
    other callables go through :func:`inspect.signature`. ``None`` when it cannot be known.
    """
    if type(func) is types.FunctionType:
        code = func.__code__
        count = code.co_argcount
        names = list(code.co_varnames[:count])
        defaults = len(func.__defaults__ or ())
        has_var = bool(code.co_flags & inspect.CO_VARARGS)
        kwonly = code.co_varnames[count : count + code.co_kwonlyargcount]
        kwdefaults = func.__kwdefaults__ or {}
        return names, count - defaults, has_var, [n for n in kwonly if n not in kwdefaults]
    try:
        signature = inspect.signature(func)
    except (TypeError, ValueError):
        return None
    names, required, has_var, kw_required = [], 0, False, []
    for parameter in signature.parameters.values():
        if parameter.kind in (parameter.POSITIONAL_ONLY, parameter.POSITIONAL_OR_KEYWORD):
            names.append(parameter.name)
            required += parameter.default is parameter.empty
        elif parameter.kind is parameter.VAR_POSITIONAL:
            has_var = True
        elif parameter.kind is parameter.KEYWORD_ONLY and parameter.default is parameter.empty:
            kw_required.append(parameter.name)
    return names, required, has_var, kw_required


_FunctionType = types.FunctionType


def _takes_positionally(func: types.FunctionType, count: int) -> bool:
    """True when the plain function ``func`` accepts ``count`` positional arguments and nothing
    else is required (the fast path of :func:`check_signature`, which explains a ``False``)."""
    code = func.__code__
    if code.co_kwonlyargcount:
        return False  # keyword-only parameters: let check_signature look at their defaults
    positional = code.co_argcount
    defaults = func.__defaults__
    required = positional - len(defaults) if defaults else positional
    return required <= count and (count <= positional or bool(code.co_flags & inspect.CO_VARARGS))


def check_signature(pipe_id: str, func: Callable[..., Any], inputs: tuple[str, ...]) -> None:
    """Raise :class:`SignatureMismatchError` unless ``func`` takes ``inputs`` positionally."""
    shape = _shape(func)
    if shape is None:
        return
    names, required, has_var, kw_required = shape
    count = len(inputs)
    if not kw_required and required <= count and (has_var or count <= len(names)):
        return
    name = getattr(func, "__qualname__", None) or getattr(func, "__name__", None) or repr(func)
    shown = ", ".join(names + (["*args"] if has_var else []) + [f"*, {n}" for n in kw_required])
    listing = ", ".join(inputs) if inputs else "none"
    if kw_required:
        problem = f"requires keyword-only parameter(s) {', '.join(kw_required)}, which inputs cannot fill"
    elif count < required:
        problem = f"requires {required} positional parameter(s)"
    else:
        problem = f"takes at most {len(names)} positional parameter(s)"
    raise SignatureMismatchError(
        f"pipe {pipe_id!r}: function {name}({shown}) {problem}, but the pipe has {count} input(s) "
        f"({listing}) and the function receives one DataFrame per input, in the order of inputs=",
        pipe=pipe_id,
        parameters=names,
        inputs=inputs,
        remedy="give the function exactly one parameter per input (names need not match the "
        "entity ids), or accept *inputs",
    )
