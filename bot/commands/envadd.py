"""`bot env add NAME --from UPSTREAM`: a new environment, derived from an existing one.

It writes three things at once (see `bot.commands.envderive` for how each is derived): the overlay
`environments/NAME/` (the upstream's, pins included, so the new environment starts where
the upstream runs and the next pass promotes into it), its `promotion.yaml` entry (one
inserted block, every other byte kept), and `clusters/NAME/` (Flux's objects for its
cluster, when the upstream has them).

Nothing is written unless everything checks out first: the name is new and a valid
namespace-safe name, the upstream exists, `promotion.yaml` has no uncommitted edits, the new
overlay renders and validates through the same gate as every pin (`bot.edit.gate`), and the new
`promotion.yaml` loads through `bot.config.load`. The files are then built beside their targets
and moved into place, so a failure leaves nothing behind. What cannot be done from the
repository (the identity, CODEOWNERS, branch protection, bootstrapping Flux) is printed as
steps for the operator.
"""

from __future__ import annotations

import argparse
import difflib
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import pygit2

from bot.commands.envderive import (
    PLACEHOLDER_CLIENT_ID,
    Identity,
    NewFile,
    clusters,
    is_dns_label,
    overlay,
    promotion_entry,
)
from bot.config.load import load_config
from bot.config.model import Mode
from bot.edit.gate import GateResult, gate_environment
from bot.errors import BotError, ConfigError
from bot.gitrepo.clone import open_checkout
from bot.gitrepo.commits import ChangeSet, person

CONFIG_PATH = PurePosixPath("environments", "promotion.yaml")
ENV_ADD_TRAILER = "Nightshift-Env-Add"


@dataclass(frozen=True)
class EnvRequest:
    name: str
    upstream: str
    mode: Mode = "pull-request"
    soak: str | None = None  # None: the upstream's soak, or 24h


@dataclass(frozen=True)
class EnvPlan:
    """Everything `env add` would write, checked; nothing is written yet."""

    request: EnvRequest
    new_files: tuple[NewFile, ...]  # the overlay and clusters/, all new
    config_before: bytes
    config_after: bytes
    soak: str
    soak_origin: str
    namespace: str
    identities: tuple[Identity, ...]
    left_out: tuple[str, ...]
    has_clusters: bool
    gate: GateResult
    owners: tuple[str, ...] = ()  # the upstream's reviewers, for the CODEOWNERS line

    @property
    def paths(self) -> tuple[str, ...]:
        return (*(f.path for f in self.new_files), str(CONFIG_PATH))


def plan(repo: Path, request: EnvRequest) -> EnvPlan:
    """Check the request and derive the files; refuse (ConfigError) before anything else."""
    name, upstream_name = request.name, request.upstream
    if not is_dns_label(name):
        raise ConfigError(
            f"{name!r} is not a valid environment name: lowercase letters, digits and '-',"
            " starting and ending with a letter or digit, at most 63 characters (it names a"
            " namespace and a cluster folder)"
        )
    config_file = repo / CONFIG_PATH
    config = load_config(config_file)
    known = [e.name for e in config.environments]
    if name in known:
        raise ConfigError(f"environment {name!r} exists already in {config_file}")
    for taken in (repo / "environments" / name, repo / "clusters" / name):
        if taken.exists():
            raise ConfigError(f"{taken} exists already; choose another name or remove it")
    if upstream_name not in known:
        raise ConfigError(
            f"unknown upstream {upstream_name!r}; {config_file} has {', '.join(known)}"
        )
    _refuse_dirty(repo)
    upstream = config.environment(upstream_name)
    folder = upstream.path if upstream.path.parts else PurePosixPath("environments", upstream_name)
    target = PurePosixPath("environments", name)
    made = overlay(upstream, name, request.mode, repo / folder, target)
    cluster_source = repo / "clusters" / upstream_name
    flux = (
        clusters(
            upstream,
            name,
            source=cluster_source,
            target=PurePosixPath("clusters", name),
            folder=str(folder),
            overlay_folder=target,
        )
        if cluster_source.is_dir()
        else None
    )
    before = config_file.read_bytes()
    entry = promotion_entry(
        before,
        str(config_file),
        upstream=upstream,
        name=name,
        mode=request.mode,
        soak=request.soak,
    )
    new_files = made.files + (flux.files if flux else ())
    gate = _validate(repo, name, upstream_name, new_files, entry.data)
    return EnvPlan(
        request=request,
        new_files=new_files,
        config_before=before,
        config_after=entry.data,
        soak=entry.soak,
        soak_origin=entry.soak_origin,
        namespace=made.namespace,
        identities=made.identities,
        left_out=flux.left_out if flux else (),
        has_clusters=flux is not None,
        gate=gate,
        owners=upstream.reviewers,
    )


