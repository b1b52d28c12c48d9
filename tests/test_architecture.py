"""The layers stay visible: imports point down, stages never read settings, no module grows too big.

    cli ─▶ app ─▶ engine ─▶ stages (audio, text, stt, tts, llm, tools)       bench ─▶ engine, stages, config
                  config (settings) is read by app, cli and bench only

Read from the source with ``ast`` (imports inside functions included), so a hidden edge cannot hide.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "voicecli"
STAGES = ("voicecli.audio", "voicecli.text", "voicecli.llm", "voicecli.tools", "voicecli.stt", "voicecli.tts")
UPPER = ("voicecli.app", "voicecli.cli", "voicecli.bench")
# Third-party packages that cost seconds or load a native library (which may be missing: the caller
# falls back): only these may be imported late.
HEAVY = {"faster_whisper", "ctranslate2", "llama_cpp", "piper", "onnxruntime", "sounddevice", "soxr", "matplotlib",
         "pywebrtc_audio"}


def _modules() -> dict[str, Path]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = path
    return out


MODULES = _modules()
MAX_LINES = 440  # "about 400": one concern per module; past this, split it


def _imports(path: Path) -> list[tuple[str, bool]]:
    """(imported module, at module level?) for every import in the file, ``TYPE_CHECKING`` blocks excluded."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: list[tuple[str, bool]] = []

    def visit(node: ast.AST, top: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                continue
            if isinstance(child, ast.Import):
                found.extend((a.name, top) for a in child.names)
            elif isinstance(child, ast.ImportFrom) and child.module and child.level == 0:
                found.extend((f"{child.module}.{a.name}" if f"{child.module}.{a.name}" in MODULES else child.module, top)
                             for a in child.names)
            inner = top and not isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            visit(child, inner)

    visit(tree, True)
    return found


def _under(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_point_down(module):
    path = MODULES[module]
    edges = [name for name, _ in _imports(path) if name.startswith("voicecli")]
    if _under(module, STAGES) or _under(module, ("voicecli.engine",)):
        bad = [e for e in edges if _under(e, UPPER) or e == "voicecli.config"]
        assert not bad, f"{module} (a stage or the engine) imports {bad}: settings flow down as plain values"
    if _under(module, STAGES):
        bad = [e for e in edges if _under(e, ("voicecli.engine",)) and e != "voicecli.engine.types"]
        assert not bad, f"{module} (a stage) imports the engine's internals {bad}; only engine.types is shared"
    if _under(module, ("voicecli.app",)):
        bad = [e for e in edges if _under(e, ("voicecli.cli", "voicecli.bench"))]
        assert not bad, f"{module} imports {bad}: the app never depends on the CLI or the benchmark"
    if _under(module, ("voicecli.bench",)):
        bad = [e for e in edges if _under(e, ("voicecli.cli",))]
        assert not bad, f"{module} imports {bad}"


@pytest.mark.parametrize("module", sorted(MODULES))
def test_late_imports_are_only_for_heavy_third_party_packages(module):
    late = [name for name, top in _imports(MODULES[module]) if not top]
    bad = [name for name in late if name.split(".")[0] not in HEAVY]
    assert not bad, f"{module} imports {bad} inside a function: import it at the top, where the edge is visible"


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_module_is_too_big(module):
    lines = len(MODULES[module].read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_LINES, f"{module} has {lines} lines: split it by concern"


def test_the_checker_sees_edges_inside_functions(tmp_path):
    sample = tmp_path / "m.py"
    sample.write_text("import os\n\ndef f():\n    from voicecli import config\n    import llama_cpp\n")
    assert _imports(sample) == [("os", True), ("voicecli.config", False), ("llama_cpp", False)]
