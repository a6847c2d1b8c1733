"""The GitOps checkout against real repositories, by local path and over smart HTTP.

The "human" side of every race is the real git command line in a second clone.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pygit2
import pytest

from bot.errors import (
    CheckoutLockedError,
    ForeignCommitsError,
    GitError,
    PushRejectedError,
    StaleLeaseError,
)
from bot.gitrepo.auth import GitCredentials
from bot.gitrepo.checkout import Checkout
from bot.gitrepo.clone import open_checkout
from bot.gitrepo.commits import ChangeSet, Identity
from bot.gitrepo.push import BranchOutcome, delete_branch, push_branch, push_branches, push_changes
from devstack.githttp import GitOrigin

BOT = Identity("Nightshift Bot", "bot@nightshift.example")
KUSTOMIZATION = "environments/{env}/kustomization.yaml"


def kustomization(tag: str) -> bytes:
    return (
        "# pins for this environment\n"
        "resources:\n- ../../base-manifests\n"
        "images:\n- name: model-api\n"
        "  newName: registry.example/nightshift/model-api\n"
        f'  newTag: "{tag}"\n'
    ).encode()


def bump(env: str, tag: str, old: str = "1.0.0") -> ChangeSet:
    return ChangeSet(
        files={KUSTOMIZATION.format(env=env): kustomization(tag)},
        subject=f"{env}: model-api {old} → {tag}",
        body="Promoted by the nightly pass.",
        trailers=(
            ("Nightshift-Environment", env),
            ("Nightshift-Change", f"image model-api {old} -> {tag}"),
        ),
    )


def git(*args: str, cwd: Path, email: str = "alice@example.com") -> str:
    result = subprocess.run(
        ["git", "-c", "user.name=Alice", "-c", f"user.email={email}", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, f"git {' '.join(args)}: {result.stderr}"
    return result.stdout.strip()


@dataclass
class Origin:
    """A bare repository the bot talks to (`url`), and how a person reaches it."""

    url: str
    human_url: str
    bare: Path
    credentials: GitCredentials

    def head(self, branch: str = "main") -> str:
        return git("rev-parse", f"refs/heads/{branch}", cwd=self.bare)

    def log(self, branch: str = "main") -> list[str]:
        return git("log", "--format=%s", branch, cwd=self.bare).splitlines()

    def show(self, path: str, branch: str = "main") -> str:
        return git("show", f"{branch}:{path}", cwd=self.bare)


class Human:
    """A person's clone, driven by the real git CLI."""

    def __init__(self, origin: Origin, path: Path) -> None:
        self.path = path
        git("clone", "--quiet", origin.human_url, str(path), cwd=path.parent)

    def commit(self, path: str, text: str, message: str, *, branch: str = "main") -> str:
        git("fetch", "--quiet", "origin", cwd=self.path)
        exists = subprocess.run(
            ["git", "rev-parse", "--verify", "--quiet", f"origin/{branch}"],
            cwd=self.path,
            capture_output=True,
            check=False,
        )
        start = f"origin/{branch}" if exists.returncode == 0 else "origin/main"
        git("checkout", "--quiet", "-B", branch, start, cwd=self.path)
        target = self.path / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
        git("add", path, cwd=self.path)
        git("commit", "--quiet", "-m", message, cwd=self.path)
        git("push", "--quiet", "origin", f"HEAD:refs/heads/{branch}", cwd=self.path)
        return git("rev-parse", "HEAD", cwd=self.path)


@pytest.fixture(params=["path", "http"])
def origin(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Origin]:
    """A seeded GitOps origin: two environments on main, reached by path or by smart HTTP."""
    if request.param == "path":
        bare = tmp_path / "origin.git"
        git("init", "--quiet", "--bare", "--initial-branch=main", str(bare), cwd=tmp_path)
        found = Origin(str(bare), str(bare), bare, GitCredentials())
    else:
        service: GitOrigin = request.getfixturevalue("git_origin")
        name = f"gitops-{uuid.uuid4().hex[:8]}"
        bare = service.create_bare(name)
        found = Origin(
            service.repo_url(name),
            service.repo_url(name, with_credentials=True),
            bare,
            GitCredentials(username=service.username or "", token=service.password),
        )
    seed = tmp_path / "seed"
    git("init", "--quiet", "--initial-branch=main", str(seed), cwd=tmp_path)
    for env in ("dev", "prod"):
        target = seed / KUSTOMIZATION.format(env=env)
        target.parent.mkdir(parents=True)
        target.write_bytes(kustomization("1.0.0"))
    (seed / "README.md").write_text("GitOps\n")
    git("add", ".", cwd=seed)
    git("commit", "--quiet", "-m", "seed", cwd=seed)
    git("push", "--quiet", found.human_url, "main", cwd=seed)
    yield found


