"""The lines changed against a git base: what `dayshift review --diff origin/main` reviews.

    changed = changed_lines("origin/main", cwd=Path("."))   # {absolute path: {changed line numbers}}

The comparison is the working tree (staged and unstaged edits included) against the merge base
of BASE and HEAD, as a pull request sees it; files git does not track yet count as wholly new.
A finding is kept when any line of the node it flags changed, so editing one argument of a
multi-line call re-checks that call. Deleted files and pure deletions report nothing.

Left out: diffs of renamed files' old lines (only the new side matters), and non-git repositories.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from dayshift.errors import ConfigError


def _git(args: list[str], cwd: Path) -> str:
    try:
        done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=False, timeout=60)
    except FileNotFoundError as exc:
        raise ConfigError("--diff needs git on PATH: install git, or review paths without --diff") from exc
    except subprocess.TimeoutExpired as exc:
        raise ConfigError(f"git {' '.join(args)} took over 60 s in {cwd}") from exc
    if done.returncode != 0:
        raise ConfigError(done.stderr.strip() or f"git {' '.join(args)} failed in {cwd}")
    return done.stdout


def repository_root(cwd: Path) -> Path:
    try:
        return Path(_git(["rev-parse", "--show-toplevel"], cwd).strip())
    except ConfigError as exc:
        raise ConfigError(f"--diff needs a git repository, and {cwd.resolve()} is not in one ({exc})") from exc


def merge_base(base: str, root: Path) -> str:
    try:
        _git(["rev-parse", "--verify", "--quiet", f"{base}^{{commit}}"], root)
    except ConfigError as exc:
        raise ConfigError(f'unknown git revision "{base}" in {root}: fetch it first (git fetch origin main) '
                          "or name an existing branch, tag or commit") from exc
    try:
        return _git(["merge-base", base, "HEAD"], root).strip()
    except ConfigError:
        return base  # no common history (or no HEAD yet): compare with the base itself


def parse_unified_diff(text: str, root: Path) -> dict[Path, set[int]]:
    """`git diff --unified=0` output -> {absolute path: new-side line numbers that changed}."""
    changed: dict[Path, set[int]] = {}
    current: set[int] | None = None
    for line in text.splitlines():
        if line.startswith("+++ "):
            name = line[4:].strip()
            if name == "/dev/null":
                current = None
                continue
            name = name.removeprefix("b/")
            current = changed.setdefault((root / name).resolve(), set())
        elif line.startswith("@@") and current is not None:
            new = line.split("+", 1)[1].split(" ", 1)[0]  # "@@ -3,2 +5,4 @@" -> "5,4"
            start, _, count = new.partition(",")
            n = int(count) if count else 1
            current.update(range(int(start), int(start) + n))
    return changed


def changed_lines(base: str, cwd: Path, paths: list[Path] | None = None) -> dict[Path, set[int]]:
    root = repository_root(cwd)
    against = merge_base(base, root)
    spec = [str(p.resolve()) for p in paths] if paths else []
    diff = _git(["diff", "--unified=0", "--no-color", "--no-ext-diff", "--find-renames", against, "--", *spec], root)
    changed = parse_unified_diff(diff, root)
    untracked = _git(["ls-files", "--others", "--exclude-standard", "--", *spec], root)
    for name in untracked.splitlines():
        path = (root / name).resolve()
        try:
            count = path.read_bytes().count(b"\n") + 1
        except OSError:
            continue
        changed[path] = set(range(1, count + 1))
    return {path: lines for path, lines in changed.items() if lines}
