"""The layers of docs/architecture.md, read from the code's real imports.

Dependencies run one way: `olcs` plumbing <- `tenants` <- `catalog` <- `ingestion` <- `patrons`
<- the librarians' console and the URL wiring (`olcs.console`, `olcs.urls`, `olcs.apps`, the WSGI
and ASGI entry points), which may read every app. Every `import` counts, at the top of a module
or inside a function (a function-local import hides a cycle; it does not remove it).

KNOWN lists what still breaks the rule, each with why it is left: it must shrink, never grow.
The test fails on a new upward import or a new pair of modules importing each other, and also
when one in KNOWN is gone (so the list stays true).
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
APPS = ("olcs", "tenants", "catalog", "ingestion", "patrons")
TOP = ("olcs.urls", "olcs.console", "olcs.apps", "olcs.wsgi", "olcs.asgi")
ORDER = {"olcs": 0, "tenants": 1, "catalog": 2, "ingestion": 3, "patrons": 4}
CONSOLE = 5

# (importer, imported): upward imports not yet removed.
KNOWN_UPWARD: set[tuple[str, str]] = set()
# Pairs of modules that import each other, not yet untangled.
KNOWN_MUTUAL: set[frozenset[str]] = set()


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def layer(module: str) -> int | None:
    if any(module == top or module.startswith(top + ".") for top in TOP):
        return CONSOLE
    return ORDER.get(module.split(".")[0])


def project_modules() -> dict[str, Path]:
    modules = {}
    for app in APPS:
        for path in (ROOT / app).rglob("*.py"):
            modules[module_name(path)] = path
    return modules


def imports_of(module: str, path: Path, known: set[str]) -> set[str]:
    """The project modules `module` imports (a name imported from a package counts as its module)."""
    found: set[str] = set()
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                prefix = ".".join([*base, node.module] if node.module else base)
            else:
                prefix = node.module or ""
            names = [prefix] + [f"{prefix}.{alias.name}" for alias in node.names]
        else:
            continue
        for name in names:
            while name and name not in known:
                name = name.rpartition(".")[0]
            if name and name != module:
                found.add(name)
    return found


def graph() -> dict[str, set[str]]:
    modules = project_modules()
    known = set(modules)
    return {module: imports_of(module, path, known) for module, path in modules.items()}


def test_dependencies_run_one_way():
    upward = {
        (importer, imported)
        for importer, targets in graph().items()
        for imported in targets
        if layer(importer) is not None and layer(imported) is not None and layer(imported) > layer(importer)
    }
    assert upward - KNOWN_UPWARD == set(), "new upward imports"
    assert KNOWN_UPWARD - upward == set(), "gone from the code: remove them from KNOWN_UPWARD"


def test_no_two_modules_import_each_other():
    edges = graph()
    mutual = {frozenset((a, b)) for a, targets in edges.items() for b in targets if a in edges.get(b, set())}
    assert mutual - KNOWN_MUTUAL == set(), "new pairs of modules that import each other"
    assert KNOWN_MUTUAL - mutual == set(), "untangled: remove them from KNOWN_MUTUAL"


def test_the_reader_sees_imports_inside_functions(tmp_path):
    """The check would be worthless if a function-local import slipped past it."""
    source = tmp_path / "probe.py"
    source.write_text("def f():\n    from catalog.models import Book\n    import patrons.pii\n")
    found = imports_of("tenants.probe", source, {"catalog.models", "patrons.pii", "catalog"})
    assert found == {"catalog.models", "patrons.pii"}
    assert layer("tenants.probe") < layer("catalog.models") < layer("patrons.pii") < layer("olcs.urls")
