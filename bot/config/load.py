"""Load `environments/promotion.yaml` into `bot.config.model` values, or say what is wrong.

Three steps, each in its own module: read the file within limits into data that remembers
its lines (`source`), hold the data to the schema (`validate`), then apply the rules a
schema cannot say while building the values (`build`). Every error is one line naming the
file, the line, the key path and what to write, e.g.

    environments/promotion.yaml:31: images.model-api.policy.semver.range: expected a semver
    range such as ^1.2 or '>=1.0.0 <2' (invalid semver range '^1.x.y.z')

Nothing runs on a bad config.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from bot.config.build import build, refuse_inline_secrets
from bot.config.model import Config
from bot.config.source import read_file, read_source
from bot.config.validate import check
from bot.errors import ConfigError

DEFAULT_PATH = Path("environments/promotion.yaml")


def load_config(path: Path | str = DEFAULT_PATH, *, shown_as: str | None = None) -> Config:
    """Read and validate the config file; any problem is a one-line ConfigError.

    `shown_as` is the name messages give the file when `path` is not one a person knows
    (a plan's export of the remote branch into a folder deleted after the pass).
    """
    origin = shown_as or str(path)
    text = read_file(Path(path), origin)
    return _with_trusted_keys(parse_config(text, origin=origin), Path(path).parent)


def parse_config(text: str, *, origin: str = "promotion.yaml") -> Config:
    source = read_source(text, origin)
    refuse_inline_secrets(source)
    check(source)
    return build(source)


def _with_trusted_keys(config: Config, folder: Path) -> Config:
    """Load every model's trusted public keys now: a bad key is a config error, not a
    failure at 2 a.m. Paths are relative to the config file's folder."""
    from modelstore.errors import ModelStoreError
    from modelstore.signing import load_trusted_keys

    models = dict(config.models)
    for name, spec in config.models.items():
        if spec.trust is None:
            continue
        try:
            keys = load_trusted_keys(folder / f for f in spec.trust.key_files)
        except ModelStoreError as err:
            raise ConfigError(f"{config.path}: models.{name}.trust.keys: {err}") from None
        models[name] = replace(spec, trust=replace(spec.trust, keys=keys))
    return replace(config, models=models)
