"""`images`: name/newName/newTag/digest, on every container and init container at any depth."""

from __future__ import annotations

import re
from typing import Any

from maestro.diagnostics import Diagnostic
from maestro.transform.resource import Invalid, Resource, as_text, guard, own

_TAG = r"(:[a-zA-Z0-9_.{}-]*)?(@sha256:[a-zA-Z0-9_.{}-]*)?"


def _image_matches(image: str, name: str) -> bool:
    # Kustomize builds a regular expression from `name` without escaping it.
    if name == "*":
        return True
    try:
        return re.fullmatch(f"(?:{name}){_TAG}", image) is not None
    except re.error:
        return False


def _split_image(image: str) -> tuple[str, str, str]:
    """name, tag, digest; a registry port ("host:5000/x") is part of the name."""
    rest, digest = image, ""
    at = image.rfind("@")
    if at > 0:
        rest, digest = image[:at], image[at + 1 :]
    slash = rest.find("/")
    search_from = slash if slash > 0 else 0
    colon = rest.find(":", search_from)
    if colon > 0:
        return rest[:colon], rest[colon + 1 :], digest
    return rest, "", digest


def _update_image(value: str, entry: dict[str, str]) -> str:
    name, tag, digest = _split_image(value)
    if entry.get("newName"):
        name = entry["newName"]
    new_tag, new_digest = entry.get("newTag", ""), entry.get("digest", "")
    # Setting one of tag/digest drops the other; setting both keeps both.
    if new_tag or new_digest:
        tag, digest = new_tag, new_digest
    return name + (f":{tag}" if tag else "") + (f"@{digest}" if digest else "")


def _check_image_entry(entry: Any) -> dict[str, str]:
    if not isinstance(entry, dict):
        raise Invalid("M501", "an images entry must be a map")
    unknown = set(entry) - {"name", "newName", "newTag", "digest"}
    if unknown:
        raise Invalid("M501", f"unknown field(s) in images entry: {', '.join(sorted(unknown))}")
    if not all(isinstance(v, str) for v in entry.values()):
        raise Invalid("M501", "images fields must be strings", hint='quote tags such as "1.4"')
    if not entry.get("name"):
        raise Invalid("M501", "an images entry needs a name")
    return dict(entry)


def transform_images(resources: list[Resource], images: list[dict[str, str]]) -> list[Resource]:
    """images: rewrite `image` in every containers/initContainers list, at any depth."""
    out = own(resources)
    entries = [_check_image_entry(e) for e in images or []]
    for entry in entries:
        for resource in out:
            if resource.get("kind") != "CustomResourceDefinition":
                _walk_images(resource, entry)
    return out


def _walk_images(node: Any, entry: dict[str, str]) -> None:
    if isinstance(node, list):
        for item in node:
            _walk_images(item, entry)
        return
    if not isinstance(node, dict):
        return
    for key, value in node.items():
        _walk_images(value, entry)
        if key in ("containers", "initContainers") and isinstance(value, list):
            for container in value:
                if not isinstance(container, dict):
                    raise Invalid("M508", f"'{key}' holds a {type(container).__name__}, not a map")
                if "image" not in container:
                    continue
                image = container["image"]
                if isinstance(image, (dict, list)):
                    raise Invalid("M508", f"'image' in '{key}' is a {type(image).__name__}, not a string")
                if _image_matches(as_text(image), entry["name"]):
                    container["image"] = _update_image(as_text(image), entry)


def set_images(resources: list[Resource], images: list[dict[str, str]]) -> tuple[list[Resource], list[Diagnostic]]:
    """`images:`, entry by entry."""
    return guard("/images", resources, lambda: transform_images(resources, images))
