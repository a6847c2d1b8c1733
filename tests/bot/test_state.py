"""Current state from a real repository: what each environment runs, and since when."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.plan import Artifact
from bot.state import read_states
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
