"""Build and run the serving image with buildah (vfs storage, chroot isolation), no Docker.

The Dockerfile's base is `python:3.11-slim-bookworm`, which cannot be pulled here, so the
tests assemble an equivalent base from Debian packages (debootstrap bookworm with python3
and python3-venv) and cache it in a buildah store keyed by the recipe's hash: later runs
reuse it, and buildah's layer cache reuses the dependency layers of the image itself.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from devstack.procs import ROOT, require_binary

SUITE = "bookworm"
MIRROR = "http://deb.debian.org/debian"
PACKAGES = ("python3", "python3-venv", "ca-certificates")
BASE_REPO = "localhost/nightshift/python-base"
# This machine reaches PyPI through a TLS-intercepting egress proxy; builds on the local base
# must trust the same roots as the host does. (python:3.11-slim needs no such thing.)
HOST_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")


def cache_dir() -> Path:
    """Where the buildah store lives between runs: NIGHTSHIFT_CACHE, /var/cache, ~/.cache."""
    configured = os.environ.get("NIGHTSHIFT_CACHE")
    if configured:
        return Path(configured)
    system = Path("/var/cache/nightshift")
    if os.access(system.parent, os.W_OK):
        return system
    return Path.home() / ".cache" / "nightshift"


@dataclass(frozen=True)
class Buildah:
    """buildah with a private vfs store, so tests never touch the machine's default store."""

    binary: str
    root: Path

    @classmethod
    def create(cls) -> Buildah:
        binary = require_binary("buildah", "apt-get install buildah")
        root = cache_dir() / "buildah"
        root.mkdir(parents=True, exist_ok=True)
        return cls(binary, root)

    def argv(self, *args: str) -> list[str]:
        return [
            self.binary,
            "--root", str(self.root / "storage"),
            "--runroot", str(self.root / "run"),
            "--storage-driver", "vfs",
            *args,
        ]  # fmt: skip

    def __call__(self, *args: str, timeout: float = 900) -> str:
        result = subprocess.run(
            self.argv(*args), capture_output=True, text=True, timeout=timeout, check=False
        )
        if result.returncode != 0:
            raise RuntimeError(
                f"buildah {args[0]} failed ({result.returncode}):\n{result.stdout}{result.stderr}"
            )
        return result.stdout

    def image_exists(self, ref: str) -> bool:
        result = subprocess.run(
            self.argv("inspect", "--type", "image", ref), capture_output=True, check=False
        )
        return result.returncode == 0

    def inspect(self, ref: str) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self("inspect", "--type", "image", ref))
        return data


def base_image_recipe() -> str:
    ca = hashlib.sha256(HOST_CA_BUNDLE.read_bytes()).hexdigest() if HOST_CA_BUNDLE.exists() else ""
    recipe = {"suite": SUITE, "mirror": MIRROR, "packages": PACKAGES, "ca": ca, "v": 1}
    return hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()[:16]


def python_base_image(buildah: Buildah) -> str:
    """A Debian bookworm image with python3.11 and venv, built once and cached by recipe."""
    ref = f"{BASE_REPO}:{base_image_recipe()}"
    if buildah.image_exists(ref):
        return ref
    debootstrap = require_binary(
        "debootstrap", "apt-get install debootstrap", extra_dirs=(Path("/usr/sbin"),)
    )
    with tempfile.TemporaryDirectory(prefix="rootfs-", dir=cache_dir()) as tmp:
        rootfs = Path(tmp) / "rootfs"
        subprocess.run(
            [debootstrap, "--variant=minbase", f"--include={','.join(PACKAGES)}",
             SUITE, str(rootfs), MIRROR],
            check=True, capture_output=True, timeout=900,
        )  # fmt: skip
        for junk in ("var/cache/apt/archives", "var/lib/apt/lists"):
            shutil.rmtree(rootfs / junk, ignore_errors=True)
        if HOST_CA_BUNDLE.exists():
            shutil.copyfile(HOST_CA_BUNDLE, rootfs / "etc/ssl/certs/ca-certificates.crt")
        container = buildah("from", "scratch").strip()
        try:
            buildah("copy", container, str(rootfs), "/")
            buildah(
                "config",
                "--env", "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                "--env", "LANG=C.UTF-8",
                "--env", "PIP_CERT=/etc/ssl/certs/ca-certificates.crt",
                "--cmd", "python3",
                container,
            )  # fmt: skip
            buildah("commit", "--rm", container, ref)
        except BaseException:
            subprocess.run(buildah.argv("rm", container), capture_output=True, check=False)
            raise
    return ref


