"""Architecture contracts (pyproject [tool.importlinter], specs/architecture.md): `lint-imports`
fails on a forbidden import; the compiled-kernel cache key covers every module it imports."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import grimp
import pytest

from nanobrag_torch.backends import compile_policy

ROOT = Path(__file__).resolve().parent.parent


def _lint(tree: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": "250", "PYTHONPATH": f"{tree / 'src'}{os.pathsep}{tree / 'kernels'}"}
    exe = shutil.which("lint-imports")
    cmd = [exe] if exe else [sys.executable, "-c", "import sys; from importlinter.cli import lint_imports_command; "
                                                   "sys.exit(lint_imports_command())"]
    return subprocess.run(cmd + ["--no-cache"], cwd=tree, env=env, capture_output=True, text=True)


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    """A copy of the sources and the project file, to inject imports into."""
    out = tmp_path_factory.mktemp("tree")
    for d in ("src", "kernels"):
        shutil.copytree(ROOT / d, out / d, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", out)
    return out


@pytest.mark.parametrize("module, line, contract", [
    ("src/nanobrag_torch/backends/torch_kernel.py", "from .. import settings", "Engines import nothing"),
    ("kernels/nanobrag_kernels/_math.py", "import nanobrag_torch.errors", "Kernels import nothing from src"),
    ("src/nanobrag_torch/models/beam.py", "from ..backends import torch_eager", "Models import no engine"),
    ("src/nanobrag_torch/physics/lattice.py", "from .. import precompute", "Layers from the command line"),
])
def test_a_forbidden_import_breaks_a_contract(tree, module, line, contract):
    assert _lint(tree).returncode == 0                      # the copy as it is keeps every contract
    path = tree / module
    original = path.read_text()
    path.write_text(original + f"\n{line}  # injected\n")
    try:
        result = _lint(tree)
    finally:
        path.write_text(original)
    assert result.returncode != 0
    broken = [ln for ln in result.stdout.splitlines() if ln.endswith("BROKEN")]
    assert len(broken) >= 1 and any(ln.startswith(contract) for ln in broken), result.stdout


def test_compiled_kernel_key_covers_every_module_it_imports(monkeypatch):
    graph = grimp.build_graph("nanobrag_torch")
    upstream = graph.find_upstream_modules("nanobrag_torch.backends.torch_kernel") | {
        "nanobrag_torch.backends.torch_kernel"}
    src = ROOT / "src"
    expected = {src.joinpath(*m.split(".")).with_suffix(".py") for m in upstream}
    expected = {p for p in expected if p.is_file()}
    files = set(compile_policy.kernel_sources())
    assert {p for p in files if p.name != "__init__.py"} == expected
    assert src / "nanobrag_torch" / "physics" / "vectors.py" in files
    identity = compile_policy._code_identity          # cached per process: clear to re-read
    identity.cache_clear()
    key = identity()
    read = Path.read_bytes
    for edited in files:
        monkeypatch.setattr(Path, "read_bytes", lambda p, e=edited: read(p) + (b"#" if p == e else b""))
        identity.cache_clear()
        assert identity() != key, edited
    monkeypatch.setattr(Path, "read_bytes", read)
    identity.cache_clear()
    assert identity() == key
