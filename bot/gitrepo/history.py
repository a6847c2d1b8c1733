"""Pin history from git: when each pin got its current value, by whom, and human rollbacks.

One walk per pass covers every watched file: `pin_histories` follows the first-parent chain
of the branch once, and between each commit and its parent descends only into subtrees whose
ids differ, so a commit that touched one environment costs a few tree-entry comparisons for
the others. Blobs are parsed once per distinct content (a rollback reuses an older blob).

Attribution, so the planner's "bot or human" is right for merged pull requests too:
- `commit` and `time` are those of the commit on the walked branch that changed the value
  there (for a merged PR, the merge commit): the pin is live from that moment, so soak
  counts from it.
- `author_email` and `is_bot` are those of the commit that *wrote* the value: for a merge
  whose result equals a side parent's file, the side-branch commit that set it; otherwise
  the commit itself. A squash or rebase merge is an ordinary commit: its own author and
  message decide.
- A commit is the bot's when its author email is the bot's AND it carries the
  `Nightshift-Environment` trailer (a person committing with the bot's identity by mistake
  is still, most likely, missing the trailer).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import pygit2
from pygit2.enums import ObjectType

from bot.gitrepo.commits import is_bot_commit

log = logging.getLogger(__name__)

Extract = Callable[[bytes], Mapping[str, str]]
"""Parse one version of a file into its pins, e.g. {"image/model-api": "1.1.0"}.

