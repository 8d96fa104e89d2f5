"""crdschema: upstream CRD YAML -> the schema files verify reads, the catalog's way."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from maestro.output.crdschema import convert, dumps, main, strict
from maestro.output.verify import BUNDLED_CRD_SCHEMAS, Verifier

CRD = """\
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.example.com}
spec:
  group: example.com
  names: {kind: Widget, plural: widgets}
  scope: Namespaced
  versions:
    - name: v1
      served: true
      storage: true
      schema:
        openAPIV3Schema:
          type: object
          properties:
            spec:
              type: object
              properties:
                size: {type: integer}
                port: {format: int-or-string}
                labels: {type: object, additionalProperties: {type: string}}
                free: {type: object, x-kubernetes-preserve-unknown-fields: true}
                parts:
                  type: array
                  items: {type: object, properties: {name: {type: string}}}
    - name: v2
      served: true
      storage: false
      schema:
        openAPIV3Schema: {type: object, properties: {spec: {type: [object, "null"], properties: {}}}}
"""


def _load(text: str) -> list:
    from ruamel.yaml import YAML

    return list(YAML(typ="safe", pure=True).load_all(text))


def test_every_version_becomes_one_file() -> None:
    assert sorted(convert(_load(CRD))) == ["example.com/widget_v1.json", "example.com/widget_v2.json"]


def test_nested_objects_are_closed_the_root_stays_open() -> None:
    schema = convert(_load(CRD))["example.com/widget_v1.json"]
    assert "additionalProperties" not in schema
    spec = schema["properties"]["spec"]
    assert spec["additionalProperties"] is False
    assert spec["properties"]["labels"]["additionalProperties"] == {"type": "string"}  # a map stays a map
    assert "additionalProperties" not in spec["properties"]["free"]  # no properties: nothing to close
    assert spec["properties"]["parts"]["items"]["additionalProperties"] is False
    assert spec["properties"]["port"] == {"oneOf": [{"type": "string"}, {"type": "integer"}]}
    v2 = convert(_load(CRD))["example.com/widget_v2.json"]
    assert v2["properties"]["spec"]["additionalProperties"] is False  # a type list that includes object


def test_converted_schema_rejects_typos_through_verify(tmp_path: Path) -> None:
    assert main([str(_write(tmp_path / "crd.yaml", CRD)), "--out", str(tmp_path / "schemas")]) == 0
    verifier = Verifier("1.32", tmp_path / "schemas")
    good = {
        "apiVersion": "example.com/v1",
        "kind": "Widget",
        "metadata": {"name": "w"},
        "spec": {"size": 2, "port": "http", "parts": [{"name": "a"}]},
    }
    assert verifier.verify(good) == []
    bad = {**good, "spec": {"size": 2, "parts": [{"nmae": "a"}]}}
    [d] = verifier.verify(bad)
    assert (d.code, d.pointer) == ("M601", "/spec/parts/0/nmae")


def test_shipped_schemas_are_fixed_points_byte_for_byte() -> None:
    """Wrapping a shipped file in a CRD and converting it again gives the same bytes: the
    shipped files are what this converter makes (order, closing, escaping, layout)."""
    for path in sorted(BUNDLED_CRD_SCHEMAS.glob("*/*.json")):
        text = path.read_text(encoding="utf-8")
        schema = json.loads(text)
        group = path.parent.name
        kind, _, version = path.stem.partition("_")
        crd = {
            "kind": "CustomResourceDefinition",
            "spec": {
                "group": group,
                "names": {"kind": kind},
                "versions": [{"name": version, "schema": {"openAPIV3Schema": schema}}],
            },
        }
        [(rel, out)] = convert([crd]).items()
        assert rel == f"{group}/{path.name}"
        assert dumps(out) == text, path


def test_strict_leaves_its_input_alone() -> None:
    schema = {"type": "object", "properties": {"a": {"type": "object", "properties": {}}}}
    before = json.dumps(schema)
    strict(schema)
    assert json.dumps(schema) == before


def test_list_of_crds_and_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    listed = {"kind": "List", "items": _load(CRD)}
    assert len(convert([listed, None, {"kind": "ConfigMap"}])) == 2
    assert main([str(_write(tmp_path / "cm.yaml", "kind: ConfigMap\n")), "--out", str(tmp_path)]) == 2
    assert "no CustomResourceDefinition" in capsys.readouterr().err
    assert main([str(tmp_path / "missing.yaml"), "--out", str(tmp_path)]) == 2
    with pytest.raises(ValueError, match=r"no spec\.group"):
        convert([{"kind": "CustomResourceDefinition", "metadata": {"name": "x"}, "spec": {}}])


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path