def bot_checkout(origin: Origin, tmp_path: Path, name: str = "bot") -> Checkout:
    checkout = open_checkout(tmp_path / name, origin.url, credentials=origin.credentials)
    checkout.sync(BOT.email)
    return checkout


def no_replan(head: pygit2.Commit | None) -> Sequence[ChangeSet]:
    raise AssertionError("replan must not be called without a race")


def test_clone_commit_push_round_trip(origin: Origin, tmp_path: Path) -> None:
    with bot_checkout(origin, tmp_path) as checkout:
        assert (checkout.path / "README.md").read_text() == "GitOps\n"
        outcome = push_changes(checkout, [bump("dev", "1.1.0")], identity=BOT, replan=no_replan)
        assert outcome.status == "pushed" and outcome.attempts == 1
        assert origin.head() == outcome.commits[0]
        # the working copy follows its branch
        assert (checkout.path / KUSTOMIZATION.format(env="dev")).read_bytes() == kustomization(
            "1.1.0"
        )
    assert origin.log()[0] == "dev: model-api 1.0.0 → 1.1.0"
    assert 'newTag: "1.1.0"' in origin.show(KUSTOMIZATION.format(env="dev"))
    raw = git("log", "-1", "--format=%an <%ae>%n%cn <%ce>%n%B", "main", cwd=origin.bare)
    assert raw.splitlines()[:2] == [f"{BOT.name} <{BOT.email}>"] * 2
    trailers = git("log", "-1", "--format=%(trailers:only,unfold)", "main", cwd=origin.bare)
    assert trailers.splitlines() == [
        "Nightshift-Environment: dev",
        "Nightshift-Change: image model-api 1.0.0 -> 1.1.0",
    ]


def test_second_pass_reopens_and_fetches(origin: Origin, tmp_path: Path) -> None:
    with bot_checkout(origin, tmp_path):
        pass
    human = Human(origin, tmp_path / "alice")
    change = human.commit("README.md", "GitOps, edited\n", "docs: edit readme")
    with bot_checkout(origin, tmp_path) as checkout:
        head = checkout.head()
        assert head is not None and str(head.id) == change
        assert (checkout.path / "README.md").read_text() == "GitOps, edited\n"


def test_no_commit_when_the_tree_does_not_change(origin: Origin, tmp_path: Path) -> None:
    before = origin.head()
    with bot_checkout(origin, tmp_path) as checkout:
        outcome = push_changes(checkout, [bump("dev", "1.0.0")], identity=BOT, replan=no_replan)
        assert outcome == type(outcome)("unchanged", (), 1)
        assert checkout.commit(bump("prod", "1.0.0"), BOT) is None
        assert checkout.pending() == []
    assert origin.head() == before


def test_one_commit_per_change_set_in_one_push(origin: Origin, tmp_path: Path) -> None:
    with bot_checkout(origin, tmp_path) as checkout:
        outcome = push_changes(
            checkout,
            [bump("dev", "1.1.0"), bump("prod", "1.0.0"), bump("prod", "1.1.0")],
            identity=BOT,
            replan=no_replan,
        )
    assert outcome.status == "pushed" and len(outcome.commits) == 2  # the no-op is skipped
    assert origin.log()[:3] == [
        "prod: model-api 1.0.0 → 1.1.0",
        "dev: model-api 1.0.0 → 1.1.0",
        "seed",
    ]