It may raise on content it cannot read (a malformed historic commit): that version then
counts as having no pins, and the walk goes on.
"""

_Trie = dict[str, "_Trie | None"]  # None marks a watched file
_MAX_SIDE_WALK = 10_000


@dataclass(frozen=True)
class PinEvent:
    """One change of one pin on the walked branch, as `old` → `new` (None: absent)."""

    commit: str
    time: datetime
    author_email: str
    is_bot: bool
    key: str
    old: str | None
    new: str | None
    path: str = ""
    author_commit: str = ""
    """The commit that wrote the value; differs from `commit` for merged side branches."""


def pin_history(
    repo: pygit2.Repository,
    path: str,
    extract: Extract,
    *,
    bot_email: str,
    head: pygit2.Oid | str | None = None,
) -> list[PinEvent]:
    """The changes of every pin in one file, newest first. See `pin_histories`."""
    return pin_histories(repo, {path: extract}, bot_email=bot_email, head=head)[path]


def pin_histories(
    repo: pygit2.Repository,
    files: Mapping[str, Extract],
    *,
    bot_email: str,
    head: pygit2.Oid | str | None = None,
) -> dict[str, list[PinEvent]]:
    """Walk the first-parent history from `head` (default HEAD) once for all `files`.

    Returns, per path, its pin events newest first. The root commit (or the commit that
    added the file) yields events with `old=None`, so the current value of every pin that
    exists at `head` has an event that set it.
    """
    events: dict[str, list[PinEvent]] = {path: [] for path in files}
    if not files:
        return events
    start = _resolve(repo, head)
    if start is None:
        return events
    trie = _build_trie(files)
    # Keyed by extractor and blob: identical files (environments that pin the same
    # versions, a rollback to an older content) are parsed once.
    parsed: dict[tuple[Extract, pygit2.Oid], Mapping[str, str]] = {}

    def pins(path: str, blob: pygit2.Oid | None) -> Mapping[str, str]:
        if blob is None:
            return {}
        key = (files[path], blob)
        if key not in parsed:
            try:
                parsed[key] = dict(files[path](repo[blob].peel(pygit2.Blob).data))
            except Exception as err:  # a bad historic version has no pins; the walk goes on
                log.debug("cannot read pins of %s at blob %s: %s", path, blob, err)
                parsed[key] = {}
        return parsed[key]

    commit: pygit2.Commit | None = start
    while commit is not None:
        parent = repo[commit.parent_ids[0]].peel(pygit2.Commit) if commit.parent_ids else None
        parent_tree = parent.tree if parent is not None else None
        for path in _changed(commit.tree, parent_tree, trie, ""):
            new_blob = _entry_id(commit.tree, path)
            old_blob = _entry_id(parent_tree, path) if parent_tree is not None else None
            new_pins, old_pins = pins(path, new_blob), pins(path, old_blob)
            keys = sorted(set(new_pins) | set(old_pins))
            moved = [k for k in keys if new_pins.get(k) != old_pins.get(k)]
            if not moved:
                continue
            author = _author_of(repo, commit, path, new_blob)
            when = _time(commit)
            for key in moved:
                events[path].append(
                    PinEvent(
                        commit=str(commit.id),
                        time=when,
                        author_email=author.author.email,
                        is_bot=is_bot_commit(author, bot_email)
                        or squashed_promotion(author, key, new_pins.get(key)),
                        key=key,
                        old=old_pins.get(key),
                        new=new_pins.get(key),
                        path=path,
                        author_commit=str(author.id),
                    )
                )
        commit = parent
    return events


def current_event(events: Iterable[PinEvent], key: str) -> PinEvent | None:
    """The event that set `key` to its current value (events newest first), if it still exists."""
    for event in events:
        if event.key == key:
            return event if event.new is not None else None
    return None


def rolled_back_versions(
    events: Iterable[PinEvent], key: str, older: Callable[[str, str], bool]
) -> frozenset[str]:
    """Versions of `key` a person rolled back from, which the bot must not promote again.

    A rollback is a non-bot event that moved the pin from A to B with `older(B, A)` (B is
    older than A): A is rejected. A later non-bot event that sets the pin to A again (the
    person re-promoted it by hand) lifts the rejection.
    """
    rejected: set[str] = set()
    for event in reversed([e for e in events if e.key == key]):  # oldest first
        if event.is_bot or event.new is None:
            continue
        if event.old is not None and older(event.new, event.old):
            rejected.add(event.old)
        rejected.discard(event.new)
    return frozenset(rejected)


def _resolve(repo: pygit2.Repository, head: pygit2.Oid | str | None) -> pygit2.Commit | None:
    if head is None:
        if repo.head_is_unborn:
            return None
        return repo.head.peel(pygit2.Commit)
    if isinstance(head, str) and not _is_hex(head):
        ref = repo.references.get(head)
        return None if ref is None else repo[ref.target].peel(pygit2.Commit)
    return repo[head].peel(pygit2.Commit)


def _is_hex(text: str) -> bool:
    return len(text) == 40 and all(c in "0123456789abcdef" for c in text.lower())


def _build_trie(paths: Iterable[str]) -> _Trie:
    root: _Trie = {}
    for path in paths:
        node = root
        *dirs, name = path.split("/")
        for part in dirs:
            child = node.setdefault(part, {})
            if child is None:
                raise ValueError(f"{path!r} is inside another watched path, which is a file")
            node = child
        node[name] = None
    return root


def _changed(
    tree: pygit2.Tree | None, parent: pygit2.Tree | None, trie: _Trie, prefix: str
) -> Iterable[str]:
    """Watched paths whose entry differs between `tree` and `parent`, pruning equal subtrees.

    Either side may be None: the directory does not exist there.
    """
    for name, sub in trie.items():
        new, old = _child(tree, name), _child(parent, name)
        if (new.id if new is not None else None) == (old.id if old is not None else None):
            continue
        path = f"{prefix}{name}"
        if sub is None:
            yield path
        else:
            yield from _changed(_as_tree(new), _as_tree(old), sub, f"{path}/")


def _child(tree: pygit2.Tree | None, name: str) -> pygit2.Object | None:
    if tree is None:
        return None
    try:
        return tree[name]
    except KeyError:
        return None


def _as_tree(obj: pygit2.Object | None) -> pygit2.Tree | None:
    return obj.peel(pygit2.Tree) if obj is not None and obj.type == ObjectType.TREE else None


def _entry_id(tree: pygit2.Tree | None, path: str) -> pygit2.Oid | None:
    if tree is None:
        return None
    try:
        obj = tree[path]
    except KeyError:
        return None
    return obj.id if obj.type == ObjectType.BLOB else None


def _author_of(
    repo: pygit2.Repository, commit: pygit2.Commit, path: str, blob: pygit2.Oid | None
) -> pygit2.Commit:
    """The commit that wrote `blob` at `path`: a side-branch commit for merges, else `commit`."""
    if len(commit.parent_ids) < 2:
        return commit
    first = commit.parent_ids[0]
    for side_id in commit.parent_ids[1:]:
        side = repo[side_id].peel(pygit2.Commit)
        if _entry_id(side.tree, path) != blob:
            continue
        try:
            stop = repo.merge_base(first, side_id)
        except (KeyError, pygit2.GitError):
            stop = None
        current = side
        for _ in range(_MAX_SIDE_WALK):
            if not current.parent_ids or current.parent_ids[0] == stop:
                return current
            before = repo[current.parent_ids[0]].peel(pygit2.Commit)
            if _entry_id(before.tree, path) != blob:
                return current
            current = before
        return current
    return commit  # the merge itself chose the content (a conflict resolution)


_SQUASH_SUBJECT = re.compile(r"^Promote [a-z0-9][a-z0-9._-]*: (?P<moves>.+) \(#\d+\)$")


def squashed_promotion(commit: pygit2.Commit, key: str, value: str | None) -> bool:
    """Is `commit` a squash-merge of the bot's promotion PR that set `key` to `value`?

    A squash commit is a person's (the merger's) and carries none of the bot's trailers,
    but its subject is the PR's title plus `(#N)`, and the bot's titles list each move as
    `<name> <old> → <new>`. The pin counts as the bot's when the commit sets exactly the
    version the title names for it: a reviewer approved the bot's proposal, as with a
    merge commit. A person's own edit of other pins in that commit stays a person's.
    """
    if len(commit.parent_ids) != 1 or value is None:
        return False
    found = _SQUASH_SUBJECT.match(commit.message.split("\n", 1)[0].strip())
    if found is None:
        return False
    name = key.split(":", 1)[-1]
    version = value.split("@", 1)[0]
    moves = [m.strip() for m in found.group("moves").split(",")]
    return any(m.startswith(f"{name} ") and m.endswith(f" → {version}") for m in moves)


def _time(commit: pygit2.Commit) -> datetime:
    tz = timezone(timedelta(minutes=commit.commit_time_offset))
    return datetime.fromtimestamp(commit.commit_time, tz)
