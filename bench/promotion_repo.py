"""A large GitOps repository for the promotion benchmark, written with `git fast-import`.

`E` environments (`env00` … ) are overlays copied from this repository's `environments/dev`,
over its real `base-manifests/`. `env00` takes the newest versions; every other environment
takes what the one before it runs (`from:`), with soak 0. Odd environments are promoted by
pull request, even ones by direct commits; every tenth pins its model through an env file
(`envs:`), the others through `literals`.

The history is what years of nightly passes and people leave behind, `commits` commits in
all: bot promotions (direct commits with the bot's identity and trailers; for pull-request
environments a bot commit on a side branch merged by a reviewer), people pinning by hand,
people rolling a pin back, and people tuning the HPA patch. Historic versions are 1.x; what
the registry and model store hold is 2.x (2.0.0 … 2.E.0).

The last commits leave the estate *staggered*: env i runs 2.(E-1-i).0 of both the image and
the model, so env00 is one behind the newest and every environment is one behind its
upstream. A single pass then bumps every environment at once, each to what its upstream
runs now: the planner takes current state, not this pass's bumps, so with `from:` chains
this is the only way every environment moves in one pass without making all of them
`source: newest` (which would test the registry, not the chain).
"""

from __future__ import annotations

import hashlib
import random
import re
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BOT = ("Nightshift Bot", "nightshift-bot@users.noreply.github.com")
PEOPLE = (
    ("Dana Operator", "dana@example.com"),
    ("Sam Reviewer", "sam@example.com"),
    ("Lee Oncall", "lee@example.com"),
)
GITHUB = ("GitHub", "noreply@github.com")
ENV_FILE = "model-pin.env"
SPACING = timedelta(minutes=30)
SIDE_REF = "refs/heads/bench-side"


@dataclass(frozen=True)
class Layout:
    """What the generated repository looks like, and what each environment runs at the end."""

    environments: int
    image_ref: str  # newName: registry host / repository
    repository: str  # owner/name for pull requests
    registry_url: str
    image_repo: str
    store_url: str
    api_url: str
    requests_per_second: float | None = None  # None: the bot's default (20)

    def name(self, i: int) -> str:
        return f"env{i:02d}"

    def mode(self, i: int) -> str:
        return "pull-request" if i % 2 else "direct"

    def uses_env_file(self, i: int) -> bool:
        return i % 10 == 5

    def final_index(self, i: int) -> int:
        """env i ends at 2.(E-1-i).0: one behind its upstream, env00 one behind the newest."""
        return self.environments - 1 - i


def release(k: int) -> str:
    """The k-th version the registry and the model store hold."""
    return f"2.{k}.0"


def historic(j: int) -> str:
    return f"1.{j}.0"


def fake_digest(kind: str, version: str) -> str:
    return hashlib.sha256(f"{kind}:{version}".encode()).hexdigest()


@dataclass
class Pins:
    image: str
    image_digest: str
    model: str
    model_sha: str


# ---- file contents ----------------------------------------------------------------------


def _dev_files() -> dict[str, str]:
    folder = ROOT / "environments" / "dev"
    return {p.name: p.read_text() for p in sorted(folder.iterdir()) if p.is_file()}


def _kustomization_template(text: str) -> str:
    """dev's kustomization with its four pinned scalars (and newName) as format fields."""
    text = text.replace("{", "{{").replace("}", "}}")
    patterns = {
        r"(newName: )\S+": r"\1{image_ref}",
        r'(newTag: )"[^"]*"': r'\1"{tag}"',
        r"(digest: )sha256:[0-9a-f]{64}": r"\1sha256:{digest}",
        r"\n    literals:\n(      - MODEL_NAME=iris\n)      - MODEL_VERSION=\S+\n"
        r"      - MODEL_SHA256=[0-9a-f]{64}\n": r"\n{model_pin}",
    }
    for pattern, replacement in patterns.items():
        text, count = re.subn(pattern, replacement, text)
        if count != 1:
            raise RuntimeError(f"environments/dev/kustomization.yaml: {pattern!r} matched {count}")
    return text