def test_push_racing_a_human_commit_replans_and_loses_nothing(
    origin: Origin, tmp_path: Path
) -> None:
    human = Human(origin, tmp_path / "alice")
    with bot_checkout(origin, tmp_path) as checkout:
        planned = [bump("dev", "1.1.0")]  # planned on the seed commit
        # A person pushes to main after the bot fetched and before it pushes.
        theirs = human.commit(
            KUSTOMIZATION.format(env="prod"), kustomization("0.9.0").decode(), "prod: roll back"
        )
        heads: list[str] = []

        def replan(head: pygit2.Commit | None) -> Sequence[ChangeSet]:
            assert head is not None
            heads.append(str(head.id))
            # the working copy is at the new head when re-planning
            prod = checkout.path / KUSTOMIZATION.format(env="prod")
            assert prod.read_bytes() == kustomization("0.9.0")
            return [bump("dev", "1.1.0")]

        outcome = push_changes(checkout, planned, identity=BOT, replan=replan)
    assert heads == [theirs]
    assert outcome.status == "pushed" and outcome.attempts == 2
    assert origin.log() == ["dev: model-api 1.0.0 → 1.1.0", "prod: roll back", "seed"]
    assert git("rev-parse", "main~1", cwd=origin.bare) == theirs
    assert '"0.9.0"' in origin.show(KUSTOMIZATION.format(env="prod"))


def test_replan_finding_nothing_left_to_do_is_obsolete(origin: Origin, tmp_path: Path) -> None:
    human = Human(origin, tmp_path / "alice")
    with bot_checkout(origin, tmp_path) as checkout:
        human.commit(
            KUSTOMIZATION.format(env="dev"), kustomization("1.1.0").decode(), "dev: by hand"
        )
        outcome = push_changes(
            checkout,
            [bump("dev", "1.1.0")],
            identity=BOT,
            replan=lambda head: [bump("dev", "1.1.0")],
        )
        assert checkout.pending() == []
    assert outcome.status == "obsolete" and outcome.commits == ()
    assert origin.log() == ["dev: by hand", "seed"]


def test_push_gives_up_after_bounded_attempts(origin: Origin, tmp_path: Path) -> None:
    human = Human(origin, tmp_path / "alice")
    calls: list[int] = []

    def replan_while_a_human_keeps_pushing(head: pygit2.Commit | None) -> Sequence[ChangeSet]:
        calls.append(1)
        human.commit("README.md", f"edit {len(calls)}\n", f"docs: edit {len(calls)}")
        return [bump("dev", "1.1.0")]

    with bot_checkout(origin, tmp_path) as checkout:
        human.commit("README.md", "edit 0\n", "docs: edit 0")
        with pytest.raises(PushRejectedError, match="after 3 attempts"):
            push_changes(
                checkout,
                [bump("dev", "1.1.0")],
                identity=BOT,
                replan=replan_while_a_human_keeps_pushing,
                max_attempts=3,
            )
        assert checkout.pending() == []  # nothing left half-done locally
    assert len(calls) == 2
    assert not any(subject.startswith("dev:") for subject in origin.log())


CRASH_SCRIPT = textwrap.dedent(
    """
    import os, sys
    from pathlib import Path
    from bot.gitrepo.clone import open_checkout
    from bot.gitrepo.commits import ChangeSet, Identity
    checkout = open_checkout(Path(sys.argv[1]), sys.argv[2])
    checkout.sync(sys.argv[3])
    files = {"environments/dev/kustomization.yaml": sys.stdin.buffer.read()}
    trailers = (("Nightshift-Environment", "dev"),)
    change = ChangeSet(files=files, subject="dev: model-api 1.0.0 → 1.1.0", trailers=trailers)
    print(checkout.commit(change, Identity("Nightshift Bot", sys.argv[3])), flush=True)
    os._exit(9)  # killed between commit and push: no cleanup, the lock is still held
    """
)


