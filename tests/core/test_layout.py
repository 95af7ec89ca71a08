"""The layout stays readable: no module over 400 lines, and docs/design.md names every subpackage."""

from __future__ import annotations

from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "alertcb"
MAX_LINES = 400
MODULES = sorted(PACKAGE.rglob("*.py"))


def test_there_are_modules() -> None:
    assert len(MODULES) > 50


@pytest.mark.parametrize("module", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_module_over_400_lines(module: Path) -> None:
    lines = len(module.read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_LINES, f"{module.relative_to(PACKAGE.parent)} has {lines} lines; split it by responsibility"


def test_tests_mirror_the_subpackages() -> None:
    tests = PACKAGE.parent / "tests"
    subpackages = sorted(p.name for p in PACKAGE.iterdir() if (p / "__init__.py").is_file())
    missing = [name for name in subpackages if name != "templates" and not (tests / name).is_dir()]
    assert not missing, f"no tests/<name>/ for alertcb subpackages {missing}"


def _map_paths() -> set[str]:
    """The module paths docs/design.md's map names (a tree indented two spaces a level)."""
    text = (PACKAGE.parent / "docs" / "design.md").read_text(encoding="utf-8")
    block = text.split("## Map (one line per module)", 1)[1].split("```", 2)[1]
    stack: list[str] = []
    paths: set[str] = set()
    for line in block.splitlines()[2:]:  # after the opening fence's newline and "alertcb/"
        if not line.strip():
            continue
        depth = (len(line) - len(line.lstrip(" "))) // 2 - 1
        name = line.split()[0]
        del stack[depth:]
        if name.endswith("/"):
            stack.append(name.rstrip("/"))
        elif name.endswith(".py"):
            paths.add("/".join([*stack, name]))
    return paths


def test_design_map_names_every_module() -> None:
    real = {str(p.relative_to(PACKAGE)) for p in MODULES}
    named = _map_paths()
    assert not real - named, f"docs/design.md's map misses {sorted(real - named)}"
    assert not named - real, f"docs/design.md's map names modules that do not exist: {sorted(named - real)}"
