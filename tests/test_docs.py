"""The front door stays a front door, and every link it and the guides give to a repository file
or a page leads somewhere (`mkdocs build --strict`, in CI, checks the site's own links)."""

from __future__ import annotations

import re

import pytest

from conftest import ROOT

DOCS = ROOT / "docs"


def test_readme_is_a_front_door():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(text.splitlines()) <= 200
    for heading in ("## Install, run, test", "## Algorithms", "## Quick start", "## Python API", "## Results",
                    "## Documentation"):
        assert heading in text, heading


@pytest.mark.parametrize("page", [ROOT / "README.md"] + sorted(DOCS.glob("*.md")), ids=lambda p: p.name)
def test_relative_links_lead_somewhere(page):
    text = page.read_text(encoding="utf-8")
    missing = []
    for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text):
        if re.match(r"[a-z]+://", target):
            continue
        if not (page.parent / target).exists():
            missing.append(target)
    assert not missing, f"{page.name} links to missing files: {missing}"
