"""What an environment runs: the pins in `environments/<env>/kustomization.yaml`.

Images are pinned in the kustomize `images:` list (name, newName, newTag, digest). The model
is pinned by the `configMapGenerator` named `model-pin`, whose keys MODEL_NAME, MODEL_VERSION
and MODEL_SHA256 come from `literals` or from `envs` files. The file is parsed once into a
`Kustomization`, which knows both the pins and where each one is written, so the editor
(bot/edit/editor.py) can change them without parsing again.

Values are read the way kustomize reads them: literals lose one pair of matching surrounding
quotes; env-file lines lose leading whitespace and a trailing CR, and keep everything else.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Literal

from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from bot.edit.yamlpatch import Document, Field, deref, fields, kind_of, parse, scalar_text
from bot.errors import ManifestError

KUSTOMIZATION_NAMES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
MODEL_PIN_GENERATOR = "model-pin"
MODEL_KEYS = ("MODEL_NAME", "MODEL_VERSION", "MODEL_SHA256")
IMAGE_FIELDS = ("name", "newName", "newTag", "digest")
_ENV_KEY = re.compile(r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")


@dataclass(frozen=True)
class ImagePin:
    """One entry of the kustomize `images:` list; None means the field is not set."""

    name: str
    new_name: str | None = None
    new_tag: str | None = None
    digest: str | None = None

    @property
    def repository(self) -> str:
        return self.new_name or self.name

    @property
    def reference(self) -> str:
        """The image reference kustomize renders: `repo:tag@digest`, parts as pinned."""
        tag = f":{self.new_tag}" if self.new_tag else ""
        digest = f"@{self.digest}" if self.digest else ""
        return f"{self.repository}{tag}{digest}"


@dataclass(frozen=True)
class ModelPin:
    """The `model-pin` ConfigMap generator. `form` tells where MODEL_VERSION is written."""

    name: str
    version: str
    sha256: str
    form: Literal["literals", "envs"]
    env_file: str | None = None  # relative to the environment folder, for the envs form


@dataclass(frozen=True)
class EnvironmentPins:
    env: str
    kustomization: str  # the file the pins were read from, for messages
    images: tuple[ImagePin, ...]
    model: ModelPin | None

    def image(self, name: str) -> ImagePin:
        for pin in self.images:
            if pin.name == name:
                return pin
        known = ", ".join(pin.name for pin in self.images) or "none"
        raise ManifestError(f"{self.kustomization}: no image named {name!r} (images: {known})")


# --- where pins are written -----------------------------------------------------------


@dataclass(frozen=True)
class EnvEntry:
    """A `KEY=value` line of an env file; start/end delimit the value in the file's text."""

    key: str
    value: str
    line: int
    start: int
    end: int


@dataclass(frozen=True, eq=False)
class EnvFile:
    relpath: str
    source: str
    data: bytes
    text: str
    entries: tuple[EnvEntry, ...]


@dataclass(frozen=True, eq=False)
class ImageEntry:
    pin: ImagePin
    mapping: MappingNode
    fields: Mapping[str, Field]


@dataclass(frozen=True, eq=False)
class LiteralSite:
    """A `KEY=value` item of `literals:`; `quote` is the quote pair kustomize strips."""

    node: Node
    key: str
    value: str
    quote: str
    where: str


@dataclass(frozen=True, eq=False)
class EnvSite:
    env_file: EnvFile
    entry: EnvEntry

    @property
    def where(self) -> str:
        return f"{self.env_file.source}:{self.entry.line}"


ModelSite = LiteralSite | EnvSite


@dataclass(frozen=True, eq=False)
class ModelEntry:
    pin: ModelPin
    sites: Mapping[str, ModelSite]  # MODEL_NAME, MODEL_VERSION, MODEL_SHA256


@dataclass(frozen=True, eq=False)
class Kustomization:
    """A kustomization parsed once: its document, its pins, and where each pin is written."""

    document: Document
    images: tuple[ImageEntry, ...]
    model: ModelEntry | None
    filename: str = "kustomization.yaml"
    env_dir: Path | None = None

    @property
    def source(self) -> str:
        return self.document.source

    def image(self, name: str) -> ImageEntry:
        for entry in self.images:
            if entry.pin.name == name:
                return entry
        known = ", ".join(entry.pin.name for entry in self.images) or "none"
        raise ManifestError(f"{self.source}: no image named {name!r} (images: {known})")

    def pins(self, env: str) -> EnvironmentPins:
        return EnvironmentPins(
            env=env,
            kustomization=self.source,
            images=tuple(entry.pin for entry in self.images),
            model=self.model.pin if self.model else None,
        )


