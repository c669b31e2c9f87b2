"""The repository's docs are its own contract: nothing in it points to a document outside it."""

import re
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
# "DESIGN §4", "DESIGN.md", "DESIGN's …", "../shared/handbook": all name a design document that
# is not in this repository, so a reader could not follow them.
OUTSIDE_REFERENCE = re.compile(r"\bDESIGN\b|handbook")


def tracked_text_files() -> list[Path]:
    names = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True).stdout
    paths = [REPO / name for name in names.splitlines() if "vendor/" not in name]
    return [path for path in paths if path.is_file() and path.suffix not in {".png", ".ico", ".woff2"}]


def test_no_tracked_file_cites_a_document_outside_the_repository() -> None:
    citing = [
        f"{path.relative_to(REPO)}:{number}"
        for path in tracked_text_files()
        if path != Path(__file__).resolve()
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1)
        if OUTSIDE_REFERENCE.search(line)
    ]
    assert citing == []
