"""The documentation holds together: every relative link in the repository's Markdown resolves
to a file, every `#anchor` to a heading of its target, and every example file a page quotes
(`<!-- include: path -->` before a fenced block) is quoted exactly as it is."""

import os
import re
import unicodedata
from pathlib import Path
from urllib.parse import unquote

import pytest

ROOT = Path(__file__).resolve().parents[2]
_FENCE = re.compile(r"^ {0,3}(```|~~~)")
_HEADING = re.compile(r"^ {0,3}#{1,6}\s+(.*?)\s*#*\s*$")
_LINK = re.compile(r"\[(?:[^\]\\]|\\.)*\]\(\s*<?([^)\s>]*)>?(?:\s+\"[^\"]*\")?\s*\)")
_INLINE_CODE = re.compile(r"(`+)(.+?)\1")
_INCLUDE = re.compile(r"^<!-- include: (\S+) -->$")


def _markdown_files() -> list[Path]:
    found = []
    for directory, subdirectories, files in os.walk(ROOT):
        # Hidden directories hold tools' state (.venv, .stack, caches), not documentation.
        subdirectories[:] = sorted(d for d in subdirectories if not d.startswith("."))
        found += [Path(directory, name) for name in sorted(files) if name.endswith(".md")]
    return found


DOCS = _markdown_files()


def _prose_lines(text: str) -> list[str]:
    """The lines outside fenced code blocks: links and headings inside them are examples."""
    lines, fenced = [], False
    for line in text.splitlines():
        if _FENCE.match(line):
            fenced = not fenced
        elif not fenced:
            lines.append(line)
    return lines


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: its text (code spans, links and emphasis unwrapped),
    lower-cased, without punctuation but `-` and `_`, spaces turned into hyphens."""
    text = _INLINE_CODE.sub(r"\2", heading)
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)
    text = re.sub(r"[*]", "", text).lower()
    kept = (
        c
        for c in text
        if c in " -" or unicodedata.category(c)[0] in "LMN" or unicodedata.category(c) == "Pc"
    )
    return "".join(kept).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    found: set[str] = set()
    seen: dict[str, int] = {}
    for line in _prose_lines(path.read_text(encoding="utf-8")):
        match = _HEADING.match(line)
        if match:
            slug = _slug(match.group(1))
            count = seen.get(slug, 0)
            seen[slug] = count + 1
            found.add(slug if count == 0 else f"{slug}-{count}")
    return found


def broken_links(path: Path) -> list[str]:
    problems = []
    for line in _prose_lines(path.read_text(encoding="utf-8")):
        for target in _LINK.findall(_INLINE_CODE.sub("", line)):
            if re.match(r"[a-z][a-z0-9+.-]*:", target, re.I):  # https:, mailto:, ...
                continue
            file_part, _, anchor = target.partition("#")
            linked = (path.parent / unquote(file_part)).resolve() if file_part else path
            if not linked.exists():
                problems.append(f"{target}: no such file")
            elif anchor and linked.suffix == ".md" and unquote(anchor) not in anchors(linked):
                problems.append(f"{target}: no heading #{anchor} in {linked.name}")
    return problems


def test_the_readme_and_every_page_of_docs_are_checked():
    names = {str(path.relative_to(ROOT)) for path in DOCS}
    assert {"README.md", "docs/contract.md", "docs/integrating.md"} <= names


@pytest.mark.parametrize("path", DOCS, ids=lambda path: str(path.relative_to(ROOT)))
def test_every_relative_link_resolves_to_a_file_and_heading(path):
    assert broken_links(path) == []


@pytest.mark.parametrize("path", DOCS, ids=lambda path: str(path.relative_to(ROOT)))
def test_every_quoted_example_file_is_quoted_as_it_is(path):
    lines = path.read_text(encoding="utf-8").splitlines()
    for n, line in enumerate(lines):
        match = _INCLUDE.match(line)
        if not match:
            continue
        quoted = (path.parent / match.group(1)).read_text(encoding="utf-8")
        assert _FENCE.match(lines[n + 1]), f"{match.group(1)}: no code block right after"
        end = next(i for i in range(n + 2, len(lines)) if _FENCE.match(lines[i]))
        assert "\n".join(lines[n + 2 : end]) == quoted.rstrip("\n"), (
            f"{path.name} quotes {match.group(1)} differently: copy the file in again"
        )