def build_image(
    buildah: Buildah, base: str, tag: str, build_args: dict[str, str], target: str | None = None
) -> str:
    """`buildah build` of the Dockerfile from the repository root, as CI builds it.

    The context is the repository filtered by .dockerignore, exactly as CI's builder sees it,
    so a file the ignore list drops breaks this build as it would break CI's.
    """
    args = [arg for key, value in build_args.items() for arg in ("--build-arg", f"{key}={value}")]
    if target is not None:
        args += ["--target", target]
    buildah(
        "build",
        "--isolation", "chroot",
        "--layers",
        "--pull-never",
        "--build-arg", f"PYTHON_IMAGE={base}",
        *args,
        "-t", tag,
        "-f", str(ROOT / "Dockerfile"),
        str(ROOT),
        timeout=1800,
    )  # fmt: skip
    return tag


def build_serving_image(buildah: Buildah, base: str, tag: str, build_args: dict[str, str]) -> str:
    """The default target (the last stage), which is what CI ships as the serving image."""
    return build_image(buildah, base, tag, build_args)


def run_argv(
    buildah: Buildah,
    container: str,
    config: dict[str, Any],
    env: dict[str, str],
    mounts: dict[Path, str],
) -> list[str]:
    """`buildah run` of the image's own entrypoint, as its user, with its environment."""
    options = ["--isolation", "chroot", "--user", config["User"]]
    for key, value in env.items():
        options += ["--env", f"{key}={value}"]
    for source, target in mounts.items():
        options += ["--volume", f"{source}:{target}"]
    command = [*(config.get("Entrypoint") or []), *(config.get("Cmd") or [])]
    return buildah.argv("run", *options, container, "--", *command)


@dataclass(frozen=True)
class PathState:
    """What a write leaves on a path: its type and mode, owner, size and modification time.

    A directory's mtime moves when an entry is made or removed in it, so even a file that was
    written and deleted again shows up as a change to its folder.
    """

    mode: int
    uid: int
    gid: int
    size: int
    mtime_ns: int

    @classmethod
    def of(cls, path: Path) -> PathState:
        st = path.lstat()
        return cls(st.st_mode, st.st_uid, st.st_gid, st.st_size, st.st_mtime_ns)


def snapshot(rootfs: Path) -> dict[str, PathState]:
    """Every path in a container's root filesystem, keyed as the container sees it ("/tmp/x").

    Links are recorded, never followed. With vfs storage `buildah mount` is a plain folder and
    the run's own mounts (/proc, volumes) live in its private namespace, so this sees the
    container's layer alone.
    """
    states = {"/": PathState.of(rootfs)}
    for folder, dirs, files in os.walk(rootfs):
        for name in (*dirs, *files):
            path = Path(folder) / name
            states["/" + path.relative_to(rootfs).as_posix()] = PathState.of(path)
    return states


def changes(before: dict[str, PathState], after: dict[str, PathState]) -> dict[str, str]:
    """Each path that differs between two snapshots: "added", "removed" or "changed"."""
    found: dict[str, str] = {}
    for path in sorted(before.keys() | after.keys()):
        if path not in before:
            found[path] = "added"
        elif path not in after:
            found[path] = "removed"
        elif before[path] != after[path]:
            found[path] = "changed"
    return found


def outside(path: str, folders: tuple[str, ...]) -> bool:
    return not any(path == folder or path.startswith(folder + "/") for folder in folders)


@dataclass(frozen=True)
class HostProcess:
    """A process as /proc shows it: the container's processes are host processes under chroot."""

    pid: int
    argv: tuple[str, ...]
    uids: tuple[int, ...]  # real, effective, saved, filesystem
    gids: tuple[int, ...]


def _read_process(pid: int) -> HostProcess:
    status = Path(f"/proc/{pid}/status").read_text().splitlines()
    fields = dict(line.split(":", 1) for line in status if ":" in line)
    argv = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
    return HostProcess(
        pid,
        tuple(arg for arg in argv if arg),
        tuple(int(n) for n in fields["Uid"].split()),
        tuple(int(n) for n in fields["Gid"].split()),
    )


def descendants(pid: int) -> list[HostProcess]:
    """Every live process below `pid` (children, their children, ...)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            # The command name (field 2) may hold spaces and parentheses: split after it.
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue  # exited while we looked
        children.setdefault(ppid, []).append(int(entry.name))
    found: list[HostProcess] = []
    todo = list(children.get(pid, []))
    while todo:
        child = todo.pop()
        try:
            found.append(_read_process(child))
        except (OSError, KeyError):
            continue
        todo.extend(children.get(child, []))
    return found
