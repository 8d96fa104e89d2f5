"""The generated JSON Schema and the pydantic models accept and reject the same specs.

Editors validate with the schema; maestro with the models. Mutations of the example
specs (drop a field, add an unknown one, change a value's type or range) must get the
same verdict from both. Two documented exceptions are kept out of the generator: cron
strings (croniter decides, no regex can) and integral floats like `2.0` (JSON Schema calls
them integers; YAML and maestro call them floats).
"""

from __future__ import annotations

import copy
from typing import Any

import jsonschema
import pydantic
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import ROOT
from maestro.frontend.loader import load, pointer
from maestro.frontend.schema import generate
from maestro.frontend.spec import Spec

SCHEMA = generate()
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)
EXAMPLES = [load(p)[0].data for p in sorted((ROOT / "specs").glob("*/maestro.yaml"))]  # type: ignore[union-attr]


def _pointers(data: Any, ptr: str = "") -> list[str]:
    out = [ptr]
    if isinstance(data, dict):
        for k, v in data.items():
            if ptr + pointer(k) != "/spec/environments":
                out += _pointers(v, ptr + pointer(k))
    elif isinstance(data, list):
        for i, v in enumerate(data):
            out += _pointers(v, f"{ptr}/{i}")
    return out


def _parent(data: Any, ptr: str) -> tuple[Any, str]:
    tokens = [t.replace("~1", "/").replace("~0", "~") for t in ptr.split("/")[1:]]
    node = data
    for t in tokens[:-1]:
        node = node[int(t)] if isinstance(node, list) else node[t]
    return node, tokens[-1]


def pydantic_ok(data: Any) -> bool:
    try:
        Spec.model_validate(data)
        return True
    except pydantic.ValidationError:
        return False


def test_examples_pass_both() -> None:
    for data in EXAMPLES:
        assert VALIDATOR.is_valid(data)
        assert pydantic_ok(data)


def test_schema_is_valid_2020_12() -> None:
    jsonschema.Draft202012Validator.check_schema(SCHEMA)


values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 300),
    st.floats(-5, 300).filter(lambda x: not float(x).is_integer()),
    st.sampled_from(
        [
            "",
            "x",
            "champion",
            "fraud-detector",
            "Bad_Name",
            "500m",
            "16Gi",
            "lots",
            "canary",
            "secret/data/a/b",
            "secret/../x",
            "@team/ml",
            "registry.example.com/a/b:1.0",
            "7d",
            "val_auc",
            "float",
            "int",
            "categorical",
            ">=",
            "tpe",
            "kserve",
            "DB_USER",
            "1BAD",
        ]
    ),
    st.lists(st.integers(0, 120), max_size=3),
    st.just({}),
    st.just({"name": "x"}),
)


@settings(max_examples=400, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_schema_and_models_agree_on_mutations(data: st.DataObject) -> None:
    doc = copy.deepcopy(data.draw(st.sampled_from(EXAMPLES)))
    ptr = data.draw(st.sampled_from(_pointers(doc)[1:]))
    parent, last = _parent(doc, ptr)
    action = data.draw(st.sampled_from(["delete", "unknown", "replace"]))
    if action == "delete":
        if isinstance(parent, list):
            parent.pop(int(last))
        else:
            del parent[last]
    elif action == "unknown":
        target, _ = _parent(doc, ptr + "/x")
        if not isinstance(target, dict):
            return
        target[data.draw(st.sampled_from(["extra", "replica", "tierr", "gpus"]))] = 1
    else:
        value = data.draw(values)
        if last in ("schedule",) and isinstance(value, str):
            return  # cron: see the module docstring
        if isinstance(parent, list):
            parent[int(last)] = value
        else:
            parent[last] = value
    assert VALIDATOR.is_valid(doc) == pydantic_ok(doc), (action, ptr, list(VALIDATOR.iter_errors(doc))[:2])


def test_editors_check_environment_overrides() -> None:
    """An override is a fragment of `spec`: an unknown or mistyped field in it is an error in
    the editor too (a `patternProperties` entry for the environment names once shadowed the
    fragment's schema, and every override passed)."""
    spec = copy.deepcopy(EXAMPLES[0])
    spec["spec"]["environments"] = {"prod": {"serving": {"replicas": {"min": 3}}}}
    assert VALIDATOR.is_valid(spec)
    for bad in ({"serving": {"replicas": {"mni": 3}}}, {"serving": {"replicas": {"min": "three"}}}, {"servng": {}}):
        spec["spec"]["environments"] = {"prod": bad}
        assert not VALIDATOR.is_valid(spec), bad
    spec["spec"]["environments"] = {"Prod": {}}
    assert not VALIDATOR.is_valid(spec)


@pytest.mark.parametrize("name", ["platform", "argocd"])
def test_reserved_model_names_are_refused_by_both(name: str) -> None:
    # rendered/<env>/platform and rendered/<env>/argocd are not model folders (issue 13).
    doc = copy.deepcopy(EXAMPLES[0])
    doc["metadata"]["name"] = name
    assert not VALIDATOR.is_valid(doc)
    with pytest.raises(pydantic.ValidationError) as exc:
        Spec.model_validate(doc)
    [err] = exc.value.errors()
    assert err["type"] == "M201" and err["loc"] == ("metadata", "name")
    assert "reserved" in err["msg"]