class Files:
    """Renders one environment's files for given pins."""

    def __init__(self, layout: Layout) -> None:
        self.layout = layout
        dev = _dev_files()
        self.template = _kustomization_template(dev.pop("kustomization.yaml"))
        self.others = dev

    def kustomization(self, i: int, pins: Pins) -> bytes:
        if self.layout.uses_env_file(i):
            model_pin = f"    envs:\n      - {ENV_FILE}\n"
        else:
            model_pin = (
                "    literals:\n      - MODEL_NAME=iris\n"
                f"      - MODEL_VERSION={pins.model}\n      - MODEL_SHA256={pins.model_sha}\n"
            )
        text = self.template.format(
            image_ref=self.layout.image_ref,
            tag=pins.image,
            digest=pins.image_digest,
            model_pin=model_pin,
        )
        return re.sub(r"\bdev\b", self.layout.name(i), text).encode()

    def env_file(self, pins: Pins) -> bytes:
        return (
            "# The model this environment serves; the bot edits the values in place.\n"
            f"MODEL_NAME=iris\nMODEL_VERSION={pins.model}\nMODEL_SHA256={pins.model_sha}\n"
        ).encode()

    def pin_files(self, i: int, pins: Pins) -> dict[str, bytes]:
        folder = f"environments/{self.layout.name(i)}"
        files = {f"{folder}/kustomization.yaml": self.kustomization(i, pins)}
        if self.layout.uses_env_file(i):
            files[f"{folder}/{ENV_FILE}"] = self.env_file(pins)
        return files

    def hpa_patch(self, i: int, max_replicas: int) -> dict[str, bytes]:
        text = re.sub(
            r"maxReplicas: \d+", f"maxReplicas: {max_replicas}", self.others["hpa-patch.yaml"]
        )
        return {f"environments/{self.layout.name(i)}/hpa-patch.yaml": text.encode()}

    def bootstrap(self, pins: list[Pins]) -> dict[str, bytes]:
        files: dict[str, bytes] = {}
        for path in sorted((ROOT / "base-manifests").iterdir()):
            if path.is_file():
                files[f"base-manifests/{path.name}"] = path.read_bytes()
        for i, env_pins in enumerate(pins):
            folder = f"environments/{self.layout.name(i)}"
            for name, text in self.others.items():
                files[f"{folder}/{name}"] = re.sub(r"\bdev\b", self.layout.name(i), text).encode()
            files.update(self.pin_files(i, env_pins))
        files["environments/promotion.yaml"] = promotion_yaml(self.layout).encode()
        return files


def promotion_yaml(layout: Layout) -> str:
    envs = []
    for i in range(layout.environments):
        lines = [f"  - name: {layout.name(i)}"]
        if i == 0:
            lines.append("    source: newest")
        else:
            lines += [f"    from: {layout.name(i - 1)}", "    soak: 0m"]
        lines.append(f"    mode: {layout.mode(i)}")
        if layout.mode(i) == "pull-request":
            lines += [
                "    reviewers: [reviewer-alice]",
                f"    labels: [promotion, {layout.name(i)}]",
            ]
        envs.append("\n".join(lines))
    rate = ""
    if layout.requests_per_second is not None:
        rate = f"\n    requestsPerSecond: {layout.requests_per_second:g}"
    return f"""\
# Generated by bench/promotion_repo.py: {layout.environments} environments in one chain.
apiVersion: nightshift/v1
registries:
  local:
    type: oci
    url: {layout.registry_url}{rate}
images:
  model-api:
    registry: local
    repository: {layout.image_repo}
    policy:
      semver:
        range: ">=1.0.0"
models:
  iris:
    store: {layout.store_url}
    policy:
      semver:
        range: ">=1.0.0"
    gates:
      thresholds:
        - accuracy >= 0.8
      noRegression:
        - metric: accuracy
          tolerance: 0.05
          better: higher
environments:
{chr(10).join(envs)}
bundles:
  - name: serving
    image: model-api
    model: iris
git:
  branch: main
  author:
    name: {BOT[0]}
    email: {BOT[1]}
pullRequests:
  repository: {layout.repository}
  apiUrl: {layout.api_url}
  tokenEnv: NIGHTSHIFT_GITHUB_TOKEN
"""