def _refuse_dirty(repo: Path) -> None:
    """promotion.yaml must be as committed: its new bytes are derived from the file, and a
    `--commit` would otherwise sweep a person's unfinished edit into the commit."""
    try:
        git = pygit2.Repository(str(repo))
    except pygit2.GitError:
        return  # not a git checkout: nothing to be dirty against (`--commit` refuses it)
    try:
        flags = git.status_file(str(CONFIG_PATH))
    except KeyError:
        return
    if flags not in (pygit2.GIT_STATUS_CURRENT, pygit2.GIT_STATUS_IGNORED):
        raise ConfigError(
            f"{repo / CONFIG_PATH} has uncommitted changes; commit or stash them first"
        )


@contextmanager
def _mirror(repo: Path, files: dict[str, bytes]) -> Iterator[Path]:
    """A temporary tree that reads like `repo` with `files` written: symlinks to the
    checkout, with real folders only on the way to the new files."""
    with tempfile.TemporaryDirectory(prefix="nightshift-env-add-") as temp:
        root = Path(temp) / "repo"
        root.mkdir()
        for entry in repo.iterdir():
            if entry.name != ".git":
                (root / entry.name).symlink_to(entry.resolve())
        for path, data in files.items():
            here = root
            for part in PurePosixPath(path).parts[:-1]:
                here = here / part
                if here.is_symlink():
                    source = here.resolve()
                    here.unlink()
                    here.mkdir()
                    for child in source.iterdir():
                        (here / child.name).symlink_to(child.resolve())
                elif not here.exists():
                    here.mkdir()
            out = root / path
            if out.is_symlink():
                out.unlink()
            out.write_bytes(data)
        yield root


def _validate(
    repo: Path, name: str, upstream: str, new_files: tuple[NewFile, ...], config: bytes
) -> GateResult:
    """The new promotion.yaml loads, and the new overlay passes the gate, or nothing is
    written. Both run on a mirror, so the checkout is untouched either way."""
    files = {f.path: f.data for f in new_files} | {str(CONFIG_PATH): config}
    with _mirror(repo, files) as root:
        try:
            loaded = load_config(root / CONFIG_PATH, shown_as=str(repo / CONFIG_PATH))
        except ConfigError as err:
            raise ConfigError(f"the new {CONFIG_PATH} would not load: {err}") from None
        if loaded.environment(name).upstream != upstream:
            raise BotError(f"the new {CONFIG_PATH} does not take {name} from {upstream}")
        gate = gate_environment(root, name, folder=PurePosixPath("environments", name))
    if not gate.ok:
        reason = gate.reason.replace(str(root), str(repo))
        raise BotError(f"refusing to add {name}: its overlay would not render: {reason}")
    return gate


def write(repo: Path, env_plan: EnvPlan) -> None:
    """All or nothing: each new folder is built beside its target and renamed into place,
    promotion.yaml is replaced last; on any failure what was moved is taken back."""
    folders: dict[Path, list[NewFile]] = {}
    for new in env_plan.new_files:
        parts = PurePosixPath(new.path).parts
        folders.setdefault(repo.joinpath(*parts[:2]), []).append(new)
    moved: list[Path] = []
    staged: list[Path] = []
    config = repo / CONFIG_PATH
    try:
        built: list[tuple[Path, Path]] = []
        for final, files in folders.items():
            temp = Path(tempfile.mkdtemp(prefix=f".{final.name}.env-add-", dir=final.parent))
            staged.append(temp)
            for new in files:
                out = temp.joinpath(*PurePosixPath(new.path).parts[2:])
                out.parent.mkdir(parents=True, exist_ok=True)
                out.write_bytes(new.data)
            temp.chmod(0o755)
            built.append((temp, final))
        fd, config_temp = tempfile.mkstemp(prefix=".promotion.yaml.", dir=config.parent)
        staged.append(Path(config_temp))
        with os.fdopen(fd, "wb") as stream:
            stream.write(env_plan.config_after)
        shutil.copymode(config, config_temp)
        for temp, final in built:
            if final.exists():
                raise BotError(f"{final} appeared while adding the environment; not writing")
            temp.rename(final)
            moved.append(final)
        Path(config_temp).replace(config)
    except BaseException:
        for final in moved:
            shutil.rmtree(final, ignore_errors=True)
        for temp in staged:
            if temp.is_dir():
                shutil.rmtree(temp, ignore_errors=True)
            else:
                temp.unlink(missing_ok=True)
        raise


