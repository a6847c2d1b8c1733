"""A whole Nightshift estate on loopback: registry, model store, git origin and forge.

The promotion tests, the end-to-end test, the demo and the promotion benchmark all need the
same thing: a GitOps repository (this repo's real base manifests and environments) on a
git origin served over smart HTTP, a registry holding `model-api` images with OCI labels, a
model store on Azurite holding `iris` versions with cards, and the GitHub API fake over the
same bare repositories. `Estate` builds that from running services and knows how to add
image and model versions the way CI and data scientists would.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from devstack.azurite import Azurite
from devstack.githttp import GitOrigin
from devstack.github_fake import GitHubFake
from devstack.oci_push import push_image
from devstack.procs import ROOT
from devstack.registry import Registry

SERVING_API = "tabular/v1"
IMAGE = "model-api"
MODEL = "iris"
ENVIRONMENTS = ("dev", "staging", "prod")
BOT_EMAIL = "nightshift-bot@users.noreply.github.com"
PERSON = ("Dana Operator", "dana@example.com")
SEED_SOURCE = "https://github.com/nightshift-ai/model-api"

PROMOTION_YAML = """\
# Generated for a local estate: the same shape as environments/promotion.yaml, pointed at
# loopback services.
apiVersion: nightshift/v1
registries:
  local:
    type: oci
    url: {registry_url}
images:
  model-api:
    registry: local
    repository: {image_repo}
    policy:
      semver:
        range: ">=1.0.0"
models:
  iris:
    store: {store_url}
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
{model_trust}environments:
  - name: dev
    source: newest
    mode: direct
  - name: staging
    from: dev
    soak: {staging_soak}
    mode: pull-request
    reviewers: [reviewer-alice]
    labels: [promotion, staging]
  - name: prod
    from: staging
    soak: {prod_soak}
    mode: pull-request
    reviewers: [reviewer-alice]
    labels: [promotion, prod]
bundles:
  - name: serving
    image: model-api
    model: iris
schedule:
  at: "02:30"
  timezone: Europe/Amsterdam
git:
  branch: main
  author:
    name: Nightshift Bot
    email: {bot_email}
pullRequests:
  repository: {repository}
  apiUrl: {api_url}
  tokenEnv: NIGHTSHIFT_GITHUB_TOKEN
{dashboard}"""

DASHBOARD_TITLE = "Nightshift promotion dashboard"
DASHBOARD_LABEL = "nightshift-dashboard"
DASHBOARD_YAML = f"""\
dashboard:
  title: {DASHBOARD_TITLE}
  labels: [{DASHBOARD_LABEL}]
