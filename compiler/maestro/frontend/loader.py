"""Read YAML into plain data plus a map from JSON pointer to `file:line:col`.

The only stage that reads files. We compose ruamel.yaml *nodes* (YAML 1.2) and build
the data ourselves, so that every value and every mapping key keeps its position and so
that the safety bounds are enforced while walking, before anything is expanded:
an alias-heavy document ("billion laughs") fails after `max_nodes` nodes, not after
exhausting memory.
"""

from __future__ import annotations

import io
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from maestro.diagnostics import Diagnostic, error

MAX_BYTES = 1024 * 1024
MAX_NODES = 100_000  # after alias expansion
MAX_DEPTH = 64


@dataclass(frozen=True)
class Pos:
    file: str
    line: int  # 1-based
    col: int  # 1-based


@dataclass
class Located:
    """Plain data (dict/list/str/int/float/bool/None) and where each part came from."""

    file: str
    data: Any
    values: dict[str, Pos] = field(default_factory=dict)  # pointer -> value position
    keys: dict[str, Pos] = field(default_factory=dict)  # pointer -> key position
    document: int = 0  # index in a multi-document stream, empty documents counted

    def pos(self, pointer: str, *, key: bool = False) -> Pos:
        """Best position for a pointer: the exact node, else the key of its nearest located
        parent (a value the file does not spell out belongs to the section that lacks it)."""
        table = self.keys if key else self.values
        if pointer in table:
            return table[pointer]
        p = pointer
        while p:
            if p in self.keys:
                return self.keys[p]
            if p in self.values:
                return self.values[p]
            p = p.rsplit("/", 1)[0]
        return self.values.get("", Pos(self.file, 1, 1))

    def where(self, pointer: str, *, key: bool = False) -> dict[str, Any]:
        pos = self.pos(pointer, key=key)
        return {"file": pos.file, "line": pos.line, "col": pos.col, "pointer": pointer}


def escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


def pointer(*parts: object) -> str:
    return "".join("/" + escape(str(p)) for p in parts)


class _Bound(Exception):
    def __init__(self, node: Node, message: str, pointer: str | None = None):
        self.node = node
        self.message = message
        self.pointer = pointer


class _Duplicate(Exception):
    def __init__(self, key: Node, first: Node, name: str):
        self.key, self.first, self.name = key, first, name


def _mark(node: Node, file: str = "") -> Pos:
    return Pos(file, node.start_mark.line + 1, node.start_mark.column + 1)


class _Builder:
    def __init__(self, yaml: YAML, located: Located, max_nodes: int, max_depth: int):
        self.constructor = yaml.constructor
        self.located = located
        self.budget = self.limit = max_nodes
        self.max_depth = max_depth

    def scalar(self, node: ScalarNode) -> Any:
        if node.tag == "tag:yaml.org,2002:timestamp":
            # A date like 2027-01-31 stays the string the user wrote; pydantic parses it.
            return node.value
        if (node.tag or "").startswith("tag:yaml.org,2002:") and node.tag != "tag:yaml.org,2002:merge":
            value = self.constructor.construct_object(node, deep=True)
            if node.tag == "tag:yaml.org,2002:str":
                return str(value)
            if node.tag == "tag:yaml.org,2002:float":
                return float(value)
            if node.tag == "tag:yaml.org,2002:int":
                return int(value)
            return value
        return node.value  # custom tags: keep the text, the schema decides

    def build(self, node: Node, ptr: str, depth: int) -> Any:
        self.budget -= 1
        if self.budget < 0:
            # Report at the top-level key being expanded: the alias use sites have no marks.
            top = "/" + ptr.split("/")[1] if ptr.count("/") >= 1 else ""
            raise _Bound(node, f"'{top[1:]}' expands to more than {self.limit} nodes (aliases)", top)
        if depth > self.max_depth:
            raise _Bound(node, f"nesting deeper than {self.max_depth} levels")
        self.located.values.setdefault(ptr, _mark(node, self.located.file))
        if isinstance(node, ScalarNode):
            return self.scalar(node)
        if isinstance(node, SequenceNode):
            return [self.build(child, f"{ptr}/{i}", depth + 1) for i, child in enumerate(node.value)]
        if isinstance(node, MappingNode):
            return self.mapping(node, ptr, depth)
        raise _Bound(node, f"unsupported node {type(node).__name__}")

    def mapping(self, node: MappingNode, ptr: str, depth: int) -> dict[str, Any]:
        out: dict[str, Any] = {}
        seen: dict[str, Node] = {}
        merged: list[tuple[str, Any, Node]] = []
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                merged.extend(self.merge_sources(value_node, ptr, depth))
                continue
            if not isinstance(key_node, ScalarNode):
                raise _Bound(key_node, "mapping keys must be plain scalars")
            key = str(self.scalar(key_node)) if key_node.value != "" else ""
            if key in seen:
                raise _Duplicate(key_node, seen[key], key)
            seen[key] = key_node
            child = f"{ptr}/{escape(key)}"
            self.located.keys.setdefault(child, _mark(key_node, self.located.file))
            out[key] = self.build(value_node, child, depth + 1)
        # YAML merge keys: explicit keys win, earlier merge sources win over later ones.
        for key, value, _ in merged:
            out.setdefault(key, value)
        return out

    def merge_sources(self, value: Node, ptr: str, depth: int) -> list[tuple[str, Any, Node]]:
        sources = value.value if isinstance(value, SequenceNode) else [value]
        result: list[tuple[str, Any, Node]] = []
        for src in sources:
            if not isinstance(src, MappingNode):
                raise _Bound(src, "a merge key (<<) takes a mapping or a list of mappings")
            built = self.mapping(src, ptr, depth)
            result.extend((k, v, src) for k, v in built.items())
        return result