# ---- history ----------------------------------------------------------------------------


@dataclass
class Commit:
    author: tuple[str, str]
    message: str
    files: dict[str, bytes]
    side: bool = False  # on the side branch; the next commit merges it
    merge: bool = False
    committer: tuple[str, str] | None = None


@dataclass
class EnvHistory:
    """One environment's pins as the history moves them (historic versions 1.j.0)."""

    image_j: int = 1
    model_j: int = 1
    newest: int = 1
    replicas: int = 2
    pins: Pins = field(default_factory=lambda: Pins("", "", "", ""))

    def set(self, image_j: int | None = None, model_j: int | None = None) -> None:
        if image_j is not None:
            self.image_j = image_j
        if model_j is not None:
            self.model_j = model_j
        self.newest = max(self.newest, self.image_j, self.model_j)
        tag, version = historic(self.image_j), historic(self.model_j)
        self.pins = Pins(tag, fake_digest("image", tag), version, fake_digest("model", version))


def _bot_message(env: str, moves: list[str]) -> str:
    body = "".join(f"- {m}\n  - promoted by the nightly pass\n" for m in moves)
    trailers = "".join(f"Nightshift-Change: {m.replace('→', '->')}\n" for m in moves)
    return f"{env}: {', '.join(moves)}\n\n{body}\nNightshift-Environment: {env}\n{trailers}"


def history(
    layout: Layout,
    files: Files,
    commits: int,
    releases: Mapping[str, tuple[str, str]],
    seed: int = 5,
) -> list[Commit]:
    """`commits` commits, oldest first, ending with the staggered final pins.

    `releases` maps each release version to its image digest and its model's sha256, as
    the registry and the model store report them.
    """
    rng = random.Random(seed)
    envs = [EnvHistory() for _ in range(layout.environments)]
    for state in envs:
        state.set(1, 1)
    out = [
        Commit(
            PEOPLE[0], "Bootstrap the GitOps repository\n", files.bootstrap([e.pins for e in envs])
        )
    ]
    finals = sum(2 if layout.mode(i) == "pull-request" else 1 for i in range(layout.environments))
    if commits < 1 + finals:
        raise ValueError(f"{layout.environments} environments need at least {1 + finals} commits")
    budget = commits - 1 - finals
    pull_requests = 0

    def bot(i: int, moves: list[str]) -> None:
        nonlocal budget, pull_requests
        name, change = layout.name(i), files.pin_files(i, envs[i].pins)
        message = _bot_message(name, moves)
        if layout.mode(i) == "pull-request":
            pull_requests += 1
            out.append(Commit(BOT, message, change, side=True))
            merge = (
                f"Merge pull request #{pull_requests} from nightshift/promote-{name}\n\n"
                f"{moves[0]}\n"
            )
            out.append(Commit(rng.choice(PEOPLE), merge, change, merge=True, committer=GITHUB))
            budget -= 2
        else:
            out.append(Commit(BOT, message, change))
            budget -= 1

    while budget > 0:
        i = rng.randrange(layout.environments)
        state, name = envs[i], layout.name(i)
        roll = rng.random()
        cost = 2 if layout.mode(i) == "pull-request" else 1
        if roll < 0.70 and budget >= cost:  # a nightly promotion: image, model, or both
            what = rng.choice(("image", "model", "both"))
            old_image, old_model = historic(state.image_j), historic(state.model_j)
            moves = []
            if what in ("image", "both"):
                state.set(image_j=state.newest + 1)
                moves.append(f"image model-api {old_image} → {historic(state.image_j)}")
            if what in ("model", "both"):
                state.set(model_j=state.newest + 1)
                moves.append(f"model iris {old_model} → {historic(state.model_j)}")
            bot(i, moves)
        elif roll < 0.78 and state.image_j > 1:  # a person rolls the image back one version
            old = historic(state.image_j)
            state.set(image_j=state.image_j - 1)
            message = f"{name}: pin model-api {old} → {historic(state.image_j)}\n\nRollback.\n"
            out.append(Commit(rng.choice(PEOPLE), message, files.pin_files(i, state.pins)))
            budget -= 1
        elif roll < 0.82:  # a person pins a newer model by hand
            old = historic(state.model_j)
            state.set(model_j=state.newest + 1)
            message = f"{name}: pin iris {old} → {historic(state.model_j)}\n"
            out.append(Commit(rng.choice(PEOPLE), message, files.pin_files(i, state.pins)))
            budget -= 1
        else:  # a person tunes the autoscaler: not a pin, but it touches the folder
            state.replicas = 2 + (state.replicas - 1) % 6
            message = f"{name}: maxReplicas {state.replicas}\n"
            out.append(Commit(rng.choice(PEOPLE), message, files.hpa_patch(i, state.replicas)))
            budget -= 1

    # The final pins: staggered, one release behind the upstream (see the module docstring).
    for i in rng.sample(range(layout.environments), layout.environments):
        state, version = envs[i], release(layout.final_index(i))
        moves = [
            f"image model-api {historic(state.image_j)} → {version}",
            f"model iris {historic(state.model_j)} → {version}",
        ]
        digest, sha256 = releases[version]
        state.pins = Pins(version, digest.removeprefix("sha256:"), version, sha256)
        bot(i, moves)
    assert len(out) == commits, (len(out), commits)
    return out


