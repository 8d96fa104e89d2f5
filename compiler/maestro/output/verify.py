"""verify: check every rendered Kubernetes object against its JSON Schema before emit.

Core kinds are checked against the strict (unknown fields rejected) schemas that the
`kubernetes-validate` package ships, one folder per Kubernetes minor version; custom
resources against CRD schemas in a kubeconform-style folder,
`{group}/{kind}_{version}.json`: the set shipped in the package (`data/crd-schemas`), after
the platform's own folder (`crd_schema_dir` in config) when it names one. On top of the schemas we check what they leave out:
`metadata.name`, label and annotation syntax, and resource quantities.

`kubernetes_validate.validate()` re-reads 1.3 MB of definitions per call and stops at the
first error, so we read its schema files ourselves, build one validator per kind, keep
it, and report every error.

A rendered object that fails is a Maestro bug, not a user mistake: every diagnostic says
so in its hint.

PASS: {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}}
FAIL: {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}, "dta": {}}
      -> M601 ConfigMap/a: dta: unknown field 'dta' (did you mean 'data'?)
"""

from __future__ import annotations

import difflib
import functools
import importlib.util
import json
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from maestro.diagnostics import CODES, Diagnostic, error, sort_diagnostics

CODES.update(
    {
        "M601": "rendered object has an unknown field",
        "M602": "rendered object misses a required field",
        "M603": "rendered object has a value of the wrong type",
        "M604": "rendered object has an invalid value",
        "M605": "rendered object has an invalid resource quantity",
        "M606": "rendered object has a missing or invalid name",
        "M607": "rendered object has an invalid label",
        "M608": "rendered object has an invalid annotation",
        "M609": "no schema for a rendered kind",
    }
)

HINT = "rendered object fails its schema (a Maestro bug, please report)"
HINT_NO_SCHEMA = "Maestro rendered a kind it has no schema for (a Maestro bug, please report)"

# The pattern controller-gen puts on every resource.Quantity in CRDs. We compare schema
# patterns to it to word those errors as quantity errors, and use it for core kinds too.
QUANTITY_PATTERN = (
    r"^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))"
    r"(([KMGTPE]i)|[numkMGTPE]|([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$"
)
_QUANTITY = re.compile(QUANTITY_PATTERN)

