"""The public surface: one table of exports, one sorted __all__, every public object exported.

In the httpx style (``test_all_imports_are_exported``): the names the package really
offers are computed, not restated, and compared with ``__all__``.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import subprocess
import sys
import types
from pathlib import Path

import alertcb

PACKAGE = Path(alertcb.__file__).parent
#: Classes and functions that public modules define for use inside alertcb only.
INTERNAL = {
    "alertcb.errors": {"TransportError", "where"},
    "alertcb.events": {"clean_metrics", "json_number", "json_safe", "parse_number", "to_float", "valid_text",
                       "utf8_safe"},
    "alertcb.notifier": {"report_crash"},
    "alertcb.redact": {"ScrubFilter", "install_log_filter", "mask_password", "redact_url", "register", "scrub",
                       "scrub_known"},
}


def _sort_key(name: str) -> tuple[bool, str]:
    return (name.startswith("__"), name.casefold())


def test_all_is_sorted_and_matches_the_table() -> None:
    """__all__ is sorted (dunder last) and is exactly the export table plus __version__."""
    assert alertcb.__all__ == sorted(alertcb.__all__, key=_sort_key)
    assert sorted(alertcb.__all__, key=_sort_key) == sorted([*alertcb._EXPORTS, "__version__"], key=_sort_key)


def test_each_export_is_defined_where_the_table_says() -> None:
    """Every lazily exported name resolves to an object defined in (not re-imported by) its module."""
    for name, module in alertcb._EXPORTS.items():
        obj = getattr(alertcb, name)
        assert (name, module) == (name, obj.__module__)
        assert obj is getattr(importlib.import_module(module), name)


def test_every_public_object_of_a_public_module_is_exported() -> None:
    """Each module behind the table declares __all__; the union of those is alertcb.__all__, and every
    public class or function such a module defines is exported or explicitly internal."""
    modules = sorted(set(alertcb._EXPORTS.values()))
    assert modules == sorted(INTERNAL)
    union: set[str] = set()
    for name in modules:
        module = importlib.import_module(name)
        declared = set(module.__all__)
        union |= declared
        defined = {
            attr for attr, obj in vars(module).items()
            if not attr.startswith("_")
            and (inspect.isclass(obj) or inspect.isfunction(obj))
            and obj.__module__ == name
        }
        assert (name, sorted(defined - INTERNAL[name])) == (name, sorted(declared))
    assert union | {"__version__"} == set(alertcb.__all__)


def test_the_namespace_after_loading_everything_is_all() -> None:
    """Once every lazy name is loaded, the package's public non-module names are exactly __all__."""
    for name in alertcb.__all__:
        getattr(alertcb, name)
    present = {
        n for n, v in vars(alertcb).items()
        if (not n.startswith("_") or n == "__version__") and not isinstance(v, types.ModuleType)
    }
    assert present == set(alertcb.__all__)
    assert set(dir(alertcb)) >= present


def test_type_checking_imports_match_the_table() -> None:
    """The TYPE_CHECKING imports (what type checkers see) name the same objects as the table."""
    tree = ast.parse((PACKAGE / "__init__.py").read_text(encoding="utf-8"))
    seen: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for stmt in node.body:
                assert isinstance(stmt, ast.ImportFrom)
                seen.update({alias.name: str(stmt.module) for alias in stmt.names})
    assert seen == alertcb._EXPORTS


def test_unknown_attribute_is_an_attribute_error() -> None:
    try:
        alertcb.DeliveryError  # type: ignore[attr-defined]  # noqa: B018 - removed: never raised
    except AttributeError as exc:
        assert "DeliveryError" in str(exc)
    else:
        raise AssertionError("alertcb.DeliveryError still resolves")


def test_import_loads_neither_tensorflow_nor_heavy_modules() -> None:
    """`import alertcb` and even building a Notifier import no TensorFlow, Keras, matplotlib or httpx."""
    code = (
        "import sys, alertcb; n = alertcb.Notifier(run_dir=False, outbox=False); n.close(0);"
        "print(sorted(m for m in ('tensorflow', 'keras', 'tf_keras', 'matplotlib', 'httpx', 'jinja2',"
        " 'apscheduler') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "['jinja2']"  # the renderer is built with the Notifier; httpx only when sending