def commit(repo: Path, env_plan: EnvPlan) -> str | None:
    """One commit, as the person running it, with every new file and promotion.yaml."""
    identity = person(repo)
    request = env_plan.request
    files = {f.path: f.data for f in env_plan.new_files} | {str(CONFIG_PATH): env_plan.config_after}
    change = ChangeSet(
        files=files,
        subject=f"{request.name}: add the environment, promoted from {request.upstream}",
        body=f"Made with `python -m bot env add {request.name} --from {request.upstream}"
        f" --mode {request.mode} --soak {env_plan.soak}`: the overlay and pins start as"
        f" {request.upstream}'s.",
        trailers=((ENV_ADD_TRAILER, request.name),),
    )
    with open_checkout(repo) as checkout:
        oid = checkout.commit(change, identity)
    return str(oid) if oid else None


def preview(env_plan: EnvPlan) -> str:
    """What would be written, as a unified diff (new files against /dev/null)."""
    chunks: list[str] = []
    for new in env_plan.new_files:
        chunks += difflib.unified_diff(
            [],
            new.data.decode("utf-8", errors="replace").splitlines(keepends=True),
            "/dev/null",
            f"b/{new.path}",
        )
    chunks += difflib.unified_diff(
        env_plan.config_before.decode().splitlines(keepends=True),
        env_plan.config_after.decode().splitlines(keepends=True),
        f"a/{CONFIG_PATH}",
        f"b/{CONFIG_PATH}",
    )
    return "".join(line if line.endswith("\n") else line + "\n" for line in chunks)


def summary(env_plan: EnvPlan) -> str:
    request = env_plan.request
    lines = [
        f"{request.name}: from {request.upstream}, mode {request.mode}, soak {env_plan.soak}"
        f" ({env_plan.soak_origin}), namespace {env_plan.namespace}",
        f"gate: {env_plan.gate.reason}",
    ]
    lines += [f"  {path}" for path in env_plan.paths]
    if not env_plan.has_clusters:
        lines.append(
            f"no clusters/{request.upstream}/ to derive from: write clusters/{request.name}/"
            " by hand if Flux syncs this repository"
        )
    lines += [f"not copied from clusters/{request.upstream}/: {what}" for what in env_plan.left_out]
    return "\n".join(lines) + "\n"


def hand_steps(env_plan: EnvPlan) -> str:
    """What only an operator can do, numbered, with the names filled in."""
    name = env_plan.request.name
    ns = env_plan.namespace
    steps = []
    for identity in env_plan.identities:
        steps.append(
            f"Workload identity: create the managed identity id-{ns}, federate it with"
            f" system:serviceaccount:{identity.namespace}:{identity.service_account} on"
            f' {name}\'s cluster, grant it "Storage Blob Data Reader" on the model store,'
            f" and put its client ID in {identity.file} (now {PLACEHOLDER_CLIENT_ID}, which"
            " gets no token) (docs/operator-runbook.md, section 2)."
        )
    owners = " ".join(f"@{o.removeprefix('@')}" for o in env_plan.owners) or "@your-org/team"
    steps += [
        f"CODEOWNERS: add `/environments/{name}/ {owners}`, so changes to {name}'s pins need"
        " those reviewers.",
        f"Branch protection: {name}'s "
        + (
            "direct commits need the bot in main's bypass list."
            if env_plan.request.mode == "direct"
            else "promotion PRs target main: its required reviews and checks apply to them."
        ),
    ]
    if env_plan.has_clusters:
        steps.append(
            f"Flux: create the secrets nightshift-git and github-commit-status on {name}'s"
            f" cluster, then `flux bootstrap github ... --path clusters/{name}`"
            " (docs/operator-runbook.md, section 4)."
        )
    return "to do by hand:\n" + "".join(f"  {i}. {s}\n" for i, s in enumerate(steps, 1))


# --- command line -------------------------------------------------------------------------


def handle(args: argparse.Namespace) -> int:
    """The `env add` command: refuse early, then write (or show) and print the steps."""
    from bot.durations import parse_duration

    if args.soak is not None:
        try:
            parse_duration(args.soak)
        except ValueError as err:
            raise ConfigError(f"--soak {args.soak!r}: expected {err}") from None
    if args.commit and args.dry_run:
        raise ConfigError("--commit and --dry-run exclude each other")
    repo = args.repo.resolve()
    if args.commit:
        person(repo)  # no identity or no repository: refuse before any work
    env_plan = plan(repo, EnvRequest(args.name, args.upstream, args.mode, args.soak))
    if args.dry_run:
        print(preview(env_plan), end="")
        print(summary(env_plan), end="")
        print("dry run: nothing written")
        return 0
    if args.commit:
        oid = commit(repo, env_plan)
        print(summary(env_plan), end="")
        print(f"committed {(oid or '')[:12]} (push it, or open a pull request)")
    else:
        write(repo, env_plan)
        print(summary(env_plan), end="")
        print("written; review with `git diff` and `git status`, then commit")
    print(hand_steps(env_plan), end="")
    return 0
