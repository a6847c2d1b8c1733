"""Property: for random valid kustomizations (random quoting, flow or block entries, key
order, comments, indentation, anchors and aliases, CRLF, with or without a final newline)
and random pin changes,

- the output parses to the input with exactly the intended fields changed;
- every character outside the changed scalars (or, for an added or removed key, outside
  the entries that change) is identical and in the same order;
- `kubectl kustomize` renders the output, with the image references we expect.

The generator writes the text itself and records where each scalar and entry is, so the
byte check does not depend on the editor's own way of finding them.
"""

from __future__ import annotations

import copy
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.edit.change import Change
from bot.edit.editor import edit_bytes
from bot.edit.gate import find_kubectl
from tests.bot.test_edit_golden import BASE_IMAGES, make_repo

NAMES = ["model-api", "log-shipper", "cache", "sidecar"]
TRICKY_TAGS = ["1.10", "20240101", "true", "1e3", "yes", "n", "null", "0x1F", "1_000", "012"]
tags = st.one_of(
    st.sampled_from(TRICKY_TAGS),
    st.from_regex(r"\A[a-z0-9][a-z0-9._-]{0,12}\Z"),
    st.from_regex(r"\Av[0-9]\.[0-9]{1,2}\.[0-9]\Z"),
)
digests = st.binary(min_size=32, max_size=32).map(lambda b: "sha256:" + b.hex())
repositories = st.sampled_from(
    ["registry.local:5000/nightshift/model-api", "nightshiftacr.azurecr.io/team/app", "reg.io/a"]
)
versions = st.one_of(st.from_regex(r"\A[1-9]\.[0-9]\.[0-9]\Z"), st.integers(1, 999).map(str))
sha256s = st.binary(min_size=32, max_size=32).map(bytes.hex)
styles = st.sampled_from(["", "'", '"'])


def plain_is_safe(value: str) -> bool:
    """A conservative test-side rule for writing a plain scalar kustomize reads as text."""
    if value in ("y", "n", "yes", "no", "on", "off", "true", "false", "null"):
        return False
    return bool(re.fullmatch(r"[a-z][a-z0-9.:/_-]*", value)) or "=" in value


def quoted(value: str, style: str) -> str:
    if style == "" and plain_is_safe(value):
        return value
    if style == "'":
        return f"'{value}'"
    return f'"{value}"'


@dataclass
class Text:
    """Builds the file while recording spans: (image, field) scalars, entries, literals."""

    nl: str
    parts: list[str] = field(default_factory=list)
    pos: int = 0
    spans: dict[Any, tuple[int, int]] = field(default_factory=dict)

    def add(self, text: str) -> None:
        self.parts.append(text)
        self.pos += len(text)

    def scalar(self, key: Any, text: str) -> None:
        start = self.pos
        self.add(text)
        self.spans[key] = (start, self.pos)

    def result(self) -> str:
        return "".join(self.parts)


@dataclass(frozen=True)
class Case:
    text: str
    spans: dict[Any, tuple[int, int]]
    images: list[dict[str, str]]
    alias: tuple[str, str] | None  # (anchor image, alias image) sharing one newTag
    changes: list[Change]


@st.composite
def cases(draw: st.DrawFn) -> Case:
    nl = draw(st.sampled_from(["\n", "\r\n"]))
    indent = draw(st.sampled_from(["", "  "]))
    comments = draw(st.booleans())
    out = Text(nl)
    names = draw(st.lists(st.sampled_from(NAMES), min_size=1, max_size=4, unique=True))
    images: list[dict[str, str]] = []
    for name in names:
        image = {"name": name}
        if draw(st.booleans()):
            image["newName"] = draw(repositories)
        if draw(st.integers(0, 3)):
            image["newTag"] = draw(tags)
        if draw(st.booleans()):
            image["digest"] = draw(digests)
        images.append(image)
    tagged = [i for i, image in enumerate(images) if "newTag" in image]
    alias = None
    if len(tagged) >= 2 and draw(st.booleans()):
        first, second = tagged[0], tagged[1]
        images[second]["newTag"] = images[first]["newTag"]
        alias = (images[first]["name"], images[second]["name"])

    if comments:
        out.add(f"# generated kustomization{nl}")
    out.add(f"apiVersion: kustomize.config.k8s.io/v1beta1{nl}kind: Kustomization{nl}")
    out.add(f"resources:{nl}{indent}- ../../base-manifests{nl}images:{nl}")
    for image in images:
        name = image["name"]
        keys = draw(st.permutations(list(image)))
        flow = draw(st.booleans())
        if comments and draw(st.booleans()):
            out.add(f"{indent}# about {name}{nl}")
        entry_start = out.pos
        out.add(f"{indent}- " + ("{" if flow else ""))
        for number, key in enumerate(keys):
            if number:
                out.add(", " if flow else f"{nl}{indent}  ")
            out.add(f"{key}: ")
            value = image[key]
            if alias and key == "newTag" and name == alias[0]:
                out.add("&release ")
            if alias and key == "newTag" and name == alias[1]:
                out.scalar((name, key), "*release")
            else:
                out.scalar((name, key), quoted(value, draw(styles)))
            if not flow and comments and draw(st.booleans()):
                out.add(f"  # {key}")
        out.add("}" if flow else "")
        if flow and comments and draw(st.booleans()):
            out.add(" # flow entry")
        out.add(nl)
        out.spans[("entry", name)] = (entry_start, out.pos)

    version, sha = draw(versions), draw(sha256s)
    literals = ["MODEL_NAME=iris", f"MODEL_VERSION={version}", f"MODEL_SHA256={sha}"]
    out.add(f"configMapGenerator:{nl}{indent}- name: model-pin{nl}{indent}  literals:")
    flow_literals = draw(st.booleans())
    out.add(" [" if flow_literals else nl)
    for number, literal in enumerate(literals):
        if flow_literals:
            out.add(", " if number else "")
        else:
            out.add(f"{indent}    - ")
        out.scalar(("literal", literal.partition("=")[0]), quoted(literal, draw(styles)))
        out.add("" if flow_literals else nl)
    out.add("]" + nl if flow_literals else "")
    text = out.result()
    if draw(st.booleans()):
        text = text[: -len(nl)]  # no final newline

    changes: list[Change] = []
    for image in images:
        name = image["name"]
        if alias and name == alias[1] and draw(st.booleans()):
            pass  # sometimes only the anchor side changes
        elif draw(st.booleans()):
            changes.append(Change.image(name, "newTag", image.get("newTag"), draw(tags)))
        if draw(st.integers(0, 3)) == 0:
            changes.append(Change.image(name, "newName", image.get("newName"), draw(repositories)))
        digest_op = draw(st.sampled_from(["keep", "set", "remove"]))
        if digest_op == "set":
            changes.append(Change.image(name, "digest", image.get("digest"), draw(digests)))
        elif digest_op == "remove" and "digest" in image:
            changes.append(Change.image(name, "digest", image["digest"], None))
    if draw(st.booleans()):
        changes.append(Change.model("iris", "version", version, draw(versions)))
    if draw(st.booleans()):
        changes.append(Change.model("iris", "sha256", sha, draw(sha256s)))
    return Case(text, out.spans, images, alias, changes)