EnvFileReader = Callable[[str], tuple[str, bytes]]  # relpath -> (source for messages, bytes)


def find_kustomization(env_dir: Path) -> Path:
    found = [env_dir / name for name in KUSTOMIZATION_NAMES if (env_dir / name).is_file()]
    if not found:
        raise ManifestError(f"{env_dir}: no kustomization.yaml in this folder")
    if len(found) > 1:
        names = ", ".join(path.name for path in found)
        raise ManifestError(f"{env_dir}: more than one kustomization file ({names})")
    return found[0]


def load_kustomization(env_dir: Path) -> Kustomization:
    """Read and parse `env_dir`'s kustomization and the env files its model pin uses."""
    path = find_kustomization(env_dir)

    def read_env_file(relpath: str) -> tuple[str, bytes]:
        file = env_dir / relpath
        try:
            return str(file), file.read_bytes()
        except OSError as err:
            raise ManifestError(f"{path}: cannot read env file {relpath}: {err.strerror}") from None

    try:
        data = path.read_bytes()
    except OSError as err:
        raise ManifestError(f"{path}: cannot read: {err.strerror}") from None
    return parse_kustomization(
        data, source=str(path), read_env_file=read_env_file, filename=path.name, env_dir=env_dir
    )


def read_pins(repo: Path, env: str, path: PurePosixPath | str | None = None) -> EnvironmentPins:
    """The pins of `env` in the checkout at `repo`: at `path` (promotion.yaml's `path:`,
    repository-relative) when given, else at the default `environments/<env>`."""
    folder = PurePosixPath(path) if path is not None else PurePosixPath("environments", env)
    return load_kustomization(repo / folder).pins(env)


def parse_kustomization(
    data: bytes,
    *,
    source: str = "kustomization.yaml",
    read_env_file: EnvFileReader | None = None,
    filename: str = "kustomization.yaml",
    env_dir: Path | None = None,
    skip_env_files: bool = False,
) -> Kustomization:
    """Parse a kustomization and the env files its model pin reads (through `read_env_file`).

    `skip_env_files` is for a caller that reads the env files on its own (the history walk
    sees one file at a time): their entries are left out, and a model pin that needs them
    is None; the images and a literals-only model pin are read as usual.
    """
    document = parse(data, source)
    root = deref(document.root)
    if not isinstance(root, MappingNode):
        raise document.error(document.root, "a kustomization must be a mapping")
    top = fields(document, root)
    images = _images(document, top.get("images"))
    model = _model(document, top.get("configMapGenerator"), read_env_file, skip_env_files)
    return Kustomization(
        document=document, images=images, model=model, filename=filename, env_dir=env_dir
    )


def _sequence(doc: Document, field: Field | None, what: str) -> list[Node]:
    if field is None:
        return []
    node = deref(field.value)
    if isinstance(node, ScalarNode) and node.tag == "tag:yaml.org,2002:null":
        return []
    if not isinstance(node, SequenceNode):
        raise doc.error(field.value, f"{what} must be a list, not a {kind_of(node)}")
    return list(node.value)


def _images(doc: Document, field: Field | None) -> tuple[ImageEntry, ...]:
    entries: list[ImageEntry] = []
    seen: dict[str, Node] = {}
    for item in _sequence(doc, field, "images"):
        mapping = deref(item)
        if not isinstance(mapping, MappingNode):
            raise doc.error(item, f"an images entry must be a mapping, not a {kind_of(mapping)}")
        entry_fields = fields(doc, mapping)
        values = {
            name: scalar_text(doc, entry_fields[name].value, f"images[].{name}")
            for name in IMAGE_FIELDS
            if name in entry_fields
        }
        name = values.get("name")
        if not name:
            raise doc.error(item, "an images entry has no name")
        if name in seen:
            raise doc.error(
                item,
                f"image {name!r} is listed twice (also at line {seen[name].start_mark.line + 1})",
            )
        seen[name] = item
        pin = ImagePin(
            name=name,
            new_name=values.get("newName"),
            new_tag=values.get("newTag"),
            digest=values.get("digest"),
        )
        entries.append(ImageEntry(pin=pin, mapping=mapping, fields=entry_fields))
    return tuple(entries)


