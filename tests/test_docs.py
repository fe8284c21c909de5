"""The repository stands alone and its documentation stays true: nothing tracked points outside
it, every relative link of the README and docs/ leads somewhere, and the configuration table
names every setting of ``Settings`` once and nothing else."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from app.kit.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
DOC_PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
# Written in pieces so this file does not match itself.
OUTSIDE = [
    "../" + "shared",
    "/work/" + "shared",
    "DESIGN" + ".md",
    "package-builder" + "-guide",
    "reference/" + "package-builder",
]
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
HEADING = re.compile(r"^#{1,6}\s+(.*)$", re.MULTILINE)
CODE = re.compile(r"```.*?```|`[^`]*`", re.DOTALL)
CONFIG_ROW = re.compile(r"^\|\s*`(BFF_[A-Z0-9_]+)`\s*\|", re.MULTILINE)


def _tracked_files() -> list[Path]:
    names = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, check=True, capture_output=True).stdout.split(
        b"\0"
    )
    return [ROOT / name.decode() for name in names if name]


def test_no_tracked_file_points_outside_the_repository():
    found = []
    for path in _tracked_files():
        if not path.is_file():
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue  # binary
        for line_number, line in enumerate(text.splitlines(), 1):
            found += [f"{path.relative_to(ROOT)}:{line_number}: {word}" for word in OUTSIDE if word in line]
    assert not found, "\n".join(found)


def _slug(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces as hyphens."""
    text = re.sub(r"[`*_]", "", heading).strip().lower()
    return re.sub(r"\s", "-", re.sub(r"[^\w\s-]", "", text))


@pytest.mark.parametrize("page", DOC_PAGES, ids=lambda page: str(page.relative_to(ROOT)))
def test_every_relative_link_resolves(page: Path):
    broken = []
    for target in LINK.findall(CODE.sub("", page.read_text(encoding="utf-8"))):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target):
            continue  # https:, mailto: …
        path_part, _, anchor = target.partition("#")
        destination = (page.parent / path_part).resolve() if path_part else page
        if not destination.exists():
            broken.append(f"{target}: no such file")
        elif anchor and destination.suffix == ".md":
            anchors = {_slug(h) for h in HEADING.findall(destination.read_text(encoding="utf-8"))}
            if anchor not in anchors:
                broken.append(f"{target}: no heading '{anchor}'")
    assert not broken, "\n".join(broken)


def test_the_configuration_table_names_every_setting_once():
    table = CONFIG_ROW.findall((ROOT / "docs" / "operations.md").read_text(encoding="utf-8"))
    settings = {"BFF_" + name.upper() for name in Settings.model_fields}
    repeated = sorted({name for name in table if table.count(name) > 1})
    assert not repeated, f"named twice: {repeated}"
    assert not settings - set(table), f"not in docs/operations.md: {sorted(settings - set(table))}"
    assert not set(table) - settings, f"no such setting: {sorted(set(table) - settings)}"


def test_the_readme_is_a_front_door():
    assert len((ROOT / "README.md").read_text(encoding="utf-8").splitlines()) <= 250