"""


def git(*args: str, cwd: Path, env: Mapping[str, str] | None = None) -> str:
    result = subprocess.run(
        ["git", *args], cwd=cwd, capture_output=True, text=True, check=False,
        env={**os.environ, **(env or {})},
    )  # fmt: skip
    if result.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)} failed: {result.stderr.strip()}")
    return result.stdout.strip()


def clock_env(now: datetime | None) -> dict[str, str]:
    """What a `python -m bot run --now T` needs besides the flag: the bot refuses a writing
    pass on a clock that is not the real one unless NIGHTSHIFT_ALLOW_NOW=1 says it is meant."""
    return {"NIGHTSHIFT_ALLOW_NOW": "1"} if now is not None else {}


def person_env() -> dict[str, str]:
    name, email = PERSON
    return {
        "GIT_AUTHOR_NAME": name,
        "GIT_AUTHOR_EMAIL": email,
        "GIT_COMMITTER_NAME": name,
        "GIT_COMMITTER_EMAIL": email,
    }


@dataclass
class Estate:
    registry: Registry
    azurite: Azurite
    origin: GitOrigin
    forge: GitHubFake
    repository: str  # owner/name, on the origin and the forge
    image_repo: str
    container: str
    workdir: Path
    staging_soak: str = "24h"
    prod_soak: str = "72h"
    # A public key PEM: promotion.yaml then trusts only models it signed (`trust:`).
    trusted_key: Path | None = None
    # Issue 17: promotion.yaml turns the promotion dashboard issue on. Off by default, so
    # the many tests on an estate see no issue traffic they did not ask for.
    dashboard: bool = False
    images: dict[str, str] = field(default_factory=dict)  # tag → digest
    models: dict[str, str] = field(default_factory=dict)  # version → sha256

    # ---- addresses and credentials ---------------------------------------------------------

    @property
    def store_url(self) -> str:
        return f"azure://{self.container}"

    @property
    def clone_url(self) -> str:
        return self.origin.repo_url(self.repository)

    def bot_env(self) -> dict[str, str]:
        """What the bot's process needs in its environment (as a Secret would provide)."""
        return {
            "NIGHTSHIFT_GIT_USERNAME": self.origin.username or "",
            "NIGHTSHIFT_GIT_TOKEN": self.origin.password or "",
            "NIGHTSHIFT_GITHUB_TOKEN": self.forge.token,
            "AZURE_STORAGE_CONNECTION_STRING": self.azurite.connection_string,
        }

    def bot_process_env(self, home: Path) -> dict[str, str]:
        """The whole environment of a `python -m bot` process, as its Deployment gives it.

        Nothing is inherited from the caller but PATH (git, kubectl): the repository URL,
        the Secret's tokens, and HOME on a scratch folder like the pod's read-only root
        filesystem forces. So a pass that works here does not lean on the caller's git
        config or credentials.
        """
        home.mkdir(parents=True, exist_ok=True)
        return {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(home),
            "LANG": "C.UTF-8",
            "PYTHONPATH": str(ROOT),
            "NIGHTSHIFT_REPO_URL": self.clone_url,
            **self.bot_env(),
        }

    # ---- what CI and data scientists do ----------------------------------------------------

    def push_image(self, tag: str, *, created: datetime | None = None) -> str:
        """Push `model-api:tag` as CI would, with OCI labels and the serving-API label."""
        revision = uuid.uuid5(uuid.NAMESPACE_URL, tag).hex[:40].ljust(40, "0")
        pushed = push_image(
            self.registry.url,
            self.image_repo,
            tag,
            created=created,
            labels={
                "org.opencontainers.image.source": SEED_SOURCE,
                "org.opencontainers.image.revision": revision,
                "org.opencontainers.image.version": tag,
                "io.nightshift.serving-api": SERVING_API,
            },
        )
        self.images[tag] = pushed.digest
        return pushed.digest

    def publish_model(
        self,
        version: str,
        *,
        seed: int = 7,
        metrics: Mapping[str, float] | None = None,
        sign_key: Path | None = None,
    ) -> str:
        """Train iris with `seed` and publish it (signed with `sign_key`, an EC private key
        PEM, when given); `metrics` overrides the held-out scores."""
        from examples.train import train
        from modelstore.store import open_store

        trained = train("iris", "logistic", seed)
        folder = Path(tempfile.mkdtemp(prefix=f"model-{version}-", dir=self.workdir))
        artifact = folder / "model.onnx"
        artifact.write_bytes(trained.onnx_bytes)
        env = {"AZURE_STORAGE_CONNECTION_STRING": self.azurite.connection_string}
        with open_store(self.store_url, environ=env) as store:
            card = store.publish(
                artifact,
                name=MODEL,
                version=version,
                metrics=dict(metrics if metrics is not None else trained.metrics),
                serving_api=SERVING_API,
                sign_key=sign_key,
            )
        self.models[version] = card.sha256
        return card.sha256

    # ---- the GitOps repository -------------------------------------------------------------

    def promotion_yaml(self) -> str:
        return PROMOTION_YAML.format(
            registry_url=self.registry.url,
            image_repo=self.image_repo,
            store_url=self.store_url,
            staging_soak=self.staging_soak,
            prod_soak=self.prod_soak,
            bot_email=BOT_EMAIL,
            repository=self.repository,
            api_url=self.forge.url,
            model_trust=(
                "    trust:\n      require: signed\n      keys: [trusted-keys/signer.pem]\n"
                if self.trusted_key is not None
                else ""
            ),
            dashboard=DASHBOARD_YAML if self.dashboard else "",
        )

    def seed(self, image_tag: str, model_version: str) -> Path:
        """Create the GitOps repo on the origin with every environment at these versions.

        It is this repository's real `base-manifests/` and environment overlays, with
        `promotion.yaml` pointed at the local services; the pins are set with `bot pin`'s
        editor, and the first commit is a person's, as a real bootstrap would be.
        """
        from bot.edit.change import bump_image, bump_model
        from bot.edit.editor import edit_environment
        from bot.edit.pins import load_kustomization

        self.origin.create_bare(self.repository)
        work = self.workdir / "seed"
        shutil.copytree(ROOT / "base-manifests", work / "base-manifests")
        for env in ENVIRONMENTS:
            shutil.copytree(ROOT / "environments" / env, work / "environments" / env)
            env_dir = work / "environments" / env
            kustomization = load_kustomization(env_dir)
            image = kustomization.image(IMAGE).pin
            assert kustomization.model is not None
            changes = bump_image(
                image,
                tag=image_tag,
                digest=self.images[image_tag],
                new_name=f"{self.registry.host}/{self.image_repo}",
            ) + bump_model(
                kustomization.model.pin,
                version=model_version,
                sha256=self.models[model_version],
            )
            edit_environment(env_dir, changes)
        (work / "environments" / "promotion.yaml").write_text(self.promotion_yaml())
        if self.trusted_key is not None:
            keys = work / "environments" / "trusted-keys"
            keys.mkdir()
            shutil.copyfile(self.trusted_key, keys / "signer.pem")
        git("init", "--quiet", "--initial-branch=main", cwd=work)
        git("add", "-A", cwd=work)
        git(
            "commit", "--quiet", "-m", "Bootstrap the GitOps repository", cwd=work, env=person_env()
        )
        url = self.origin.repo_url(self.repository, with_credentials=True)
        git("push", "--quiet", url, "main", cwd=work)
        return work

    def person_clone(self, name: str = "person") -> Path:
        """A person's clone of the GitOps repo, with their identity configured."""
        path = self.workdir / f"{name}-{uuid.uuid4().hex[:6]}"
        url = self.origin.repo_url(self.repository, with_credentials=True)
        git("clone", "--quiet", url, str(path), cwd=self.workdir)
        who, email = PERSON
        git("config", "user.name", who, cwd=path)
        git("config", "user.email", email, cwd=path)
        return path

    def origin_log(self, branch: str = "main") -> list[str]:
        """Subjects on the origin's `branch`, newest first."""
        bare = self.origin.repo_path(self.repository)
        out = git("log", "--format=%s", branch, cwd=bare)
        return out.splitlines()

    def dashboard_issues(self) -> list[dict[str, Any]]:
        """The dashboard issues on the forge (the bot's marker and label), oldest first."""
        from bot.write.dashboard import MARKER

        return [
            issue
            for issue in self.forge.issues(self.repository)
            if MARKER in (issue.get("body") or "")
            and DASHBOARD_LABEL in {label["name"] for label in issue["labels"]}
        ]

    def origin_file(self, path: str, branch: str = "main") -> str:
        bare = self.origin.repo_path(self.repository)
        return git("show", f"{branch}:{path}", cwd=bare)


def new_estate(
    registry: Registry,
    azurite: Azurite,
    origin: GitOrigin,
    forge: GitHubFake,
    workdir: Path,
    *,
    staging_soak: str = "24h",
    prod_soak: str = "72h",
    dashboard: bool = False,
) -> Estate:
    """An estate with fresh names, so several can share one set of services."""
    suffix = uuid.uuid4().hex[:8]
    return Estate(
        registry=registry,
        azurite=azurite,
        origin=origin,
        forge=forge,
        repository=f"nightshift/gitops-{suffix}",
        image_repo=f"nightshift-{suffix}/model-api",
        container=f"models{suffix}",
        workdir=workdir,
        staging_soak=staging_soak,
        prod_soak=prod_soak,
        dashboard=dashboard,
    )