_DNS1123_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_DNS1123_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
_DNS1035_LABEL = re.compile(r"[a-z]([-a-z0-9]*[a-z0-9])?")
_QUALIFIED_NAME = re.compile(r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]")
_LABEL_VALUE = re.compile(r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?")
_ANNOTATIONS_MAX_BYTES = 256 * 1024  # Kubernetes' TotalAnnotationSizeLimitB

# metadata.name rules that are stricter than a DNS-1123 subdomain (what the API server enforces).
_NAME_RULES: dict[str, tuple[re.Pattern[str], int, str]] = {
    "Service": (_DNS1035_LABEL, 63, "DNS-1035 label"),
    "Namespace": (_DNS1123_LABEL, 63, "DNS-1123 label"),
}
_SUBDOMAIN_RULE = (_DNS1123_SUBDOMAIN, 253, "DNS-1123 subdomain")

# The CRD schemas Maestro knows, shipped inside the package (data/crd-schemas/README.md
# names each file's upstream source and version).
BUNDLED_CRD_SCHEMAS = Path(__file__).resolve().parent.parent / "data" / "crd-schemas"

_DEFS_ID = "https://kubernetes.io/api/_definitions.json"
_OBJECT_META = _DEFS_ID + "#/$defs/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"

FieldPath = tuple[str | int, ...]
# (code, path to the field, complaint): what the checks yield before it becomes a Diagnostic.
SchemaProblem = tuple[str, FieldPath, str]


class SchemaLookup:
    """One kind's schema: `fast` (compiled by jsonschema-rs, ~50x faster) says whether an
    object is valid; `validator` (jsonschema) explains the ones it rejects. The latter is
    built on first use: importing jsonschema takes longer than `validate` checking a spec."""

    def __init__(self, schema: dict[str, Any] | None, problem: str, core_dir: Path | None = None) -> None:
        self.schema, self.problem, self.core_dir = schema, problem, core_dir  # schema None: no usable one
        self.fast = _compiled(schema, core_dir) if schema is not None and core_dir is not None else None
        self._validator: Any = None

    @property
    def validator(self) -> Any:
        """A jsonschema validator of the schema, or None when there is no usable schema."""
        if self._validator is None and self.schema is not None and self.core_dir is not None:
            from jsonschema import Draft202012Validator

            self._validator = Draft202012Validator(self.schema, registry=_registry(self.core_dir))
        return self._validator


# ------------------------------------------------------------------ schema files


def supported_kubernetes_versions() -> list[str]:
    """Minor versions ("1.32") that kubernetes-validate ships strict schemas for."""
    found = []
    for d in _bundled_root().iterdir():
        m = re.fullmatch(r"v(\d+)\.(\d+)\.\d+-local-strict", d.name)
        if m:
            found.append((int(m[1]), int(m[2])))
    return [f"{a}.{b}" for a, b in sorted(found)]


def _bundled_root() -> Path:
    # find_spec locates the package without importing it (its __init__ pulls in yaml,
    # jsonschema and more, none of which we need from it).
    spec = importlib.util.find_spec("kubernetes_validate")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("kubernetes-validate is not installed; it ships the Kubernetes schemas")
    return Path(next(iter(spec.submodule_search_locations))) / "kubernetes-json-schema"


def _core_dir(kubernetes_version: str) -> Path:
    m = re.fullmatch(r"v?(\d+)\.(\d+)(\.\d+)?", kubernetes_version.strip())
    if not m:
        raise ValueError(f"Kubernetes version '{kubernetes_version}' is not like '1.32'")
    d = _bundled_root() / f"v{m[1]}.{m[2]}.0-local-strict"
    if not d.is_dir():
        raise ValueError(
            f"no Kubernetes {m[1]}.{m[2]} schemas in kubernetes-validate; it has "
            + ", ".join(supported_kubernetes_versions())
        )
    return d


def _python_pattern(pattern: str) -> str | None:
    """`pattern` as Python `re` accepts it, or None when it cannot be expressed.

    Schemas come from Go, whose RE2 allows inline flags after `^` (`^(?i)(abort|warn)?$`
    in prometheus-operator's PrometheusRule); Python only allows them at the very start.
    """
    try:
        re.compile(pattern)
        return pattern
    except re.error:
        pass
    m = re.match(r"\^\(\?([ims]+)\)", pattern)
    if m:
        moved = f"(?{m[1]})^{pattern[m.end() :]}"
        try:
            re.compile(moved)
            return moved
        except re.error:
            pass
    return None


def _adapt(schema: Any) -> None:
    """Make a schema from Go tooling behave in Python the way it does in Kubernetes."""
    if isinstance(schema, list):
        for item in schema:
            _adapt(item)
        return
    if not isinstance(schema, dict):
        return
    if isinstance(schema.get("pattern"), str):
        pattern = _python_pattern(schema["pattern"])
        if pattern is None:
            del schema["pattern"]  # no Python equivalent; skipping beats crashing mid-check
        else:
            schema["pattern"] = pattern
    # The kubeconform converter closes every object with properties, even those the API
    # server keeps open (x-kubernetes-preserve-unknown-fields); reopen them.
    if schema.get("x-kubernetes-preserve-unknown-fields") is True and schema.get("additionalProperties") is False:
        del schema["additionalProperties"]
    for value in schema.values():
        if isinstance(value, (dict, list)):
            _adapt(value)


@functools.cache
def _registry(core_dir: Path) -> Any:
    """All definitions of one Kubernetes version for jsonschema, parsed once per process (1.3 MB)."""
    from referencing import Registry, Resource

    defs = _definitions(core_dir)
    return Registry().with_resource(defs["$id"], Resource.from_contents(defs))


@functools.cache
def _definitions(core_dir: Path) -> dict[str, Any]:
    defs: dict[str, Any] = json.loads((core_dir / "_definitions.json").read_text(encoding="utf-8"))
    d = defs["$defs"]
    # Both are oneOf[string|null, number|null] upstream: null matches both branches, so it
    # fails, and a wrong type yields "not valid under any of the given schemas". One type
    # list says the same thing plainly; the pattern adds the quantity check the schemas lack.
    d["io.k8s.apimachinery.pkg.api.resource.Quantity"] = {
        "type": ["string", "number", "null"],
        "pattern": QUANTITY_PATTERN,
    }
    d["io.k8s.apimachinery.pkg.util.intstr.IntOrString"] = {"type": ["string", "integer", "null"]}
    _adapt(defs)
    return defs


@functools.cache
def _rs_registry(core_dir: Path) -> Any:
    """The definitions of `_registry`, for jsonschema-rs (None when it is not installed)."""
    try:
        import jsonschema_rs
    except ImportError:
        return None
    return jsonschema_rs.Registry([(_DEFS_ID, _definitions(core_dir))])


def _compiled(schema: dict[str, Any], core_dir: Path) -> Any:
    """`schema` compiled by jsonschema-rs, or None (not installed, or a schema it refuses:
    then jsonschema alone checks that kind). Formats are not asserted, as in jsonschema;
    tests/test_verify.py holds the two to the same verdict on every rendered object."""
    registry = _rs_registry(core_dir)
    if registry is None:
        return None
    import jsonschema_rs

    try:
        return jsonschema_rs.Draft202012Validator(schema, registry=registry, validate_formats=False)
    except (ValueError, jsonschema_rs.ReferencingError):
        return None


def _split_api_version(api_version: str) -> tuple[str, str]:
    group, _, version = api_version.rpartition("/")
    return group, version


# ------------------------------------------------------------------ the verifier


class Verifier:
    """Checks rendered objects; one per Kubernetes version and CRD schema folder.

    Validators are built on first use of a kind and kept: `validator_for` returns the
    same object every time.
    """

    def __init__(self, kubernetes_version: str, crd_schema_dir: Path | None = None, *, bundled: bool = True) -> None:
        self.core_dir = _core_dir(kubernetes_version)
        self.kubernetes_version = ".".join(self.core_dir.name[1:].split(".")[:2])
        self.crd_schema_dir = Path(crd_schema_dir) if crd_schema_dir is not None else None
        # The platform's own folder comes first, so that it can add kinds and also replace a
        # bundled schema with the one of the operator version its clusters run.
        self.crd_dirs: tuple[Path, ...] = tuple(
            d for d in (self.crd_schema_dir, BUNDLED_CRD_SCHEMAS if bundled else None) if d is not None
        )
        self._cache: dict[tuple[str, str, str], SchemaLookup] = {}

    def validator_for(self, api_version: str, kind: str) -> Any:
        """The cached validator for this kind, or None when no schema covers it."""
        return self._lookup(api_version, kind).validator

    def verify(self, obj: dict[str, Any], *, source: str = "") -> list[Diagnostic]:
        """Every problem of one rendered object, in canonical order; [] when it is fine."""
        meta = obj.get("metadata")
        name = meta.get("name") if isinstance(meta, dict) else None
        kind = obj.get("kind")
        api_version = obj.get("apiVersion")
        shown_kind = kind if isinstance(kind, str) and kind else "?"
        subject = f"{shown_kind}/{name if isinstance(name, str) and name else '?'}"

        found: set[SchemaProblem] = set()
        if not (isinstance(api_version, str) and api_version and isinstance(kind, str) and kind):
            found.add(("M609", (), "object has no apiVersion and kind, so no schema can be chosen"))
        else:
            lookup = self._lookup(api_version, kind)
            if lookup.schema is None:
                found.add(("M609", ("kind",), lookup.problem))
            elif lookup.fast is None or not lookup.fast.is_valid(obj):
                # Only an object the compiled validator rejects is explained, by jsonschema: its
                # errors carry the paths and words our messages are made of.
                for err in lookup.validator.iter_errors(obj):
                    found.update(_explain(err))
        found.update(_name_findings(obj, kind if isinstance(kind, str) else ""))
        found.update(_content_findings(obj, ()))
        return sort_diagnostics(
            error(
                code,
                f"{subject}: {_dotted(path)}: {complaint}",
                file=source,
                pointer=_pointer(path),
                hint=HINT_NO_SCHEMA if code == "M609" else HINT,
            )
            for code, path, complaint in found
        )

    def _lookup(self, api_version: str, kind: str) -> SchemaLookup:
        group, version = _split_api_version(api_version)
        key = (group, version, kind)
        if key not in self._cache:
            self._cache[key] = self._build(group, version, kind)
        return self._cache[key]

    def _build(self, group: str, version: str, kind: str) -> SchemaLookup:
        # kubernetes-validate's file name keeps only the first label of the group
        # (rbac.authorization.k8s.io/v1 -> rbac-v1), so check the schema's own
        # group/version/kind: another group could share that first label.
        short = group.split(".")[0] + "-" if group else ""
        core_file = self.core_dir / f"{kind.lower()}-{short}{version}.json"
        looked = [str(core_file)]
        if core_file.is_file():
            schema = json.loads(core_file.read_text(encoding="utf-8"))
            gvks = schema.get("x-kubernetes-group-version-kind", [])
            if {"group": group, "version": version, "kind": kind} in gvks:
                return SchemaLookup(schema, "", self.core_dir)
        for crd_dir in self.crd_dirs if group else ():
            crd_file = crd_dir / group / f"{kind.lower()}_{version.lower()}.json"
            looked.append(str(crd_file))
            if crd_file.is_file():
                try:
                    schema = json.loads(crd_file.read_text(encoding="utf-8"))
                except (OSError, ValueError) as exc:
                    return SchemaLookup(None, f"schema {crd_file} cannot be read: {exc}")
                if not isinstance(schema, dict):
                    return SchemaLookup(None, f"schema {crd_file} is not a JSON object")
                _prepare_crd_schema(schema)
                return SchemaLookup(schema, "", self.core_dir)
        where = f"the Kubernetes {self.kubernetes_version} schemas"
        if self.crd_schema_dir is not None and not self.crd_schema_dir.is_dir():
            where += f" (the CRD schema folder {self.crd_schema_dir} does not exist)"
        elif self.crd_dirs:
            where += " or the CRD schemas"
        else:
            where += " (no CRD schema folder configured)"
        return SchemaLookup(
            None,
            f"no schema for apiVersion '{group + '/' if group else ''}{version}' kind '{kind}' in {where};"
            f" looked for {' and '.join(looked)}",
        )


def _prepare_crd_schema(schema: dict[str, Any]) -> None:
    """A CRD's openAPIV3Schema, made as strict as the API server is with it."""
    _adapt(schema)
    props = schema.setdefault("properties", {})
    # A CRD leaves metadata as {type: object}, but the API server checks it as ObjectMeta.
    props["metadata"] = {**props.get("metadata", {}), "$ref": _OBJECT_META}
    # The converted root is open; with strict field validation the API server rejects
    # unknown top-level fields (a `sepc` typo), so close it unless the CRD keeps unknowns.
    if not schema.get("x-kubernetes-preserve-unknown-fields") and "additionalProperties" not in schema:
        props.setdefault("apiVersion", {"type": "string"})
        props.setdefault("kind", {"type": "string"})
        schema["additionalProperties"] = False


# ------------------------------------------------------------------ schema errors in words


def _explain(err: Any) -> Iterator[SchemaProblem]:
    """One jsonschema error as findings in plain words (some errors carry several)."""
    path = tuple(err.absolute_path)
    keyword, expected, instance = err.validator, err.validator_value, err.instance

    if keyword == "additionalProperties" and expected is False and isinstance(instance, dict):
        allowed = list(err.schema.get("properties", {}))
        patterns = list(err.schema.get("patternProperties", {}))
        for key in instance:
            if key in allowed or any(re.search(p, key) for p in patterns):
                continue
            close = difflib.get_close_matches(key, allowed, n=1)
            guess = f" (did you mean '{close[0]}'?)" if close else ""
            yield "M601", path + (key,), f"unknown field '{key}'{guess}"
    elif keyword == "required" and isinstance(instance, dict):
        # jsonschema yields one error per missing field; each names all, the set dedups.
        # A required field with a default is filled in by the API server before it validates.
        props = err.schema.get("properties", {})
        for key in expected:
            if key not in instance and "default" not in props.get(key, {}):
                yield "M602", path, f"missing required field '{key}'"
    elif keyword == "type":
        yield "M603", path, f"expected {_types(expected)}, got {_json_type(instance)}"
    elif keyword in ("oneOf", "anyOf"):
        yield from _explain_alternatives(err, path)
    elif keyword == "enum":
        shown = ", ".join(_show(v) for v in expected[:8]) + (", ..." if len(expected) > 8 else "")
        yield "M604", path, f"expected one of {shown}, got {_show(instance)}"
    elif keyword == "const":
        yield "M604", path, f"expected {_show(expected)}, got {_show(instance)}"
    elif keyword == "pattern" and expected == QUANTITY_PATTERN:
        yield "M605", path, _quantity_problem(instance) or f"invalid quantity {_show(instance)}"
    elif keyword == "pattern":
        yield "M604", path, f"{_show(instance)} does not match the pattern {expected}"
    else:
        message = err.message if len(err.message) <= 160 else f"fails the schema's '{keyword}' constraint"
        yield "M604", path, message


def _explain_alternatives(err: Any, path: FieldPath) -> Iterator[SchemaProblem]:
    alternatives = [a for a in err.validator_value if isinstance(a, dict)]
    if not err.context:  # oneOf matched more than one alternative
        names = sorted({n for a in alternatives for n in a.get("required", [])})
        if names:
            yield "M604", path, f"sets more than one of {', '.join(map(repr, names))}; at most one is allowed"
        else:
            yield "M604", path, "matches more than one of the alternatives the schema allows (oneOf)"
        return
    # int-or-string and similar: alternatives that differ only in type.
    if alternatives and all("type" in a and set(a) <= {"type", "description", "format"} for a in alternatives):
        types = []
        for a in alternatives:
            types += a["type"] if isinstance(a["type"], list) else [a["type"]]
        yield "M603", path, f"expected {_types(list(dict.fromkeys(types)))}, got {_json_type(err.instance)}"
        return
    from jsonschema.exceptions import best_match

    yield from _explain(best_match(err.context))


def _types(expected: Any) -> str:
    names = expected if isinstance(expected, list) else [expected]
    # Core schemas make almost every field nullable; saying "or null" each time is noise.
    shown = [n for n in names if n != "null"] or names
    return " or ".join(shown)


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object" if isinstance(value, dict) else type(value).__name__


def _show(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, default=str) if not isinstance(value, str) else repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


# ------------------------------------------------------------------ what the schemas miss


def _quantity_problem(value: Any) -> str | None:
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        return None  # a wrong type is the schema's to report
    if isinstance(value, str) and not _QUANTITY.fullmatch(value):
        return f"invalid quantity {_show(value)} (expected a number with an optional suffix, like 500m, 2 or 1.5Gi)"
    if value.startswith("-") if isinstance(value, str) else value < 0:
        return f"quantity {_show(value)} must not be negative"
    return None


def _name_findings(obj: dict[str, Any], kind: str) -> Iterator[SchemaProblem]:
    meta = obj.get("metadata")
    if meta is None:
        yield "M606", (), "missing required field 'metadata'"
        return
    if not isinstance(meta, dict):
        yield "M606", ("metadata",), f"expected object, got {_json_type(meta)}"
        return
    name = meta.get("name")
    if name is None or name == "":
        yield "M606", ("metadata",), "missing required field 'name'"
    elif isinstance(name, str):
        pattern, limit, what = _NAME_RULES.get(kind, _SUBDOMAIN_RULE)
        if len(name) > limit or not pattern.fullmatch(name):
            chars = "lower case letters, digits, '-'" + (" and '.'" if pattern is _DNS1123_SUBDOMAIN else "")
            yield (
                "M606",
                ("metadata", "name"),
                (
                    f"name {name!r} is not a valid {what}"
                    f" ({chars}, alphanumeric at both ends, at most {limit} characters)"
                ),
            )
    namespace = meta.get("namespace")
    if isinstance(namespace, str) and (len(namespace) > 63 or not _DNS1123_LABEL.fullmatch(namespace)):
        yield "M606", ("metadata", "namespace"), f"namespace {namespace!r} is not a valid DNS-1123 label"


def _content_findings(node: Any, path: FieldPath) -> Iterator[SchemaProblem]:
    """Labels, annotations and resource quantities, wherever they sit (pod templates too)."""
    if isinstance(node, list):
        for i, item in enumerate(node):
            yield from _content_findings(item, path + (i,))
        return
    if not isinstance(node, dict):
        return
    for key, value in node.items():
        here = path + (key,)
        if key == "metadata" and isinstance(value, dict):
            labels, annotations = value.get("labels"), value.get("annotations")
            if isinstance(labels, dict):
                yield from _label_findings(labels, here + ("labels",))
            if isinstance(annotations, dict):
                yield from _annotation_findings(annotations, here + ("annotations",))
        elif key == "matchLabels" and isinstance(value, dict):
            yield from _label_findings(value, here)
        elif key == "resources" and isinstance(value, dict):
            for section in ("requests", "limits"):
                amounts = value.get(section)
                if isinstance(amounts, dict):
                    for resource, amount in amounts.items():
                        problem = _quantity_problem(amount)
                        if problem:
                            yield "M605", here + (section, resource), problem
        yield from _content_findings(value, here)


def _qualified_name_problem(key: str) -> str | None:
    prefix, slash, name = key.rpartition("/")
    if slash and (len(prefix) > 253 or not _DNS1123_SUBDOMAIN.fullmatch(prefix)):
        return f"prefix {prefix!r} must be a DNS-1123 subdomain of at most 253 characters"
    if len(name) > 63 or not _QUALIFIED_NAME.fullmatch(name):
        return (
            f"name part {name!r} must be 1-63 characters of letters, digits, '-', '_' and '.',"
            " alphanumeric at both ends"
        )
    return None


def _label_findings(labels: dict[str, Any], path: FieldPath) -> Iterator[SchemaProblem]:
    for key, value in labels.items():
        problem = _qualified_name_problem(key) if isinstance(key, str) else "keys must be strings"
        if problem:
            yield "M607", path + (key,), f"label key {key!r} is invalid: {problem}"
        if isinstance(value, str) and (len(value) > 63 or not _LABEL_VALUE.fullmatch(value)):
            yield (
                "M607",
                path + (key,),
                (
                    f"label value {_show(value)} is invalid: at most 63 characters of letters, digits,"
                    " '-', '_' and '.', alphanumeric at both ends (or empty)"
                ),
            )


def _annotation_findings(annotations: dict[str, Any], path: FieldPath) -> Iterator[SchemaProblem]:
    size = 0
    for key, value in annotations.items():
        # Kubernetes checks annotation keys lower-cased: an upper-case prefix is allowed.
        problem = _qualified_name_problem(key.lower()) if isinstance(key, str) else "keys must be strings"
        if problem:
            yield "M608", path + (key,), f"annotation key {key!r} is invalid: {problem}"
        size += len(str(key)) + (len(value) if isinstance(value, str) else 0)
    if size > _ANNOTATIONS_MAX_BYTES:
        yield "M608", path, f"annotations total {size} bytes, more than Kubernetes' {_ANNOTATIONS_MAX_BYTES}"


# ------------------------------------------------------------------ paths


def _pointer(path: Iterable[str | int]) -> str:
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in path)


def _dotted(path: FieldPath) -> str:
    """`("spec", "containers", 0, "resources")` -> `spec.containers[0].resources` (how people name fields)."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        elif re.fullmatch(r"[A-Za-z_$][\w$-]*", part):
            out += ("." if out else "") + part
        else:
            out += f"[{json.dumps(part)}]"  # label keys like "maestro.ml/env"
    return out or "(top level)"
