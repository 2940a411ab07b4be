"""Entity and pipe declarations: validation messages, the catalog, fingerprints."""

from __future__ import annotations

import functools
import threading

import pytest

from kindling_core.errors import KindlingError
from kindling_core.model import (
    ID_RULE,
    Catalog,
    DeclarationError,
    DuplicateDeclarationError,
    Entity,
    InvalidChoiceError,
    InvalidDimensionError,
    InvalidIdError,
    PipeMode,
    SignatureMismatchError,
    WriteMode,
)


def two(a, b):
    """Join a with b.

    More detail that is not part of the summary.
    """


def test_entity_fields_and_defaults() -> None:
    entity = Entity("silver.customers", table="main.silver.customers", merge_keys=["id"], kind="dimension", tags=["pii"])
    assert entity.format == "delta" and entity.merge_keys == ("id",) and entity.is_dimension
    assert entity.location == "main.silver.customers" and entity.change_data_feed is False
    with pytest.raises(TypeError):
        entity.options["x"] = 1  # type: ignore[index]
    hash(entity)  # hashable even with an options mapping


def test_entity_needs_exactly_one_location() -> None:
    with pytest.raises(DeclarationError, match="needs exactly one of path= .* or table= .*; got both"):
        Entity("a.b", path="/x", table="t")
    with pytest.raises(DeclarationError, match="got neither"):
        Entity("a.b")


@pytest.mark.parametrize("bad", ["Bronze.Orders", "bronze..orders", "1bronze", "bronze-orders", "", ".x", "x."])
def test_ids_must_follow_the_rule(bad: str) -> None:
    with pytest.raises(InvalidIdError) as info:
        Entity(bad, path="/x")
    assert ID_RULE in str(info.value) and repr(bad) in str(info.value)
    assert info.value.kind == "entity" and info.value.where == "id"


def test_id_suggestion_and_input_ids() -> None:
    catalog = Catalog()
    with pytest.raises(InvalidIdError, match=r"invalid pipe id 'Silver.Orders'.*Did you mean 'silver.orders'\?"):
        catalog.add_pipe("Silver.Orders", func=two, inputs=["a.x", "b.y"], output="c.z")
    with pytest.raises(InvalidIdError, match=r"invalid entity id 'B-Y' in inputs\[1\] of pipe 'p.q'"):
        catalog.add_pipe("p.q", func=two, inputs=["a.x", "B-Y"], output="c.z")


def test_duplicate_entity_names_the_existing_declaration() -> None:
    catalog = Catalog()
    catalog.add_entity("bronze.orders", path="/lake/orders")
    with pytest.raises(DuplicateDeclarationError) as info:
        catalog.add_entity("bronze.orders", table="t")
    message = str(info.value)
    assert "entity 'bronze.orders' is already declared" in message
    assert "test_declarations.py:" in message and "path='/lake/orders'" in message
    assert info.value.kind == "entity" and info.value.id == "bronze.orders"


def test_duplicate_pipe_names_the_existing_function() -> None:
    catalog = Catalog()
    catalog.add_pipe("silver.orders", func=two, inputs=["a.x", "b.y"], output="silver.orders")
    expected = r"pipe 'silver.orders' is already declared \(function two at .*test_declarations.py:\d+, output 'silver.orders'\)"
    with pytest.raises(DuplicateDeclarationError, match=expected):
        catalog.add_pipe("silver.orders", func=lambda a: a, inputs=["a.x"], output="other.out")


def test_a_pipe_and_an_entity_may_share_an_id() -> None:
    catalog = Catalog()
    catalog.add_entity("silver.orders", path="/x")
    catalog.add_pipe("silver.orders", func=two, inputs=["a.x", "b.y"], output="silver.orders")
    assert catalog.get("silver.orders").output == "silver.orders"  # the pipe first


@pytest.mark.parametrize(
    ("func", "inputs", "fragment"),
    [
        (
            lambda a: a,
            ["x.a", "x.b"],
            "function <lambda>(a) takes at most 1 positional parameter(s), but the pipe has 2 input(s) (x.a, x.b)",
        ),
        (two, ["x.a"], "function two(a, b) requires 2 positional parameter(s), but the pipe has 1 input(s) (x.a)"),
        (lambda a, *, key: a, ["x.a"], "requires keyword-only parameter(s) key"),
        (functools.partial(two, 1), ["x.a", "x.b"], "takes at most 1 positional parameter(s)"),
    ],
)
def test_signature_must_match_the_inputs(func, inputs, fragment) -> None:
    with pytest.raises(SignatureMismatchError) as info:
        Catalog().add_pipe("p.q", func=func, inputs=inputs, output="out.x")
    assert fragment in str(info.value)
    assert "pipe 'p.q'" in str(info.value)
    assert info.value.inputs == tuple(inputs) and info.value.pipe == "p.q"


