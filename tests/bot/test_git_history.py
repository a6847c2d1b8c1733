"""Pin history on real repositories written by the git CLI: who set each pin, when, rollbacks."""

from __future__ import annotations

import os
import subprocess
import time
from collections import Counter
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pygit2
import pytest
import yaml

from bot.gitrepo.history import (
    PinEvent,
    current_event,
    pin_histories,
    pin_history,
    rolled_back_versions,
)

BOT_EMAIL = "bot@nightshift.example"
STAGING = "environments/staging/kustomization.yaml"
T0 = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)


def kustomization(tag: str, model: str) -> str:
    return (
        "images:\n- name: model-api\n"
        f'  newTag: "{tag}"\n'
        "configMapGenerator:\n- name: model-pin\n  literals:\n"
        "  - MODEL_NAME=iris\n"
        f"  - MODEL_VERSION={model}\n"
    )


def extract(data: bytes) -> Mapping[str, str]:
    doc = yaml.safe_load(data)
    pins = {f"image/{i['name']}": str(i["newTag"]) for i in doc.get("images", [])}
    for generator in doc.get("configMapGenerator", []):
        literals = dict(item.split("=", 1) for item in generator.get("literals", []))
        pins[f"model/{literals['MODEL_NAME']}"] = literals["MODEL_VERSION"]
    return pins


def semver_older(a: str, b: str) -> bool:
    return tuple(map(int, a.split("."))) < tuple(map(int, b.split(".")))