def _model(
    doc: Document,
    field: Field | None,
    read_env_file: EnvFileReader | None,
    skip_env_files: bool = False,
) -> ModelEntry | None:
    generators = []
    for item in _sequence(doc, field, "configMapGenerator"):
        mapping = deref(item)
        if not isinstance(mapping, MappingNode):
            raise doc.error(item, "a configMapGenerator entry must be a mapping")
        generator_fields = fields(doc, mapping)
        name_field = generator_fields.get("name")
        name = scalar_text(doc, name_field.value, "name") if name_field else None
        if name == MODEL_PIN_GENERATOR:
            generators.append((item, generator_fields))
    if not generators:
        return None
    if len(generators) > 1:
        lines = " and ".join(str(node.start_mark.line + 1) for node, _ in generators)
        raise ManifestError(f"{doc.source}: two {MODEL_PIN_GENERATOR} generators (lines {lines})")
    node, generator = generators[0]
    sites: dict[str, ModelSite] = {}

    def add(key: str, site: ModelSite) -> None:
        if key in MODEL_KEYS and key in sites:
            raise ManifestError(f"{site.where}: {key} is pinned twice (also at {sites[key].where})")
        sites[key] = site

    for item in _sequence(doc, generator.get("literals"), "literals"):
        site = _literal(doc, item)
        add(site.key, site)
    env_file_nodes = _env_file_nodes(doc, generator)
    if skip_env_files and env_file_nodes:
        missing = [key for key in MODEL_KEYS if key not in sites]
        if missing:
            return None  # the pin is (partly) in env files, which the caller reads itself
        env_file_nodes = []
    for relpath_node in env_file_nodes:
        relpath = _confined(doc, relpath_node)
        if read_env_file is None:
            raise doc.error(relpath_node, f"env file {relpath} cannot be read here")
        env_source, data = read_env_file(relpath)
        env_file = parse_env_file(data, relpath=relpath, source=env_source)
        for entry in env_file.entries:
            add(entry.key, EnvSite(env_file, entry))
    missing = [key for key in MODEL_KEYS if key not in sites]
    if missing:
        raise doc.error(node, f"the {MODEL_PIN_GENERATOR} generator has no {', '.join(missing)}")
    version_site = sites["MODEL_VERSION"]
    pin = ModelPin(
        name=_site_value(sites["MODEL_NAME"]),
        version=_site_value(version_site),
        sha256=_site_value(sites["MODEL_SHA256"]),
        form="envs" if isinstance(version_site, EnvSite) else "literals",
        env_file=version_site.env_file.relpath if isinstance(version_site, EnvSite) else None,
    )
    return ModelEntry(pin=pin, sites={key: sites[key] for key in MODEL_KEYS})


def _site_value(site: ModelSite) -> str:
    return site.entry.value if isinstance(site, EnvSite) else site.value


def _literal(doc: Document, item: Node) -> LiteralSite:
    text = scalar_text(doc, item, "a literal")
    key, equals, value = (text or "").partition("=")
    if not key or not equals:
        raise doc.error(item, f"literal {text!r} is not KEY=VALUE")
    quote = ""
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        quote, value = value[0], value[1:-1]
    return LiteralSite(node=item, key=key, value=value, quote=quote, where=doc.where(item))


def _env_file_nodes(doc: Document, generator: Mapping[str, Field]) -> list[Node]:
    nodes = _sequence(doc, generator.get("envs"), "envs")
    if "env" in generator:  # the deprecated single-file form kustomize still reads
        nodes.append(generator["env"].value)
    return nodes


def _confined(doc: Document, node: Node) -> str:
    """An env file path inside the environment folder: a shared file is not ours to edit."""
    relpath = scalar_text(doc, node, "an env file path") or ""
    normal = posixpath.normpath(relpath)
    if not relpath or posixpath.isabs(normal) or normal == ".." or normal.startswith("../"):
        raise doc.error(node, f"env file {relpath!r} must be inside the environment folder")
    return normal


def parse_env_file(data: bytes, *, relpath: str, source: str) -> EnvFile:
    """Parse `KEY=value` lines as kustomize does, remembering where each value is."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise ManifestError(f"{source}: not UTF-8 text (byte {err.start})") from None
    entries: list[EnvEntry] = []
    offset = 0
    for number, raw in enumerate(text.split("\n"), start=1):
        line_start, line_end = offset, offset + len(raw)
        offset = line_end + 1
        if raw.endswith("\r"):
            line_end -= 1
        line = text[line_start:line_end]
        if number == 1 and line.startswith("\ufeff"):
            line_start, line = line_start + 1, line[1:]
        stripped = line.lstrip()
        if not stripped or stripped.startswith("#"):
            continue
        key, equals, value = stripped.partition("=")
        if not _ENV_KEY.match(key):
            raise ManifestError(f"{source}:{number}: {key!r} is not a valid variable name")
        if not equals and key in MODEL_KEYS:
            raise ManifestError(f"{source}:{number}: {key} has no value (expected {key}=...)")
        value_start = line_end - len(value)
        entries.append(EnvEntry(key, value, number, value_start, line_end))
    return EnvFile(relpath=relpath, source=source, data=data, text=text, entries=tuple(entries))
