"""The user guide in docs/: every page reachable from its index, every relative link resolves,
the README links only inside the repository, and the reference pages keep up with the code
(every verb and option of the CLI in cli.md, every diagnostic code in rules.md; the spec
reference is checked by `maestro schema --check`, tests/test_cli.py)."""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import re
from pathlib import Path

import pytest

from conftest import ROOT

DOCS = ROOT / "docs"
INDEX = DOCS / "README.md"
LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)")


def _pages() -> list[Path]:
    return sorted(DOCS.rglob("*.md"))


def _links(page: Path) -> list[str]:
    text = re.sub(r"```.*?```", "", page.read_text(encoding="utf-8"), flags=re.S)  # not inside code
    text = re.sub(r"`[^`\n]*`", "", text)
    return LINK.findall(text)


def _anchors(page: Path) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens."""
    out = set()
    for line in page.read_text(encoding="utf-8").splitlines():
        if line.startswith("#"):
            title = line.lstrip("#").strip().lower()
            out.add(re.sub(r"[^\w\- ]", "", title).replace(" ", "-"))
    return out


@pytest.mark.parametrize("page", [*_pages(), ROOT / "README.md"], ids=lambda p: p.relative_to(ROOT).as_posix())
def test_relative_links_resolve(page: Path) -> None:
    for link in _links(page):
        if re.match(r"[a-z]+:", link):
            continue
        target, _, anchor = link.partition("#")
        path = (page.parent / target).resolve() if target else page
        assert path.exists(), f"{page.relative_to(ROOT)}: broken link {link}"
        assert path.is_relative_to(ROOT), f"{page.relative_to(ROOT)}: {link} leaves the repository"
        if anchor and path.suffix == ".md":
            assert anchor in _anchors(path), f"{page.relative_to(ROOT)}: no heading #{anchor} in {target or 'itself'}"


def test_readme_links_only_inside_the_repository() -> None:
    outside = [link for link in _links(ROOT / "README.md") if re.match(r"[a-z]+:", link)]
    assert not outside
    assert "docs/README.md" in _links(ROOT / "README.md")


def test_every_page_is_reachable_from_the_index() -> None:
    seen, todo = {INDEX}, [INDEX]
    while todo:
        page = todo.pop()
        for link in _links(page):
            target = link.partition("#")[0]
            if not target or re.match(r"[a-z]+:", target):
                continue
            path = (page.parent / target).resolve()
            if path.suffix == ".md" and path.is_relative_to(DOCS) and path not in seen:
                seen.add(path)
                todo.append(path)
    assert sorted(p.relative_to(DOCS).as_posix() for p in set(_pages()) - seen) == []


def _parsers(parser: argparse.ArgumentParser, words: tuple[str, ...] = ()):  # type: ignore[no-untyped-def]
    """(verb words, parser) for every parser with options of its own."""
    yield words, parser
    for action in parser._actions:  # argparse keeps subparsers only here
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _parsers(sub, (*words, name))


def test_cli_page_names_every_verb_and_option() -> None:
    from maestro.cli import build_parser

    text = (DOCS / "cli.md").read_text(encoding="utf-8")
    for words, parser in _parsers(build_parser()):
        if words:
            assert f"maestro {' '.join(words)}" in text, words
        for action in parser._actions:
            for option in action.option_strings:
                if option not in ("-h", "--help"):
                    assert f"`{option}" in text, (words, option)


def test_rule_catalogue_lists_every_code() -> None:
    import maestro

    for module in pkgutil.walk_packages(maestro.__path__, "maestro."):
        if not module.name.endswith("__main__"):
            importlib.import_module(module.name)  # modules register their codes when imported
    from maestro.diagnostics import CODES

    text = (DOCS / "rules.md").read_text(encoding="utf-8")
    missing = [code for code in CODES if f"| {code} |" not in text]
    assert not missing
    listed = set(re.findall(r"^\| (M\d{3}) \|", text, re.M))
    assert listed == set(CODES), sorted(listed - set(CODES))