def _decode(raw: bytes, file: str, max_bytes: int = MAX_BYTES) -> tuple[str | None, list[Diagnostic]]:
    if len(raw) > max_bytes:
        return None, [
            error(
                "M008",
                f"file is {len(raw)} bytes, larger than the {max_bytes} byte bound",
                file=file,
                line=1,
                col=1,
                hint="split the spec, or check that this is the right file",
            )
        ]
    if b"\x00" in raw:
        off = raw.index(b"\x00")
        line = raw.count(b"\n", 0, off) + 1
        col = off - (raw.rfind(b"\n", 0, off) + 1) + 1
        return None, [error("M007", "file contains NUL bytes: binary, not YAML text", file=file, line=line, col=col)]
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        col = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        return None, [
            error(
                "M007",
                f"file is not valid UTF-8 (byte 0x{raw[exc.start]:02x})",
                file=file,
                line=line,
                col=col,
                hint="save the file as UTF-8",
            )
        ]
    return text, []


def _syntax(exc: YAMLError, file: str, text: str) -> Diagnostic:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    line, col = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    context = getattr(exc, "context", None)
    message = f"{context}: {problem}" if context else str(problem)
    lines = text.splitlines()
    if "\t" in problem or "'\\t'" in message:
        return error(
            "M002",
            "tab character where YAML expects indentation or a token",
            file=file,
            line=line,
            col=col,
            hint="YAML indentation uses spaces only; replace the tab",
        )
    if 0 < line <= len(lines) and col - 1 < len(lines[line - 1]) and lines[line - 1][:col].lstrip(" ").startswith("\t"):
        return error(
            "M002",
            "tab character where YAML expects indentation or a token",
            file=file,
            line=line,
            col=col,
            hint="YAML indentation uses spaces only; replace the tab",
        )
    return error(
        "M001",
        message.replace("\n", " "),
        file=file,
        line=line,
        col=col,
        hint="check the indentation and quoting on this line and the one above",
    )


def _compose(text: str, file: str) -> tuple[YAML, list[Node] | None, list[Diagnostic]]:
    """Every document's node graph (None entries for empty documents)."""
    yaml = YAML(typ="safe", pure=True)
    yaml.version = (1, 2)
    try:
        return yaml, list(yaml.compose_all(io.StringIO(text))), []
    except MarkedYAMLError as exc:
        return yaml, None, [_syntax(exc, file, text)]
    except YAMLError as exc:
        # Reader errors (control characters) carry a position but are not "marked".
        pos = getattr(exc, "position", None)
        line = text.count("\n", 0, pos) + 1 if isinstance(pos, int) else 1
        col = pos - (text.rfind("\n", 0, pos) + 1) + 1 if isinstance(pos, int) else 1
        return yaml, None, [error("M001", str(exc).splitlines()[0], file=file, line=line, col=col)]
    except RecursionError:
        return yaml, None, [error("M009", "nesting deeper than the parser can follow", file=file, line=1, col=1)]


def _build(
    yaml: YAML, node: Node, file: str, max_nodes: int, max_depth: int
) -> tuple[Located | None, list[Diagnostic]]:
    located = Located(file=file, data=None)
    builder = _Builder(yaml, located, max_nodes, max_depth)
    start = _mark(node)
    try:
        located.data = builder.build(node, "", 0)
    except _Duplicate as dup:
        pos, first = _mark(dup.key), _mark(dup.first)
        return None, [
            error(
                "M003",
                f"duplicate key '{dup.name}' (first defined at line {first.line})",
                file=file,
                line=pos.line,
                col=pos.col,
                hint="YAML keys must be unique; merge the two entries",
            )
        ]
    except _Bound as exc:
        known = located.keys.get(exc.pointer) if exc.pointer else None
        pos = known or _mark(exc.node)
        return None, [
            error(
                "M009",
                exc.message,
                file=file,
                line=pos.line,
                col=pos.col,
                hint=f"documents are limited to {max_nodes} nodes after alias expansion and {max_depth} levels",
            )
        ]
    except RecursionError:
        return None, [error("M009", "nesting deeper than the parser can follow", file=file, line=start.line, col=1)]
    except (YAMLError, ValueError, OverflowError) as exc:
        return None, [error("M001", str(exc).splitlines()[0], file=file, line=start.line, col=start.col)]
    return located, []