def test_crash_between_commit_and_push_leaves_no_duplicate(origin: Origin, tmp_path: Path) -> None:
    env = dict(os.environ)
    env["NIGHTSHIFT_GIT_USERNAME"] = origin.credentials.username
    env["NIGHTSHIFT_GIT_TOKEN"] = origin.credentials.token or ""
    crashed = subprocess.run(
        [sys.executable, "-c", CRASH_SCRIPT, str(tmp_path / "bot"), origin.url, BOT.email],
        input=kustomization("1.1.0"),
        capture_output=True,
        env=env,
        check=False,
    )
    assert crashed.returncode == 9, crashed.stderr.decode()
    dangling = crashed.stdout.decode().strip()
    assert origin.log() == ["seed"]  # never pushed
    # a kill in the middle of an index write leaves git's own lock file behind too
    (tmp_path / "bot" / ".git" / "index.lock").write_bytes(b"")
    with open_checkout(tmp_path / "bot", origin.url, credentials=origin.credentials) as checkout:
        assert [str(c.id) for c in checkout.pending()] == [dangling]
        assert checkout.sync(BOT.email) == [dangling]
        outcome = push_changes(checkout, [bump("dev", "1.1.0")], identity=BOT, replan=no_replan)
        assert outcome.status == "pushed" and dangling not in outcome.commits
        assert checkout.read(KUSTOMIZATION.format(env="dev")) == kustomization("1.1.0")
    # a further pass has nothing to do
    with bot_checkout(origin, tmp_path) as checkout:
        again = push_changes(checkout, [bump("dev", "1.1.0")], identity=BOT, replan=no_replan)
        assert again.status == "unchanged"
    assert origin.log() == ["dev: model-api 1.0.0 → 1.1.0", "seed"]


def test_sync_never_drops_a_persons_unpushed_commit(origin: Origin, tmp_path: Path) -> None:
    with bot_checkout(origin, tmp_path) as checkout:
        person = Identity("Alice", "alice@example.com")
        checkout.commit(ChangeSet(files={"README.md": b"mine\n"}, subject="docs: mine"), person)
        with pytest.raises(GitError, match="unpushed commits the bot did not make"):
            checkout.sync(BOT.email)
        assert (checkout.path / "README.md").read_text() == "mine\n"


