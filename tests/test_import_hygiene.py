"""Import hygiene: lazy optional dependencies, no star imports, imports flow downward only."""

import ast
import importlib.util
import json
import os
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PKG = os.path.join(REPO, "pointcept")
HEAVY = ("spconv", "flash_attn", "tensorboardX")

# subpackage -> the pointcept subpackages it may import (besides itself)
ALLOWED = {
    "utils": set(),
    "ops": {"utils"},
    "datasets": {"ops", "utils"},
    "models": {"ops", "utils"},
    "engines": {"models", "datasets", "ops", "utils"},
}


def loaded_after(module: str) -> list[str]:
    code = f"import sys, json, {module}; print(json.dumps(sorted(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": REPO},
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_datasets_import_no_heavy_or_model_modules():
    if importlib.util.find_spec("pointcept.datasets") is None:
        pytest.skip("pointcept.datasets does not exist yet")
    mods = loaded_after("pointcept.datasets")
    for heavy in HEAVY:
        assert not any(m == heavy or m.startswith(heavy + ".") for m in mods), heavy
    assert not any(m.startswith("pointcept.models") or m.startswith("pointcept.engines") for m in mods)


def test_engines_import_is_lazy():
    mods = loaded_after("pointcept.engines")
    assert "tensorboardX" not in mods
    assert not any(m.startswith(("pointcept.models", "pointcept.datasets")) for m in mods)


def module_files():
    for root, _, files in os.walk(PKG):
        for name in files:
            if name.endswith(".py"):
                path = os.path.join(root, name)
                yield os.path.relpath(path, REPO), path


def imported_modules(tree: ast.AST, module: str, is_package: bool) -> list[tuple[str, int]]:
    """Absolute names of every module imported (at any depth) by a file, with line numbers."""
    parts = module.split(".")
    package = parts if is_package else parts[:-1]
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(a.name, node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module
            out.append((name, node.lineno))
    return out


def test_no_star_imports_and_imports_flow_downward():
    problems = []
    for rel, path in module_files():
        tree = ast.parse(open(path).read(), filename=rel)
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and any(a.name == "*" for a in node.names):
                problems.append(f"{rel}:{node.lineno}: star import")
        module = rel[:-3].replace(os.sep, ".")
        is_package = module.endswith("__init__")
        module = module.removesuffix(".__init__")
        parts = module.split(".")
        if len(parts) < 2 or parts[1] not in ALLOWED:
            continue
        own = parts[1]
        for name, line in imported_modules(tree, module, is_package):
            target = name.split(".")
            if target[0] != "pointcept" or len(target) < 2 or target[1] == own:
                continue
            if target[1] not in ALLOWED[own]:
                problems.append(f"{rel}:{line}: pointcept.{own} must not import {name}")
    assert not problems, "\n".join(problems)


def test_ast_check_catches_violations():
    tree = ast.parse("from ..models import x\nfrom . import y\nimport pointcept.engines.trainer\n")
    names = [n for n, _ in imported_modules(tree, "pointcept.datasets.reader", is_package=False)]
    assert names == ["pointcept.models", "pointcept.datasets", "pointcept.engines.trainer"]
