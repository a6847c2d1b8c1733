"""Current state from a real repository: what each environment runs, and since when."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from bot.plan.planner import PlanInput, plan
from bot.plan.state import read_states
from bot.plan.values import Artifact, Stage
from tests.bot.test_git_history import BOT_EMAIL, Repo, bot_message, hours

SHA = {n: f"{n}" * 64 for n in "abc"}
IMAGE, MODEL = Artifact("image", "model-api"), Artifact("model", "iris")


def newer(_artifact: Artifact, a: str, b: str) -> bool:
    return tuple(map(int, a.split("."))) > tuple(map(int, b.split(".")))


def files(form: str, tag: str, version: str, sha: str) -> dict[str, str]:
    """An environment pinning `model-api:tag` and iris `version`, in the model pin's form."""
    head = (
        f'images:\n- name: model-api\n  newTag: "{tag}"\nconfigMapGenerator:\n- name: model-pin\n'
    )
    pin = f"MODEL_NAME=iris\nMODEL_VERSION={version}\nMODEL_SHA256={sha}\n"
    if form == "literals":
        literals = "".join(f"  - {line}\n" for line in pin.splitlines())
        return {"environments/dev/kustomization.yaml": f"{head}  literals:\n{literals}"}
    return {
        "environments/dev/kustomization.yaml": f"{head}  envs:\n  - model.env\n",
        "environments/dev/model.env": pin,
    }


@pytest.mark.parametrize(
    "form",
    [
        pytest.param("literals", id="model-in-literals"),
        # The history walk reads one file at a time: the kustomization alone must still
        # yield its image pins, or the image has no `since` and nothing downstream moves.
        pytest.param("envs", id="model-in-env-file"),
    ],
)
def test_each_pin_is_dated_by_the_commit_that_set_it(tmp_path: Path, form: str) -> None:
    repo = Repo(tmp_path / "gitops")
    repo.commit(
        files(form, "1.0.0", "1.0.0", SHA["a"]), "seed", email="dana@example.com", at=hours(0)
    )
    image_bump = repo.commit(
        files(form, "1.1.0", "1.0.0", SHA["a"]),
        bot_message("dev", "dev: image model-api 1.0.0 → 1.1.0"),
        email=BOT_EMAIL,
        at=hours(1),
    )
    model_bump = repo.commit(
        files(form, "1.1.0", "1.2.0", SHA["b"]),
        bot_message("dev", "dev: model iris 1.0.0 → 1.2.0"),
        email=BOT_EMAIL,
        at=hours(2),
    )

    states = read_states(
        repo.path,
        [("dev", "environments/dev")],
        repo=repo.open(),
        bot_email=BOT_EMAIL,
        is_newer=newer,
    )

    dev = states["dev"]
    assert dev.error is None
    assert dev.running[IMAGE].version.value == "1.1.0"
    assert (dev.running[IMAGE].commit, dev.running[IMAGE].since) == (image_bump, hours(1))
    assert dev.running[MODEL].version.value == "1.2.0"
    assert (dev.running[MODEL].commit, dev.running[MODEL].since) == (model_bump, hours(2))


def image_only(env: str, tag: str, digest: str) -> dict[str, str]:
    text = f'images:\n- name: model-api\n  newTag: "{tag}"\n  digest: sha256:{digest}\n'
    return {f"environments/{env}/kustomization.yaml": text}


def test_a_re_pushed_tag_restarts_the_soak_downstream(tmp_path: Path) -> None:
    """Same tag, new digest: dev runs new content, so staging's soak counts from that commit.

    The walk used to compare tags only: the digest-only commit was invisible, dev's
    `since` stayed at the first 1.1.0 commit, and staging took the new digest at once.
    """
    repo = Repo(tmp_path / "gitops")
    repo.commit(
        {**image_only("dev", "1.0.0", "a" * 64), **image_only("staging", "1.0.0", "a" * 64)},
        "seed",
        email="dana@example.com",
        at=hours(0),
    )
    repo.commit(
        image_only("dev", "1.1.0", "b" * 64),
        bot_message("dev", "dev: image model-api 1.0.0 → 1.1.0"),
        email=BOT_EMAIL,
        at=hours(1),
    )
    repushed = repo.commit(
        image_only("dev", "1.1.0", "c" * 64),
        bot_message("dev", "dev: image model-api 1.1.0 → 1.1.0 (new digest)"),
        email=BOT_EMAIL,
        at=hours(30),
    )

    states = read_states(
        repo.path,
        [("dev", "environments/dev"), ("staging", "environments/staging")],
        repo=repo.open(),
        bot_email=BOT_EMAIL,
        is_newer=newer,
    )
    dev = states["dev"].running[IMAGE]
    assert (dev.version.value, dev.version.digest) == ("1.1.0", "sha256:" + "c" * 64)
    assert (dev.commit, dev.since) == (repushed, hours(30))
    assert states["dev"].rolled_back[IMAGE] == frozenset()

    # 31h after the first 1.1.0 but 1h after the new digest: staging (24h soak) waits.
    [staging] = plan(
        PlanInput(
            stages=[Stage("staging", "dev", timedelta(hours=24))],
            running={name: state.running for name, state in states.items()},
            offers={},
            now=hours(31),
            is_newer=newer,
        )
    )
    assert staging.bumps == ()
    [skip] = staging.skips
    assert skip.reason == "1.1.0 is soaking in dev: 1h of 1d"


def test_a_digest_only_repin_by_a_person_is_no_rollback(tmp_path: Path) -> None:
    """Rollbacks compare versions: moving 1.1.0 to other content is neither a rollback of
    1.1.0 nor a lift of an earlier one."""
    repo = Repo(tmp_path / "gitops")
    repo.commit(image_only("dev", "1.1.0", "a" * 64), "seed", email="dana@example.com", at=hours(0))
    repo.commit(image_only("dev", "1.0.0", "a" * 64), "roll back", email="dana@example.com",
                at=hours(1))  # fmt: skip
    repo.commit(image_only("dev", "1.0.0", "b" * 64), "rebuilt", email="dana@example.com",
                at=hours(2))  # fmt: skip
    states = read_states(
        repo.path, [("dev", "environments/dev")], repo=repo.open(), bot_email=BOT_EMAIL,
        is_newer=newer,
    )  # fmt: skip
    assert states["dev"].rolled_back[IMAGE] == frozenset({"1.1.0"})
    assert states["dev"].running[IMAGE].since == hours(2)
