"""Line-by-line differences between two texts, for the compare pages (contracts, revisions)."""

import difflib
from dataclasses import dataclass


@dataclass(frozen=True)
class DiffRow:
    """One row of a line diff: unchanged, removed from the old text or added in the new."""

    change: str  #: "same", "removed" or "added"
    old_number: int | None
    new_number: int | None
    text: str


def diff_lines(a, b):
    """The rows of a line diff between two lists of lines."""
    rows = []
    matcher = difflib.SequenceMatcher(a=a, b=b, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            pairs = zip(range(i1, i2), range(j1, j2), strict=True)
            rows += [DiffRow("same", i + 1, j + 1, a[i]) for i, j in pairs]
            continue
        rows += [DiffRow("removed", i + 1, None, a[i]) for i in range(i1, i2)]
        rows += [DiffRow("added", None, j + 1, b[j]) for j in range(j1, j2)]
    return rows


def unified(a, b, old_name, new_name):
    """The same comparison as a unified diff (plain text)."""
    return "\n".join(difflib.unified_diff(a, b, fromfile=old_name, tofile=new_name, lineterm=""))
