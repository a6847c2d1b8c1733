"""The layout of `bot/` holds: stages import only the stages below them, and nothing cycles.

The order is the one `bot/__init__.py` documents. A module that reached up a layer (the
config importing a registry client, say) would tie a lower stage to a higher one, so a
change to discovery could break loading the config.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from devstack.procs import ROOT

BOT = ROOT / "bot"
# Lowest first. The shared modules at the top of `bot/` form the bottom layer.
LAYERS = (
    "shared",
    "policies",
    "config",
    "gitrepo",
    "edit",
    "discover",
    "plan",
    "forge",
    "write",
    "commands",
)
SHARED = {"bot", "bot.errors", "bot.durations", "bot.budget", "bot.inert"}
MAX_LINES = 400


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer_of(module: str) -> str:
    if module == "bot.__main__":
        return "commands"
    if module in SHARED:
        return "shared"
    return module.split(".")[1]


def bot_imports(path: Path) -> set[str]:
    """Every `bot.*` module this file imports, at the top or inside a function."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.split(".")[0] == "bot")
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module.split(".")[0] != "bot":
                continue
            for alias in node.names:
                sub = f"{node.module}.{alias.name}"
                is_module = (ROOT / Path(*sub.split("."))).with_suffix(".py").exists()
                found.add(sub if is_module else node.module)
    return found


MODULES = {module_name(p): p for p in sorted(BOT.rglob("*.py"))}


def test_every_package_is_a_known_layer() -> None:
    packages = {p.name for p in BOT.iterdir() if (p / "__init__.py").exists()}
    assert packages == set(LAYERS) - {"shared"}
    stray = {m for m in MODULES if m.count(".") == 1 and layer_of(m) not in LAYERS}
    assert not stray, f"modules outside any stage: {sorted(stray)}"


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_go_down_the_layers(module: str) -> None:
    rank = LAYERS.index(layer_of(module))
    upward = sorted(
        target for target in bot_imports(MODULES[module]) if LAYERS.index(layer_of(target)) > rank
    )
    assert not upward, f"{module} ({layer_of(module)}) imports from higher stages: {upward}"


def test_no_module_import_cycles() -> None:
    graph = {m: {t for t in bot_imports(p) if t in MODULES and t != m} for m, p in MODULES.items()}
    done: set[str] = set()
    path: list[str] = []

    def visit(node: str) -> None:
        if node in path:
            cycle = [*path[path.index(node) :], node]
            pytest.fail("import cycle: " + " -> ".join(cycle))
        if node in done:
            return
        path.append(node)
        for target in sorted(graph[node]):
            visit(target)
        path.pop()
        done.add(node)

    for module in sorted(graph):
        visit(module)


def test_every_package_says_what_its_stage_takes_and_gives() -> None:
    for init in sorted(BOT.rglob("__init__.py")):
        doc = ast.get_docstring(ast.parse(init.read_text())) or ""
        assert "Takes" in doc or "takes" in doc, f"{init.relative_to(ROOT)}: no 'takes'"
        assert "gives" in doc, f"{init.relative_to(ROOT)}: no 'gives'"


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_module_is_a_long_read(module: str) -> None:
    lines = len(MODULES[module].read_text().splitlines())
    assert lines <= MAX_LINES, f"{module} has {lines} lines; split it by concern"