@pytest.mark.parametrize(
    "func",
    [lambda *frames: None, lambda a, *rest: None, lambda a, b, c=None: None, lambda orders, customers: None, functools.partial(two)],
)
def test_compatible_signatures(func) -> None:
    Catalog().add_pipe("p.q", func=func, inputs=["x.a", "x.b"], output="out.x")


def test_dimension_must_be_an_input() -> None:
    with pytest.raises(InvalidDimensionError) as info:
        Catalog().add_pipe("p.q", func=two, inputs=["x.a", "silver.customers"], output="o.x", dimensions=["silver.customer"])
    message = str(info.value)
    assert "pipe 'p.q' names dimension 'silver.customer', which is not one of its inputs (x.a, silver.customers)" in message
    assert "Did you mean 'silver.customers'?" in message


def test_mode_and_write_are_checked() -> None:
    with pytest.raises(InvalidChoiceError, match=r"mode must be one of 'batch', 'streaming', got 'stream'. Did you mean 'streaming'\?"):
        Catalog().add_pipe("p.q", func=two, inputs=["x.a", "x.b"], output="o.x", mode="stream")
    with pytest.raises(InvalidChoiceError, match="write must be one of 'overwrite', 'append', 'merge'"):
        Catalog().add_pipe("p.q", func=two, inputs=["x.a", "x.b"], output="o.x", write="upsert")
    pipe = Catalog().add_pipe("p.q", func=two, inputs=["x.a", "x.b"], output="o.x", mode="streaming", write="merge")
    assert pipe.mode is PipeMode.STREAMING and pipe.write is WriteMode.MERGE


def test_other_pipe_checks() -> None:
    with pytest.raises(DeclarationError, match="lists input 'x.a' twice"):
        Catalog().add_pipe("p.q", func=two, inputs=["x.a", "x.a"], output="o.x")
    with pytest.raises(DeclarationError, match="func must be callable"):
        Catalog().add_pipe("p.q", func=42, inputs=["x.a"], output="o.x")  # type: ignore[arg-type]
    assert issubclass(DeclarationError, KindlingError) and issubclass(DeclarationError, ValueError)


def test_description_comes_from_the_docstring() -> None:
    pipe = Catalog().add_pipe("p.q", func=two, inputs=["x.a", "x.b"], output="o.x")
    assert pipe.description == "Join a with b."
    explicit = Catalog().add_pipe("p.q", func=two, inputs=["x.a", "x.b"], output="o.x", description="Mine.")
    assert explicit.description == "Mine."


def test_fingerprint_is_order_independent_and_tracks_changes() -> None:
    def declare(catalog: Catalog, order: list[int]) -> None:
        for i in order:
            catalog.add_pipe(f"p.n{i}", func=lambda x: x, inputs=[f"e.n{i - 1}" if i else "raw.x"], output=f"e.n{i}")

    one, two_ = Catalog(), Catalog()
    declare(one, [0, 1, 2])
    declare(two_, [2, 0, 1])
    assert one.fingerprint == two_.fingerprint
    before, version = one.fingerprint, one.version
    one.add_entity("e.n0", path="/x")
    assert one.fingerprint != before and one.version == version + 1
    one.remove_entity("e.n0")
    assert one.fingerprint == before
    removed = one.remove_pipe("p.n2")
    one.add_pipe("p.n2", func=removed.func, inputs=removed.inputs, output=removed.output, tags=["hot"])
    assert one.fingerprint != before


def test_functions_do_not_affect_the_fingerprint() -> None:
    a, b = Catalog(), Catalog()
    a.add_pipe("p.q", func=lambda x: 1, inputs=["x.a"], output="o.x")
    b.add_pipe("p.q", func=lambda y: 2, inputs=["x.a"], output="o.x")
    assert a.fingerprint == b.fingerprint


def test_undeclared_entities_are_implicit_references() -> None:
    catalog = Catalog()
    catalog.add_entity("raw.orders", path="/raw")
    catalog.add_pipe("p.q", func=two, inputs=["raw.orders", "raw.customers"], output="silver.orders")
    assert catalog.undeclared_entities() == ("raw.customers", "silver.orders")


def test_concurrent_declarations_are_all_kept() -> None:
    catalog = Catalog()

    def worker(base: int) -> None:
        for i in range(200):
            catalog.add_pipe(f"p.t{base}_{i}", func=lambda x: x, inputs=["raw.x"], output=f"e.t{base}_{i}")

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(catalog) == 800 and catalog.version == 800


