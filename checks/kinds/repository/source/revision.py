"""Git facts about a release's commit, read from the project's mirror (never the network): which
tags point at it, whether the default branch contains it, what changed since another commit."""

from __future__ import annotations

from dataclasses import dataclass

from .cache import Mirror
from .gitcmd import SourceError


@dataclass(frozen=True)
class ChangedFile:
    path: str
    status: str  # added | modified | deleted | renamed | copied | type changed
    old_path: str = ""  # for renames and copies

    def __str__(self) -> str:
        if self.old_path:
            return f"{self.old_path} → {self.path} ({self.status})"
        return f"{self.path} ({self.status})"


STATUSES = {
    "A": "added",
    "M": "modified",
    "D": "deleted",
    "R": "renamed",
    "C": "copied",
    "T": "type changed",
}


@dataclass(frozen=True)
class Revision:
    """A commit in a project's mirror, as fetched for a run."""

    mirror: Mirror
    sha: str

    def tag_commit(self, tag: str) -> str | None:
        """The commit ``tag`` points at (through an annotated tag), or None without that tag."""
        with self.mirror.reading():
            found = self.mirror.git(
                "rev-parse", "--verify", "--quiet", f"refs/tags/{tag}^{{commit}}", check=False
            )
        if found.returncode != 0:
            return None
        return found.stdout.decode().strip() or None

    def tags(self) -> list[str]:
        """The tags pointing at the commit."""
        with self.mirror.reading():
            found = self.mirror.git("tag", "--points-at", self.sha, "--sort=refname")
        return found.stdout.decode().split()

    def has_branch(self, branch: str) -> bool:
        with self.mirror.reading():
            return (
                self.mirror.git(
                    "rev-parse", "--verify", "--quiet", f"refs/heads/{branch}", check=False
                ).returncode
                == 0
            )

    def on_branch(self, branch: str) -> bool:
        """Whether the branch (as last fetched) contains the commit."""
        with self.mirror.reading():
            answer = self.mirror.git(
                "merge-base", "--is-ancestor", self.sha, f"refs/heads/{branch}", check=False
            )
        if answer.returncode not in (0, 1):
            raise SourceError(f"Could not tell whether {branch} contains {self.sha[:12]}.")
        return answer.returncode == 0

    def changes_since(self, base: str) -> list[ChangedFile]:
        """The files that differ between commit ``base`` and this one (renames detected)."""
        with self.mirror.reading():
            if not self.mirror.has_commit(base):
                raise SourceError(f"Commit {base[:12]} is not in {self.mirror.where}.")
            diff = self.mirror.git(
                "diff", "--name-status", "-z", "--find-renames", "--no-ext-diff", base, self.sha
            )
        fields = diff.stdout.decode("utf-8", "replace").split("\0")
        changes, index = [], 0
        while index < len(fields) and fields[index]:
            code = fields[index]
            status = STATUSES.get(code[0], code[0])
            if code[0] in "RC":
                changes.append(ChangedFile(fields[index + 2], status, fields[index + 1]))
                index += 3
            else:
                changes.append(ChangedFile(fields[index + 1], status))
                index += 2
        return changes