class Repo:
    """A working repository where each commit has a chosen author, date and message."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.run("init", "--quiet", "--initial-branch=main", str(path), cwd=path.parent)

    def run(self, *args: str, cwd: Path | None = None, env: dict[str, str] | None = None) -> str:
        result = subprocess.run(
            ["git", *args],
            cwd=cwd or self.path,
            capture_output=True,
            text=True,
            env={**os.environ, **(env or {})},
            check=False,
        )
        assert result.returncode == 0, result.stderr
        return result.stdout.strip()

    def _who(self, email: str, at: datetime) -> dict[str, str]:
        name = email.split("@", maxsplit=1)[0]
        stamp = at.isoformat()
        return {
            "GIT_AUTHOR_NAME": name,
            "GIT_AUTHOR_EMAIL": email,
            "GIT_COMMITTER_NAME": name,
            "GIT_COMMITTER_EMAIL": email,
            "GIT_AUTHOR_DATE": stamp,
            "GIT_COMMITTER_DATE": stamp,
        }

    def commit(self, files: Mapping[str, str], message: str, *, email: str, at: datetime) -> str:
        for path, text in files.items():
            target = self.path / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)
            self.run("add", path)
        self.run("commit", "--quiet", "--allow-empty", "-m", message, env=self._who(email, at))
        return self.run("rev-parse", "HEAD")

    def merge(self, branch: str, *, email: str, at: datetime) -> str:
        message = f"Merge pull request #1 from org/{branch}"
        self.run("merge", "--quiet", "--no-ff", "-m", message, branch, env=self._who(email, at))
        return self.run("rev-parse", "HEAD")

    def open(self) -> pygit2.Repository:
        return pygit2.Repository(str(self.path))


def bot_message(env: str, subject: str) -> str:
    return f"{subject}\n\nNightshift-Environment: {env}\nNightshift-Change: {subject}\n"


def hours(n: int) -> datetime:
    return T0 + timedelta(hours=n)


def test_history_attributes_each_pin_change(tmp_path: Path) -> None:
    repo = Repo(tmp_path / "gitops")
    root = repo.commit(
        {STAGING: kustomization("1.0.0", "3")}, "seed", email="alice@example.com", at=hours(0)
    )
    bump1 = repo.commit(
        {STAGING: kustomization("1.1.0", "3")},
        bot_message("staging", "staging: model-api 1.0.0 → 1.1.0"),
        email=BOT_EMAIL,
        at=hours(1),
    )
    repo.commit({"README.md": "docs\n"}, "docs", email="alice@example.com", at=hours(2))
    bump2 = repo.commit(
        {STAGING: kustomization("1.2.0", "4")},
        bot_message("staging", "staging: model-api 1.2.0, iris 4"),
        email=BOT_EMAIL,
        at=hours(3),
    )
    rollback = repo.commit(
        {STAGING: kustomization("1.1.0", "4")},
        "staging: roll back model-api, 1.2.0 leaks memory",
        email="bob@example.com",
        at=hours(4),
    )
    impostor = repo.commit(  # the bot's email but no trailer: a person, most likely
        {STAGING: kustomization("1.1.0", "5")},
        "staging: iris 5",
        email=BOT_EMAIL,
        at=hours(5),
    )
    # A promotion PR: one bot commit on a branch, merged by a reviewer after main moved on.
    repo.run("checkout", "--quiet", "-b", "nightshift/promote-staging")
    promoted = repo.commit(
        {STAGING: kustomization("1.3.0", "5")},
        bot_message("staging", "staging: model-api 1.1.0 → 1.3.0"),
        email=BOT_EMAIL,
        at=hours(6),
    )
    repo.run("checkout", "--quiet", "main")
    repo.commit(
        {"environments/dev/kustomization.yaml": kustomization("2.0.0", "6")},
        "dev: try 2.0.0",
        email="alice@example.com",
        at=hours(7),
    )
    merge = repo.merge("nightshift/promote-staging", email="carol@example.com", at=hours(8))

    events = pin_history(repo.open(), STAGING, extract, bot_email=BOT_EMAIL)

    def row(e: PinEvent) -> tuple[str, str, str | None, str | None, str, bool]:
        return (e.commit, e.key, e.old, e.new, e.author_email, e.is_bot)

    assert [row(e) for e in events] == [
        (merge, "image/model-api", "1.1.0", "1.3.0", BOT_EMAIL, True),
        (impostor, "model/iris", "4", "5", BOT_EMAIL, False),
        (rollback, "image/model-api", "1.2.0", "1.1.0", "bob@example.com", False),
        (bump2, "image/model-api", "1.1.0", "1.2.0", BOT_EMAIL, True),
        (bump2, "model/iris", "3", "4", BOT_EMAIL, True),
        (bump1, "image/model-api", "1.0.0", "1.1.0", BOT_EMAIL, True),
        (root, "image/model-api", None, "1.0.0", "alice@example.com", False),
        (root, "model/iris", None, "3", "alice@example.com", False),
    ]
    # The merged promotion is live from the merge, and written by the bot's branch commit.
    landed = current_event(events, "image/model-api")
    assert landed is not None
    assert landed.time == hours(8) and landed.author_commit == promoted
    assert events[1].time == hours(5) and events[1].author_commit == impostor
    model = current_event(events, "model/iris")
    assert model is not None and model.commit == impostor
    assert current_event(events, "image/other") is None

    assert rolled_back_versions(events, "image/model-api", semver_older) == {"1.2.0"}
    assert rolled_back_versions(events, "model/iris", lambda a, b: int(a) < int(b)) == set()


@pytest.mark.parametrize(
    ("steps", "rejected"),
    [
        pytest.param(
            [("bot", "1.1.0"), ("human", "1.0.0")], {"1.1.0"}, id="human-rollback-rejects"
        ),
        pytest.param([("bot", "1.1.0"), ("bot", "1.0.0")], set(), id="bot-moving-back-is-not"),
        pytest.param(
            [("bot", "1.1.0"), ("human", "1.0.0"), ("human", "1.1.0")],
            set(),
            id="human-re-pin-lifts-it",
        ),
        pytest.param(
            [("bot", "1.2.0"), ("human", "1.1.0"), ("human", "1.0.0")],
            {"1.2.0", "1.1.0"},
            id="two-step-rollback",
        ),
        pytest.param([("human", "1.3.0")], set(), id="human-upgrade-is-not"),
    ],
)
def test_rolled_back_versions(
    tmp_path: Path, steps: list[tuple[str, str]], rejected: set[str]
) -> None:
    repo = Repo(tmp_path / "gitops")
    repo.commit({STAGING: kustomization("1.0.0", "1")}, "seed", email="a@example.com", at=T0)
    for n, (who, tag) in enumerate(steps, start=1):
        bot = who == "bot"
        repo.commit(
            {STAGING: kustomization(tag, "1")},
            bot_message("staging", f"set {tag}") if bot else f"set {tag}",
            email=BOT_EMAIL if bot else "a@example.com",
            at=hours(n),
        )
    events = pin_history(repo.open(), STAGING, extract, bot_email=BOT_EMAIL)
    assert rolled_back_versions(events, "image/model-api", semver_older) == rejected


def test_a_malformed_historic_version_does_not_stop_the_walk(tmp_path: Path) -> None:
    repo = Repo(tmp_path / "gitops")
    repo.commit({STAGING: kustomization("1.0.0", "1")}, "seed", email="a@example.com", at=T0)
    repo.commit({STAGING: "images: [\n"}, "oops", email="a@example.com", at=hours(1))
    fixed = repo.commit(
        {STAGING: kustomization("1.1.0", "1")}, "fix", email="a@example.com", at=hours(2)
    )
    events = pin_history(repo.open(), STAGING, extract, bot_email=BOT_EMAIL)
    assert [(e.old, e.new) for e in events if e.key == "image/model-api"] == [
        (None, "1.1.0"),
        ("1.0.0", None),
        (None, "1.0.0"),
    ]
    event = current_event(events, "image/model-api")
    assert event is not None and event.commit == fixed


def test_a_missing_file_or_an_empty_repo_has_no_events(tmp_path: Path) -> None:
    repo = Repo(tmp_path / "gitops")
    empty = repo.open()
    assert pin_histories(empty, {STAGING: extract}, bot_email=BOT_EMAIL) == {STAGING: []}
    repo.commit({"README.md": "x\n"}, "seed", email="a@example.com", at=T0)
    assert pin_history(repo.open(), STAGING, extract, bot_email=BOT_EMAIL) == []


def test_one_walk_reads_each_distinct_version_once(tmp_path: Path) -> None:
    """50 environments × 1,000 commits: one pass, each distinct blob parsed once, and fast."""
    repo = pygit2.init_repository(str(tmp_path / "big"), bare=True)
    envs = [f"env{n:02d}" for n in range(50)]
    tags = dict.fromkeys(envs, 0)
    env_trees: dict[str, pygit2.Oid] = {}

    def env_tree(env: str) -> pygit2.Oid:
        builder = repo.TreeBuilder()
        content = kustomization(f"1.{tags[env]}.0", "1").encode()
        builder.insert("kustomization.yaml", repo.create_blob(content), pygit2.enums.FileMode.BLOB)
        return builder.write()

    def root_tree() -> pygit2.Oid:
        envs_builder = repo.TreeBuilder()
        for env in envs:
            envs_builder.insert(env, env_trees[env], pygit2.enums.FileMode.TREE)
        builder = repo.TreeBuilder()
        builder.insert("environments", envs_builder.write(), pygit2.enums.FileMode.TREE)
        return builder.write()

    for env in envs:
        env_trees[env] = env_tree(env)
    parents: list[pygit2.Oid] = []
    moves, moved_last, last_move = 0, "", ""
    for n in range(1000):
        env = envs[(n * 7) % len(envs)]
        before = tags[env]
        if n % 3 == 2:  # every third commit rolls one back
            tags[env] = max(tags[env] - 1, 0)
        else:
            tags[env] += 1
        moves += n > 0 and tags[env] != before
        moved_last = env if tags[env] != before else moved_last
        env_trees[env] = env_tree(env)
        sig = pygit2.Signature("bot", BOT_EMAIL, int(T0.timestamp()) + n * 60, 0)
        commit = repo.create_commit(
            None, sig, sig, bot_message(env, f"{env} bump"), root_tree(), parents
        )
        parents = [commit]
        if moved_last == env:
            last_move = str(commit)
    repo.references.create("refs/heads/main", parents[0])

    calls: Counter[bytes] = Counter()

    def counting(data: bytes) -> Mapping[str, str]:
        calls[data] += 1
        return extract(data)

    files = {f"environments/{env}/kustomization.yaml": counting for env in envs}
    started = time.perf_counter()
    histories = pin_histories(repo, files, bot_email=BOT_EMAIL, head="refs/heads/main")
    elapsed = time.perf_counter() - started

    assert max(calls.values()) == 1  # each distinct content parsed exactly once
    # the root commit sets two pins per environment; every later tag move is one event
    assert sum(len(events) for events in histories.values()) == 2 * 50 + moves
    last = histories[f"environments/{moved_last}/kustomization.yaml"][0]
    assert last.commit == last_move and last.is_bot
    assert elapsed < 5, f"walking 1,000 commits × 50 files took {elapsed:.2f}s"