def test_app_decorator_returns_the_function_unchanged() -> None:
    from kindling_core.app import App
    from kindling_core.config import KindlingConfig

    app = App(config=KindlingConfig(), entry_points=[])

    @app.pipe("p.q", inputs=["x.a", "x.b"], output="o.x")
    def join(a, b):
        return (a, b)

    assert join(1, 2) == (1, 2)
    assert app.catalog.pipe("p.q").func is join
    assert app.entity("x.a", path="/x").id == "x.a"


def test_fingerprint_ignores_declarations_removed_before_it_was_read() -> None:
    def declare(catalog: Catalog) -> None:
        catalog.add_entity("raw.x", path="/x")
        for i in range(3):
            catalog.add_pipe(f"p.n{i}", func=two, inputs=["raw.x", f"raw.y{i}"], output=f"e.n{i}")

    reference = Catalog()
    declare(reference)
    churned = Catalog()
    declare(churned)
    churned.add_pipe("p.extra", func=two, inputs=["raw.x", "raw.y"], output="e.extra")
    churned.add_entity("e.extra", path="/e")
    churned.remove_pipe("p.extra")  # never digested: removed before any read
    churned.remove_entity("e.extra")
    assert churned.fingerprint == reference.fingerprint
    removed = churned.remove_pipe("p.n1")  # removed after a read
    assert churned.fingerprint != reference.fingerprint
    churned.add(removed)
    assert churned.fingerprint == reference.fingerprint


def test_fingerprint_is_the_same_in_another_process() -> None:
    """Content-based: a fresh interpreter (another hash seed) computes the same fingerprint."""
    import os
    import subprocess
    import sys

    code = (
        "from kindling_core.model import Catalog\n"
        "def two(a, b): pass\n"
        "c = Catalog()\n"
        "c.add_entity('raw.x', path='/x', tags=['pii'], options={'b': 1, 'a': [1, 2]})\n"
        "c.add_pipe('p.q', func=two, inputs=['raw.x', 'raw.y'], output='o.x', tags=['hot'], options={'sla': '1h'})\n"
        "c.add_pipe('p.r', func=lambda a: a, inputs=['o.x'], output='o.y', mode='streaming', write='append')\n"
        "print(c.fingerprint)\n"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
    assert result.returncode == 0, result.stderr
    here = Catalog()
    here.add_pipe("p.r", func=lambda x: x, inputs=["o.x"], output="o.y", mode="streaming", write="append")
    here.add_pipe("p.q", func=two, inputs=["raw.x", "raw.y"], output="o.x", tags=["hot"], options={"sla": "1h"})
    here.add_entity("raw.x", path="/x", tags=["pii"], options={"a": [1, 2], "b": 1})
    assert result.stdout.strip() == here.fingerprint


def test_unhashable_mode_or_write_is_reported_with_the_pipe() -> None:
    with pytest.raises(InvalidChoiceError, match=r"pipe 'p.q': mode must be one of 'batch', 'streaming', got \['batch'\]"):
        Catalog().add_pipe("p.q", func=two, inputs=["x.a", "x.b"], output="o.x", mode=["batch"])  # type: ignore[arg-type]
    with pytest.raises(InvalidChoiceError, match=r"pipe 'p.q': write must be one of .*, got \{'merge': 1\}"):
        Catalog().add_pipe("p.q", func=two, inputs=["x.a", "x.b"], output="o.x", write={"merge": 1})


def test_adding_the_same_pipe_object_twice_is_a_duplicate() -> None:
    catalog = Catalog()
    pipe = catalog.add_pipe("p.q", func=two, inputs=["x.a", "x.b"], output="o.x")
    with pytest.raises(DuplicateDeclarationError, match="pipe 'p.q' is already declared"):
        catalog.add(pipe)
    assert len(catalog) == 1 and catalog.version == 1


def test_pipes_made_by_a_factory_each_name_their_function() -> None:
    class Transform:  # a callable object that cannot be hashed
        __hash__ = None  # type: ignore[assignment]

        def __call__(self, frame):
            return frame

    catalog = Catalog()
    for i in range(3):
        catalog.add_pipe(f"p.n{i}", func=two, inputs=[f"x.a{i}", "x.b"], output=f"o.n{i}")
    catalog.add_pipe("p.obj", func=Transform(), inputs=["x.a"], output="o.obj")
    origins = {p.id: p.origin for p in catalog}
    assert all(origins[f"p.n{i}"].startswith("function two at ") and "test_declarations.py:" in origins[f"p.n{i}"] for i in range(3))
    assert origins["p.obj"] == "function Transform"
    with pytest.raises(DuplicateDeclarationError, match=r"already declared \(function two at .*test_declarations.py:\d+, output 'o.n1'\)"):
        catalog.add_pipe("p.n1", func=two, inputs=["x.a", "x.b"], output="o.z")
