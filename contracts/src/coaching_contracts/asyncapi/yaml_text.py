"""A small YAML writer for JSON-shaped documents, so that the contract needs no YAML library.

It writes block style with two-space indentation and sorted keys: the same document always
gives the same text, which is what the drift check compares. Every string that YAML could
read as something else (a number, a boolean, null, an indicator) is double-quoted as JSON,
which is also valid YAML; multi-line text becomes a `|-` literal block when it can be one.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator, Mapping
from typing import Any

# Plain (unquoted) text: printable ASCII starting with a letter (no indicator, no number),
# without ": " or " #" (a key, a comment), not ending in ":" or a blank.
_PLAIN = re.compile(r"[A-Za-z_$](?:[\x20-\x7e]*[\x21-\x39\x3b-\x7e])?")
_NOT_PLAIN = (": ", " #")
# Words YAML 1.1 (PyYAML) or 1.2 resolve to booleans or null.
_RESERVED = frozenset({"y", "n", "yes", "no", "on", "off", "true", "false", "null"})
_PRINTABLE_LINE = re.compile(r"[^\x00-\x1f\x7f\u0085\u2028\u2029\ufeff]*")
_INDENT = "  "


def dump(document: Mapping[str, Any]) -> str:
    """The YAML text of a document made of dicts, lists, strings, numbers, booleans, None."""
    return "".join(line + "\n" for line in _block(document, 0))


def _block(value: Mapping[str, Any] | list[Any], depth: int) -> Iterator[str]:
    pad = _INDENT * depth
    if isinstance(value, Mapping):
        for key in sorted(value):
            yield from _entry(f"{pad}{_key(str(key))}:", value[key], depth)
        return
    for item in value:
        if _is_block(item):
            # "- key: value" on the first line, the rest of the item aligned under it.
            first, *rest = _block(item, depth + 1)
            yield pad + "- " + first[len(pad) + len(_INDENT) :]
            yield from rest
        else:
            yield from _entry(f"{pad}-", item, depth)


def _entry(head: str, value: Any, depth: int) -> Iterator[str]:
    if _is_block(value):
        yield head
        yield from _block(value, depth + 1)
        return
    first, *rest = _scalar(value, depth + 1).split("\n")
    yield f"{head} {first}"
    yield from rest


def _is_block(value: Any) -> bool:
    return isinstance(value, Mapping | list) and len(value) > 0


def _scalar(value: Any, depth: int) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _float(value)
    if isinstance(value, str):
        return _string(value, depth)
    if isinstance(value, Mapping):
        return "{}"
    if isinstance(value, list):
        return "[]"
    raise TypeError(f"cannot write {type(value).__name__} as YAML: {value!r}")


def _float(value: float) -> str:
    if not math.isfinite(value):
        raise ValueError(f"JSON has no {value}")
    text = repr(value)
    # PyYAML reads 1e+20 as a string: YAML 1.1 floats need a dot.
    return text if "." in text else text.replace("e", ".0e", 1)


def _key(text: str) -> str:
    return text if _is_plain(text) else _quoted(text)


def _string(text: str, depth: int) -> str:
    if _is_plain(text):
        return text
    lines = text.split("\n")
    # The first line sets the block's indentation: it must not start with a blank.
    if len(lines) > 1 and lines[0][:1].strip() and lines[-1] and all(map(_literal_line, lines)):
        pad = _INDENT * depth
        return "|-\n" + "\n".join(pad + line if line else "" for line in lines)
    return _quoted(text)


def _is_plain(text: str) -> bool:
    return (
        bool(_PLAIN.fullmatch(text))
        and not any(part in text for part in _NOT_PLAIN)
        and text.lower() not in _RESERVED
    )


def _quoted(text: str) -> str:
    # JSON escapes only what JSON must; YAML also breaks lines at U+0085/2028/2029.
    return json.dumps(text, ensure_ascii=not _PRINTABLE_LINE.fullmatch(text))


def _literal_line(line: str) -> bool:
    # A literal block keeps text verbatim, except what YAML cannot keep there: blank-only
    # lines, tabs and control characters. Trailing blanks would be kept, but editors eat them.
    return line == line.rstrip(" ") and "\t" not in line and bool(_PRINTABLE_LINE.fullmatch(line))