# ---- writing ----------------------------------------------------------------------------


def _data(payload: bytes) -> bytes:
    return b"data %d\n%s\n" % (len(payload), payload)


def fast_import_stream(commits: list[Commit], start: datetime) -> bytes:
    chunks: list[bytes] = []
    main_mark: int | None = None
    side_mark: int | None = None
    for n, commit in enumerate(commits, start=1):
        when = int((start + n * SPACING).timestamp())
        name, email = commit.author
        cname, cemail = commit.committer or commit.author
        ref = SIDE_REF if commit.side else "refs/heads/main"
        chunks.append(f"commit {ref}\nmark :{n}\n".encode())
        chunks.append(f"author {name} <{email}> {when} +0000\n".encode())
        chunks.append(f"committer {cname} <{cemail}> {when} +0000\n".encode())
        chunks.append(_data(commit.message.encode()))
        if main_mark is not None:
            chunks.append(f"from :{main_mark}\n".encode())
        if commit.merge:
            assert side_mark is not None
            chunks.append(f"merge :{side_mark}\n".encode())
        for path, payload in sorted(commit.files.items()):
            chunks.append(f"M 100644 inline {path}\n".encode() + _data(payload))
        chunks.append(b"\n")
        if commit.side:
            side_mark = n
        else:
            main_mark = n
    return b"".join(chunks)


def write_repository(bare: Path, commits: list[Commit], start: datetime) -> str:
    """Import `commits` into the bare repository; returns the id of main's tip."""
    stream = fast_import_stream(commits, start)
    subprocess.run(
        ["git", "--git-dir", str(bare), "fast-import", "--quiet"], input=stream, check=True
    )
    subprocess.run(["git", "--git-dir", str(bare), "update-ref", "-d", SIDE_REF], check=True)
    tip = subprocess.run(
        ["git", "--git-dir", str(bare), "rev-parse", "refs/heads/main"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return tip.stdout.strip()