def intended(case: Case) -> Any:
    """The input's data with exactly the intended fields changed."""
    data = copy.deepcopy(yaml.safe_load(case.text))
    by_name = {entry["name"]: entry for entry in data["images"]}
    for change in case.changes:
        if change.kind == "image":
            entry = by_name[change.target]
            if change.new is None:
                entry.pop(change.field, None)
            else:
                entry[change.field] = change.new
    for change in case.changes:
        entry = by_name.get(change.target, {})
        asked = {c.field for c in case.changes if c.target == change.target}
        if change.field == "newTag" and change.new != change.old and "digest" not in asked:
            entry.pop("digest", None)  # a digest would keep pinning the old image
        if change.kind == "model":
            key = {"version": "MODEL_VERSION", "sha256": "MODEL_SHA256"}[change.field]
            pin = data["configMapGenerator"][0]
            pin["literals"] = [
                f"{key}={change.new}" if item.startswith(f"{key}=") else item
                for item in pin["literals"]
            ]
    return data


def changed_regions(case: Case, output_changes: list[Change]) -> list[tuple[int, int]]:
    """Where the output may differ: changed scalars, or whole entries that gain/lose keys."""
    regions = []
    for change in output_changes:
        if change.kind == "model":
            key = {"version": "MODEL_VERSION", "sha256": "MODEL_SHA256"}[change.field]
            regions.append(case.spans[("literal", key)])
            continue
        image = next(i for i in case.images if i["name"] == change.target)
        if change.new is None or change.field not in image:
            regions.append(case.spans[("entry", change.target)])
            continue
        regions.append(case.spans[(change.target, change.field)])
        if case.alias and change.field == "newTag" and change.target in case.alias:
            regions += [case.spans[(name, "newTag")] for name in case.alias]
    merged: list[tuple[int, int]] = []
    for start, end in sorted(set(regions)):
        if merged and start < merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = make_repo(tmp_path_factory.mktemp("property"))
    (root / "environments" / "prop").mkdir()
    return root


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(case=cases())
def test_edit_changes_exactly_the_intended_fields(case: Case, repo: Path) -> None:
    result = edit_bytes(case.text.encode(), case.changes)
    output = result.files[0].after.decode() if result.files else case.text

    assert yaml.safe_load(output) == intended(case)

    # Outside the changed regions, the text is the input's, character for character.
    regions = changed_regions(case, list(result.changes))
    cuts = [0, *(edge for region in regions for edge in region), len(case.text)]
    outside = [case.text[cuts[i] : cuts[i + 1]] for i in range(0, len(cuts), 2)]
    pattern = "(.*?)".join(re.escape(part) for part in outside)
    assert re.fullmatch(pattern, output, re.DOTALL), (case.text, output)
    assert ("\r\n" in output) == ("\r\n" in case.text)
    assert output.endswith(("\n", "\r\n")) == case.text.endswith(("\n", "\r\n"))

    env_file = repo / "environments" / "prop" / "kustomization.yaml"
    env_file.write_text(output, newline="")
    rendered = subprocess.run(
        [find_kubectl(), "kustomize", str(env_file.parent)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert rendered.returncode == 0, rendered.stderr
    for image in intended(case)["images"]:
        if image["name"] in BASE_IMAGES:
            reference = image.get("newName", image["name"])
            reference += f":{image['newTag']}" if image.get("newTag") else ""
            reference += f"@{image['digest']}" if image.get("digest") else ""
            assert f"image: {reference}\n" in rendered.stdout
