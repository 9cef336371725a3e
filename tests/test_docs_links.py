"""The README is the front door into ``docs/``: every relative link in README.md and docs/*.md
(and the folder READMEs that link into them) points to a file that exists, every ``#anchor`` to
a heading of that file (GitHub's slugs), and the README stays short."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README_MAX_LINES = 250

_FENCE = re.compile(r"^\s*(```|~~~)")
_CODE_SPAN = re.compile(r"(`+)(?:(?!\1).)+?\1")
_LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_HEADING = re.compile(r"^ {0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
_EXTERNAL = re.compile(r"^[a-z][a-z0-9+.-]*:", re.IGNORECASE)


def _prose_lines(text: str) -> list[tuple[int, str]]:
    """(line number, line) outside fenced code blocks."""
    lines, fenced = [], False
    for number, line in enumerate(text.splitlines(), 1):
        if _FENCE.match(line):
            fenced = not fenced
            continue
        if not fenced:
            lines.append((number, line))
    return lines


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: markup dropped, lower case, punctuation removed (letters,
    digits, ``_`` and ``-`` stay), each space a hyphen."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # links keep their text
    text = re.sub(r"<[^>]+>", "", text).replace("`", "").lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    """Every anchor a markdown file has: one per heading, repeats suffixed -1, -2, ..."""
    seen: dict[str, int] = {}
    found: set[str] = set()
    for _, line in _prose_lines(path.read_text(encoding="utf-8")):
        match = _HEADING.match(line)
        if not match:
            continue
        base = slug(match.group(2))
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f"{base}-{count}")
    return found


def broken_links(path: Path) -> list[str]:
    """One line per relative link in ``path`` whose file or anchor does not exist."""
    problems = []
    for number, line in _prose_lines(path.read_text(encoding="utf-8")):
        for target in _LINK.findall(_CODE_SPAN.sub("", line)):
            if _EXTERNAL.match(target):
                continue
            file_part, _, anchor = target.partition("#")
            dest = (path.parent / file_part).resolve() if file_part else path
            where = f"{path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}:{number}"
            if not dest.exists():
                problems.append(f"{where}: {target} — no file {file_part}")
            elif anchor and (dest.suffix != ".md" or anchor not in anchors(dest)):
                problems.append(f"{where}: {target} — no heading #{anchor} in {dest.name}")
    return problems


def _pages() -> list[Path]:
    folders = [ROOT / "android_app" / "README.md", ROOT / "benchmark_csv" / "README.md"]
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), *folders]


@pytest.mark.parametrize("page", _pages(), ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_resolves(page: Path) -> None:
    assert broken_links(page) == []


def test_readme_is_a_short_front_door() -> None:
    lines = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    assert len(lines) < README_MAX_LINES, f"README.md has {len(lines)} lines"


def test_readme_links_every_docs_page() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    linked = {Path(t.partition("#")[0]).name for t in _LINK.findall(readme)}
    pages = {p.name for p in (ROOT / "docs").glob("*.md")}
    assert pages and pages <= linked, f"docs pages the README does not link: {pages - linked}"


def test_the_checker_finds_a_missing_file_and_a_missing_anchor(tmp_path: Path) -> None:
    (tmp_path / "other.md").write_text("# Other page\n\n## Stage → module\n\n## Stage → module\n")
    page = tmp_path / "page.md"
    page.write_text(
        "# Page\n\n"
        "[ok](other.md#stage--module) [ok](other.md#stage--module-1) [ok](#page)\n"
        "[gone](missing.md) [bad anchor](other.md#no-such-heading) [self](#nope)\n"
        "`[in code](missing-too.md)` [web](https://example.org/x.md)\n"
        "```\n[in a block](missing-three.md)\n```\n"
    )
    found = broken_links(page)
    assert len(found) == 3, found
    assert "missing.md" in found[0] and "#no-such-heading" in found[1] and "#nope" in found[2]


def test_slugs_follow_github() -> None:
    assert slug("Set-up: two commands") == "set-up-two-commands"
    assert slug("The model-compression evaluation (`splitbench compress`)") == (
        "the-model-compression-evaluation-splitbench-compress"
    )
    assert slug("Bit-incremental delivery (`--incremental LOW,HIGH`)") == (
        "bit-incremental-delivery---incremental-lowhigh"
    )
    assert slug("Stage → module") == "stage--module"
