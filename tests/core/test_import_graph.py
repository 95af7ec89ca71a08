"""No import cycle inside alertcb/: the module-level import graph, computed from the source.

Only imports that run when a module is imported count: module-level statements,
including those under ``try``/``if``, but not ``if TYPE_CHECKING:`` blocks and not
imports inside functions (those are the deliberate lazy ones).
"""

from __future__ import annotations

import ast
from pathlib import Path

import alertcb

PACKAGE = Path(alertcb.__file__).parent


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _runtime_statements(body: list[ast.stmt]) -> list[ast.stmt]:
    out: list[ast.stmt] = []
    for node in body:
        if isinstance(node, ast.If):
            if "TYPE_CHECKING" in ast.unparse(node.test):
                out += _runtime_statements(node.orelse)
            else:
                out += _runtime_statements(node.body) + _runtime_statements(node.orelse)
        elif isinstance(node, ast.Try):
            out += _runtime_statements(node.body) + _runtime_statements(node.orelse)
            out += _runtime_statements(node.finalbody)
            for handler in node.handlers:
                out += _runtime_statements(handler.body)
        elif isinstance(node, (ast.With, ast.For, ast.While)):
            out += _runtime_statements(node.body)
        else:
            out.append(node)
    return out


def import_graph() -> dict[str, set[str]]:
    """alertcb module → the alertcb modules it imports at module level."""
    files = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in files.items():
        is_package = path.name == "__init__.py"
        edges: set[str] = set()
        for node in _runtime_statements(ast.parse(path.read_text(encoding="utf-8")).body):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = name.split(".")
                    anchor = anchor if is_package else anchor[:-1]
                    anchor = anchor[: len(anchor) - (node.level - 1)]
                    base = ".".join([*anchor, base] if base else anchor)
                targets = [base] + [f"{base}.{alias.name}" for alias in node.names]
            edges |= {t for t in targets if t in files and t != name}
        graph[name] = edges
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle as a list of modules (first == last), or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (found := visit(start)):
            return found
    return None


def test_the_graph_sees_real_edges() -> None:
    """Sanity: the parser finds known edges (so an empty graph cannot pass)."""
    graph = import_graph()
    assert "alertcb.errors" in graph["alertcb.config"]
    assert "alertcb.delivery.dispatcher" in graph["alertcb.notifier"]
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_no_import_cycle() -> None:
    """No module-level import cycle anywhere in alertcb/."""
    assert find_cycle(import_graph()) is None


#: Lazy imports (inside functions) that close a cycle on purpose, with the reason.
ALLOWED_LAZY_BACK_EDGES = {
    ("alertcb.config", "alertcb.notifier"): "the [alertcb] schema is Notifier.__init__'s signature",
}


def full_import_graph() -> dict[str, set[str]]:
    """Like `import_graph`, plus the imports inside functions (not ``if TYPE_CHECKING:``)."""
    files = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in files.items():
        edges: set[str] = set()

        def visit(node: ast.AST, name: str = name, edges: set[str] = edges) -> None:
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                for child in node.orelse:
                    visit(child)
                return
            if isinstance(node, ast.ImportFrom) and node.module and not node.level:
                edges.update(t for t in [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
                             if t in files and t != name)
            elif isinstance(node, ast.Import):
                edges.update(a.name for a in node.names if a.name in files and a.name != name)
            for child in ast.iter_child_nodes(node):
                visit(child)

        visit(ast.parse(path.read_text(encoding="utf-8")))
        graph[name] = edges
    return graph


def test_no_lazy_import_cycle_beyond_the_listed_ones() -> None:
    """Even counting imports inside functions, the only cycles are the listed, explained back-edges."""
    graph = full_import_graph()
    for (source, target), _reason in ALLOWED_LAZY_BACK_EDGES.items():
        assert target in graph[source], f"{source} -> {target} is gone: drop it from the list"
        graph[source].discard(target)
    assert find_cycle(graph) is None