LOCK_SCRIPT = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from bot.errors import CheckoutLockedError
    from bot.gitrepo.clone import open_checkout
    try:
        open_checkout(Path(sys.argv[1]))
    except CheckoutLockedError as err:
        print(err)
        sys.exit(1)
    print("acquired")
    """
)


def test_a_second_pass_on_the_same_checkout_fails_fast(origin: Origin, tmp_path: Path) -> None:
    def second_pass() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-c", LOCK_SCRIPT, str(tmp_path / "bot")],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )

    with bot_checkout(origin, tmp_path):
        blocked = second_pass()
        assert blocked.returncode == 1, blocked.stderr
        assert "in use by another pass" in blocked.stdout
        assert f"pid {os.getpid()}" in blocked.stdout
        with pytest.raises(CheckoutLockedError):
            open_checkout(tmp_path / "bot")  # a second open in this process is refused too
    assert second_pass().stdout.strip() == "acquired"


def test_pr_branch_is_pushed_then_up_to_date(origin: Origin, tmp_path: Path) -> None:
    with bot_checkout(origin, tmp_path) as checkout:
        first = push_branch(
            checkout, "nightshift/promote-prod", [bump("prod", "1.1.0")], identity=BOT
        )
        assert first.status == "pushed" and first.previous is None
        assert origin.head("nightshift/promote-prod") == first.head
        again = push_branch(
            checkout, "nightshift/promote-prod", [bump("prod", "1.1.0")], identity=BOT
        )
        assert again.status == "up-to-date" and again.head == first.head
        nothing = push_branch(
            checkout, "nightshift/promote-prod", [bump("prod", "1.0.0")], identity=BOT
        )
        assert nothing.status == "empty"
        main = checkout.head()
        assert main is not None and str(main.id) == origin.head()  # main untouched
    assert origin.head("nightshift/promote-prod") == first.head
    assert git("rev-parse", "nightshift/promote-prod~1", cwd=origin.bare) == origin.head()


def test_pr_branch_is_rebuilt_on_a_new_main(origin: Origin, tmp_path: Path) -> None:
    human = Human(origin, tmp_path / "alice")
    branch = "nightshift/promote-prod"
    with bot_checkout(origin, tmp_path) as checkout:
        first = push_branch(checkout, branch, [bump("prod", "1.1.0")], identity=BOT)
    new_main = human.commit("README.md", "moved\n", "docs: move main")
    with bot_checkout(origin, tmp_path) as checkout:
        rebuilt = push_branch(checkout, branch, [bump("prod", "1.1.0")], identity=BOT)
    assert rebuilt.status == "pushed" and rebuilt.previous == first.head
    assert git("rev-parse", f"{branch}~1", cwd=origin.bare) == new_main
    assert git("rev-list", "--count", f"main..{branch}", cwd=origin.bare) == "1"


def test_force_with_lease_refuses_when_the_branch_moved(origin: Origin, tmp_path: Path) -> None:
    human = Human(origin, tmp_path / "alice")
    branch = "nightshift/promote-prod"
    with bot_checkout(origin, tmp_path) as checkout:
        push_branch(checkout, branch, [bump("prod", "1.1.0")], identity=BOT)
        # A reviewer pushes a fix to the PR branch after the bot fetched it.
        theirs = human.commit("README.md", "reviewer fix\n", "docs: fix", branch=branch)
        with pytest.raises(StaleLeaseError, match="moved since we fetched"):
            push_branch(checkout, branch, [bump("prod", "1.2.0")], identity=BOT)
        assert origin.head(branch) == theirs
        # Once fetched, the lease would hold, but the bot still will not drop their commit.
        checkout.fetch()
        with pytest.raises(ForeignCommitsError, match=r"alice@example\.com"):
            push_branch(checkout, branch, [bump("prod", "1.2.0")], identity=BOT)
        assert origin.head(branch) == theirs
        forced = push_branch(
            checkout, branch, [bump("prod", "1.2.0")], identity=BOT, allow_foreign=True
        )
    assert origin.head(branch) == forced.head and forced.previous == theirs


def test_lease_refuses_a_branch_created_behind_our_back(origin: Origin, tmp_path: Path) -> None:
    human = Human(origin, tmp_path / "alice")
    branch = "nightshift/promote-dev"
    with bot_checkout(origin, tmp_path) as checkout:
        theirs = human.commit("README.md", "mine\n", "docs: mine", branch=branch)
        with pytest.raises(StaleLeaseError, match="exists"):
            push_branch(checkout, branch, [bump("dev", "1.1.0")], identity=BOT)
    assert origin.head(branch) == theirs


@pytest.mark.parametrize("origin", ["http"], indirect=True)  # hooks run behind smart HTTP
def test_pr_branches_go_out_in_one_push(origin: Origin, tmp_path: Path) -> None:
    hook = origin.bare / "hooks" / "post-receive"  # git runs it once per push
    hook.write_text(f"#!/bin/sh\necho push >> {tmp_path / 'pushes.log'}\n")
    hook.chmod(0o755)
    with bot_checkout(origin, tmp_path) as checkout:
        results = push_branches(
            checkout,
            {
                "nightshift/promote-dev": [bump("dev", "1.1.0")],
                "nightshift/promote-prod": [bump("prod", "1.2.0")],
                "nightshift/promote-qa": [bump("dev", "1.0.0")],  # no difference from main
            },
            identity=BOT,
        )
    assert (tmp_path / "pushes.log").read_text() == "push\n"
    dev, prod = results["nightshift/promote-dev"], results["nightshift/promote-prod"]
    assert isinstance(dev, BranchOutcome) and isinstance(prod, BranchOutcome)
    assert (dev.status, prod.status) == ("pushed", "pushed")
    assert origin.head("nightshift/promote-dev") == dev.head
    assert origin.head("nightshift/promote-prod") == prod.head
    empty = results["nightshift/promote-qa"]
    assert isinstance(empty, BranchOutcome) and empty.status == "empty"


def test_in_one_push_a_moved_or_foreign_branch_fails_alone(origin: Origin, tmp_path: Path) -> None:
    human = Human(origin, tmp_path / "alice")
    moved, foreign, fine = (f"nightshift/promote-{env}" for env in ("dev", "prod", "qa"))
    with bot_checkout(origin, tmp_path) as checkout:
        push_branch(checkout, moved, [bump("dev", "1.1.0")], identity=BOT)
        human.commit("README.md", "fix\n", "docs: fix", branch=foreign)
        checkout.fetch()  # the bot sees prod's branch, with a person's commit on it
        theirs = human.commit("README.md", "after\n", "docs: after our fetch", branch=moved)
        results = push_branches(
            checkout,
            {
                moved: [bump("dev", "1.2.0")],
                foreign: [bump("prod", "1.2.0")],
                fine: [bump("dev", "1.3.0")],
            },
            identity=BOT,
        )
    assert isinstance(results[moved], StaleLeaseError)
    assert isinstance(results[foreign], ForeignCommitsError)
    ok = results[fine]
    assert isinstance(ok, BranchOutcome) and ok.status == "pushed"
    assert origin.head(fine) == ok.head
    assert origin.head(moved) == theirs  # a person's commit is never overwritten


def test_delete_branch_with_lease(origin: Origin, tmp_path: Path) -> None:
    branch = "nightshift/promote-dev"
    with bot_checkout(origin, tmp_path) as checkout:
        push_branch(checkout, branch, [bump("dev", "1.1.0")], identity=BOT)
        assert delete_branch(checkout, branch) is True
        checkout.fetch()
        assert checkout.remote_head(branch) is None
        assert delete_branch(checkout, branch) is False
    assert git("branch", "--list", branch, cwd=origin.bare) == ""


def test_commit_in_a_persons_clone_keeps_their_other_edits(origin: Origin, tmp_path: Path) -> None:
    human = Human(origin, tmp_path / "alice")
    (human.path / "README.md").write_text("work in progress\n")
    with open_checkout(human.path) as checkout:  # no URL, no sync: `bot pin --commit`
        oid = checkout.commit(bump("dev", "1.2.0"), Identity("Alice", "alice@example.com"))
    assert oid is not None
    assert git("rev-parse", "HEAD", cwd=human.path) == str(oid)
    assert (human.path / "README.md").read_text() == "work in progress\n"
    # the pinned file is committed and clean; their edit is still an unstaged change
    assert git("diff", "--cached", "--name-only", cwd=human.path) == ""
    assert git("diff", "--name-only", cwd=human.path) == "README.md"


def test_commit_follows_the_checked_out_branch_and_refuses_another(
    origin: Origin, tmp_path: Path
) -> None:
    human = Human(origin, tmp_path / "alice")
    git("checkout", "--quiet", "-b", "feature", cwd=human.path)
    alice = Identity("Alice", "alice@example.com")
    with open_checkout(human.path) as checkout:
        assert checkout.branch == "feature"
        assert checkout.commit(bump("dev", "1.2.0"), alice) is not None
    assert git("log", "-1", "--format=%s", "feature", cwd=human.path).startswith("dev:")
    with (
        open_checkout(human.path, branch="main") as checkout,
        pytest.raises(GitError, match="has refs/heads/feature checked out, not refs/heads/main"),
    ):
        checkout.commit(bump("dev", "1.3.0"), alice)


def test_export_writes_a_commits_files_and_moves_nothing(tmp_path: Path) -> None:
    """What a read-only pass plans from: the remote branch's files, with their modes and
    links, while the person's clone keeps its branch, index and working tree."""
    repo = tmp_path / "clone"
    git("init", "--quiet", "--initial-branch=main", str(repo), cwd=tmp_path)
    (repo / "environments" / "dev").mkdir(parents=True)
    (repo / "environments" / "dev" / "kustomization.yaml").write_bytes(kustomization("1.0.0"))
    (repo / "render.sh").write_text("#!/bin/sh\n")
    (repo / "render.sh").chmod(0o755)
    (repo / "current").symlink_to("environments/dev")
    git("add", ".", cwd=repo)
    git("commit", "--quiet", "-m", "seed", cwd=repo)
    git("checkout", "--quiet", "-b", "feature", cwd=repo)
    (repo / "README.md").write_text("work in progress\n")  # untracked: must stay
    before = (git("rev-parse", "HEAD", cwd=repo), git("status", "--porcelain", cwd=repo))

    with open_checkout(repo, branch="main") as checkout:
        main = checkout.head()
        assert main is not None
        checkout.export(main, tmp_path / "view")

    view = tmp_path / "view"
    assert (view / "environments/dev/kustomization.yaml").read_bytes() == kustomization("1.0.0")
    assert os.access(view / "render.sh", os.X_OK)
    assert (view / "current").is_symlink() and (view / "current").readlink() == Path(
        "environments/dev"
    )
    assert not (view / "README.md").exists() and not (view / ".git").exists()
    assert git("symbolic-ref", "HEAD", cwd=repo) == "refs/heads/feature"
    assert (git("rev-parse", "HEAD", cwd=repo), git("status", "--porcelain", cwd=repo)) == before