def loads_all(
    text_or_bytes: str | bytes,
    file: str = "<string>",
    *,
    max_nodes: int = MAX_NODES,
    max_depth: int = MAX_DEPTH,
    max_bytes: int = MAX_BYTES,
) -> tuple[list[Located], list[Diagnostic]]:
    """Every non-empty document of a multi-document stream (any top-level type)."""
    raw = text_or_bytes.encode("utf-8", "surrogatepass") if isinstance(text_or_bytes, str) else text_or_bytes
    text, diags = _decode(raw, file, max_bytes)
    if text is None:
        return [], diags
    yaml, nodes, diags = _compose(text, file)
    if nodes is None:
        return [], diags
    docs = []
    for index, node in enumerate(nodes):
        if node is None or (isinstance(node, ScalarNode) and node.tag == "tag:yaml.org,2002:null"):
            continue
        located, diags = _build(yaml, node, file, max_nodes, max_depth)
        if located is None:
            return [], diags
        located.document = index
        docs.append(located)
    return docs, []


def loads(
    text_or_bytes: str | bytes, file: str = "<string>", *, max_nodes: int = MAX_NODES, max_depth: int = MAX_DEPTH
) -> tuple[Located | None, list[Diagnostic]]:
    """Parse one YAML document holding a mapping. Never raises for bad input."""
    raw = text_or_bytes.encode("utf-8", "surrogatepass") if isinstance(text_or_bytes, str) else text_or_bytes
    text, diags = _decode(raw, file)
    if text is None:
        return None, diags
    yaml, nodes, diags = _compose(text, file)
    if nodes is None:
        return None, diags
    nodes = [n for n in nodes if n is not None]
    if not nodes:
        return None, [
            error(
                "M005",
                "file is empty: expected a mapping with apiVersion, kind, metadata, spec",
                file=file,
                line=1,
                col=1,
            )
        ]
    if len(nodes) > 1:
        second = _mark(nodes[1])
        return None, [
            error(
                "M004",
                "more than one YAML document; a spec file holds exactly one",
                file=file,
                line=second.line,
                col=second.col,
                hint="remove the '---' separator and what follows, or split into two files",
            )
        ]
    root = nodes[0]
    if not isinstance(root, MappingNode):
        pos = _mark(root)
        kind = "a list" if isinstance(root, SequenceNode) else "a scalar"
        return None, [error("M006", f"top level is {kind}; expected a mapping", file=file, line=pos.line, col=pos.col)]
    return _build(yaml, root, file, max_nodes, max_depth)


def escapes(path: Path, root: Path) -> bool:
    """Whether `path` lies inside `root` as written but resolves outside it (a symbolic link
    out of the repository, somewhere on the way). A path written outside `root` does not
    escape: whoever named it meant it."""
    written = Path(os.path.abspath(path))
    base = Path(os.path.abspath(root))
    if not (written.is_relative_to(base) or written.is_relative_to(root.resolve())):
        return False
    return not path.resolve().is_relative_to(root.resolve())


def outside_diagnostic(file: str) -> Diagnostic:
    return error(
        "M011",
        "refusing to read it: it is a symbolic link to a file outside the repository",
        file=file,
        hint="keep the file itself in the repository (Maestro reads nothing outside it, and never shows what it "
        "would find there)",
    )


def load(
    path: Path, display: str | None = None, *, root: Path | None = None
) -> tuple[Located | None, list[Diagnostic]]:
    """Read and parse one YAML file. With `root`, a file that resolves outside it is refused
    unread (M011); anything but a regular file (a FIFO, a device) is refused too (M010)."""
    file = display or str(path)
    if root is not None and escapes(path, root):
        return None, [outside_diagnostic(file)]
    try:
        info = path.stat()
        if not stat.S_ISREG(info.st_mode):
            return None, [error("M010", "cannot read: not a regular file", file=file)]
        size = info.st_size
        if size > MAX_BYTES:
            return None, [
                error(
                    "M008",
                    f"file is {size} bytes, larger than the {MAX_BYTES} byte bound",
                    file=file,
                    line=1,
                    col=1,
                    hint="split the spec, or check that this is the right file",
                )
            ]
        raw = path.read_bytes()
    except OSError as exc:
        return None, [error("M010", f"cannot read: {exc.strerror or exc}", file=file)]
    return loads(raw, file)
