"""The documentation's structure holds together: every relative link in the Markdown pages
(README.md, docs/**/*.md, tests/README.md, examples/README.md, meshes/README.md) names a file
that exists and, with a #anchor, a heading of that file (GitHub's anchors); every path
"docs/....md" (or a docs/ script or figure) written in the code, tests, cases, examples,
benchmarks, scripts and pages exists; and every "physics.md section N" names a numbered section.
Pure text, no MPI, well under a second."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from conftest import ROOT

PAGES = sorted({ROOT / "README.md", ROOT / "tests" / "README.md", ROOT / "examples" / "README.md",
                ROOT / "meshes" / "README.md", *(ROOT / "docs").rglob("*.md")})
#: folders whose files may name docs/ paths in docstrings, messages and comments
SOURCES = ["spindiff", "tests", "cases", "examples", "benchmarks", "scripts", "docs"]
SOURCE_SUFFIXES = {".py", ".toml", ".md", ".txt", ".sh", ".cpp", ".cfg"}
#: built, not tracked (docs/scripts/api_reference.py writes it)
GENERATED = ("docs/api",)

FENCE = re.compile(r"^\s*(```|~~~)")
LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\[\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
DOCS_PATH = re.compile(r"(?<![\w./-])docs/[\w./-]*\w\.(?:md|py|png)\b")
SECTION = re.compile(r"physics\.md\)?,?\s+sections?\s+(\d+(?:\.\d+)?)((?:(?:,\s*|\s+and\s+)\d+(?:\.\d+)?)*)")


def prose(text: str) -> list[str]:
    """The lines of a Markdown page outside fenced and indented code, inline code removed."""
    out, fenced, previous_blank = [], False, True
    for line in text.splitlines():
        if FENCE.match(line):
            fenced = not fenced
            previous_blank = False
            continue
        if fenced:
            continue
        if previous_blank and (line.startswith("    ") or line.startswith("\t")):
            continue          # an indented code block (it starts after a blank line)
        previous_blank = not line.strip()
        out.append(re.sub(r"`[^`]*`", "", line))
    return out


def slug(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"`([^`]*)`", r"\1", heading.strip())
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)      # a link's text
    text = text.lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    seen: dict[str, int] = {}
    found = set()
    fenced = False
    for line in page.read_text(encoding="utf-8").splitlines():
        if FENCE.match(line):
            fenced = not fenced
            continue
        m = None if fenced else re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if m:
            base = slug(m.group(1))
            n = seen.get(base, 0)
            seen[base] = n + 1
            found.add(base if n == 0 else f"{base}-{n}")
    return found


def links(page: Path) -> list[tuple[int, str]]:
    out = []
    for number, line in enumerate(prose(page.read_text(encoding="utf-8")), 1):
        for m in LINK.finditer(line):
            out.append((number, m.group(1)))
    return out


def broken_links(page: Path) -> list[str]:
    bad = []
    for _, target in links(page):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target) or target.startswith("//"):
            continue          # http(s), mailto: not checked here
        path, _, anchor = target.partition("#")
        dest = (page.parent / path).resolve() if path else page
        where = f"{page.relative_to(ROOT)}: ({target})"
        if not dest.exists():
            bad.append(f"{where}: no file {dest.relative_to(ROOT) if dest.is_relative_to(ROOT) else dest}")
        elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
            bad.append(f"{where}: no heading #{anchor} in {dest.relative_to(ROOT)}")
    return bad


def source_files() -> list[Path]:
    files = [ROOT / "README.md", ROOT / "Makefile", ROOT / "pyproject.toml"]
    for folder in SOURCES:
        files += [p for p in (ROOT / folder).rglob("*") if p.is_file()
                  and p.suffix in SOURCE_SUFFIXES and "__pycache__" not in p.parts
                  and not p.relative_to(ROOT).as_posix().startswith(GENERATED)]
    return sorted(files)


def test_the_pages_are_found():
    names = {p.relative_to(ROOT).as_posix() for p in PAGES}
    assert {"README.md", "docs/README.md", "docs/validation/performance.md"} <= names
    assert len(names) > 20


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_relative_links_resolve(page):
    assert broken_links(page) == []


def test_every_page_is_reachable_from_the_map():
    """docs/README.md links every page of docs/ (directly), so none is orphaned."""
    index = ROOT / "docs" / "README.md"
    linked = {(index.parent / t.partition("#")[0]).resolve() for _, t in links(index)}
    pages = {p.resolve() for p in (ROOT / "docs").rglob("*.md") if p != index}
    assert sorted(str(p.relative_to(ROOT)) for p in pages - linked) == []


def test_docs_paths_in_code_and_pages_exist():
    bad = []
    for f in source_files():
        text = f.read_text(encoding="utf-8", errors="replace")
        for m in DOCS_PATH.finditer(text):
            path = m.group(0).rstrip(".")
            if path.startswith(GENERATED):
                continue
            if not (ROOT / path).is_file():
                line = text.count("\n", 0, m.start()) + 1
                bad.append(f"{f.relative_to(ROOT)}:{line}: {path}")
    assert bad == []


def test_physics_sections_exist():
    physics = ROOT / "docs" / "reference" / "physics.md"
    numbered = set(re.findall(r"^##+\s+(\d+(?:\.\d+)?)\.?\s", physics.read_text(encoding="utf-8"),
                              re.M))
    bad = []
    for f in source_files():
        text = f.read_text(encoding="utf-8", errors="replace")
        for m in SECTION.finditer(text):
            for n in [m.group(1), *re.findall(r"\d+(?:\.\d+)?", m.group(2))]:
                if n not in numbered:
                    bad.append(f"{f.relative_to(ROOT)}: physics.md section {n}")
    assert bad == []


def test_the_checker_catches_what_it_should(tmp_path):
    """A broken file link, a broken anchor and a good anchor, on a page written here."""
    (tmp_path / "a.md").write_text("# Title\n\n## The `derive` command: D0\n", encoding="utf-8")
    page = tmp_path / "b.md"
    page.write_text("See [a](a.md#the-derive-command-d0), [gone](nothere.md), "
                    "[bad](a.md#nope), [web](https://example.org/x.md).\n\n"
                    "    [indented code](ignored.md)\n\n```\n[fenced](ignored.md)\n```\n",
                    encoding="utf-8")
    global ROOT
    saved, ROOT = ROOT, tmp_path
    try:
        bad = broken_links(page)
    finally:
        ROOT = saved
    assert len(bad) == 2 and "nothere.md" in bad[0] and "#nope" in bad[1]
    assert slug("Broad-line radicals: spectral diffusion, cross effect and thermal mixing") == \
        "broad-line-radicals-spectral-diffusion-cross-effect-and-thermal-mixing"
