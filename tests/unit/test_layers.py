"""The domain imports only the standard library, pydantic and eventsourcing.domain (beyond import-linter)."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

DOMAIN = Path(__file__).parents[2] / "domain"
# orjson only turns values into bytes (the command digest): no I/O.
ALLOWED_THIRD_PARTY = {"pydantic", "orjson", "eventsourcing.domain", "domain"}


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def allowed(module: str) -> bool:
    top = module.split(".")[0]
    if top in sys.stdlib_module_names and top != "sqlite3":
        return True
    return any(module == prefix or module.startswith(prefix + ".") for prefix in ALLOWED_THIRD_PARTY)


def test_the_domain_imports_nothing_that_does_io() -> None:
    offending = {
        f"{path.name}: {module}"
        for path in DOMAIN.glob("*.py")
        for module in imported_modules(path)
        if not allowed(module)
    }
    assert set() == offending


def test_the_check_itself_refuses_an_io_import() -> None:
    assert not allowed("eventsourcing.persistence")
    assert not allowed("sqlite3")
    assert allowed("eventsourcing.domain")
