"""The library's layout stays true: every import in `rag/` runs from a later pipeline stage to an earlier one.

Stages, earliest first: the kernel's data types (`rag`, `config`, `errors`, `models`), `access` (keys, document
groups, the audit trail: kernel only, so every stage may apply a scope), `ingest`, `indexing`,
`search`, `answer`, `chat`, `generate` (a language model's answers, which implement chat's interfaces), the assistant
facade, `evaluate`, the workflows over them (`pipeline`, `tune`,
`progress`), then the front ends (`cli`, `terminal` and `server/`, which `rag serve` starts). A module may import its
own stage or an earlier one, never a later one, so only the CLI may import `server/`, and the server imports no CLI.
Imports inside functions count too: a lazy import is still a dependency.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.conftest import ROOT

RAG = ROOT / "rag"
STAGES: tuple[tuple[str, ...], ...] = (
    ("rag", "rag.config", "rag.errors", "rag.models"),
    ("rag.access",),
    ("rag.ingest",),
    ("rag.indexing",),
    ("rag.search",),
    ("rag.answer",),
    ("rag.chat",),
    ("rag.generate",),
    ("rag.assistant",),
    ("rag.evaluate",),
    ("rag.pipeline", "rag.tune", "rag.progress"),
    ("rag.cli", "server"),
)


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def stage_of(module: str) -> int:
    """The stage of a module: the longest stage prefix that names it or a package above it."""
    best, best_len = -1, -1
    for rank, prefixes in enumerate(STAGES):
        for prefix in prefixes:
            below = prefix != "rag" and module.startswith(prefix + ".")  # `rag` itself is only the package's __init__
            if (module == prefix or below) and len(prefix) > best_len:
                best, best_len = rank, len(prefix)
    if best < 0:
        raise AssertionError(f"{module} belongs to no stage: add it to STAGES in tests/test_layout.py")
    return best


def imported_modules(path: Path) -> list[tuple[int, str]]:
    """(line, module) of every `rag` or `server` module the file imports, relative imports resolved."""
    package = module_name(path) if path.name == "__init__.py" else module_name(path).rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            found.append((node.lineno, base))
            found += [(node.lineno, f"{base}.{alias.name}") for alias in node.names if _is_module(f"{base}.{alias.name}")]
    return [(line, name) for line, name in found if name.split(".")[0] in ("rag", "server")]


def _is_module(dotted: str) -> bool:
    path = ROOT.joinpath(*dotted.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


LIBRARY = sorted(RAG.rglob("*.py")) + sorted((ROOT / "server").rglob("*.py"))


@pytest.mark.parametrize("path", LIBRARY, ids=lambda p: str(p.relative_to(ROOT)))
def test_imports_only_reach_earlier_stages(path: Path) -> None:
    own = stage_of(module_name(path))
    later = [f"line {line}: {name} ({STAGES[stage_of(name)][0]})" for line, name in imported_modules(path)
             if stage_of(name) > own or (name.split(".")[0] == "rag" and module_name(path).startswith("server")
                                          and name.startswith("rag.cli"))]
    assert not later, f"{path.relative_to(ROOT)} ({STAGES[own][0]}) imports from a later stage: " + "; ".join(later)


def test_every_subpackage_says_what_it_owns() -> None:
    for init in RAG.glob("*/__init__.py"):
        doc = ast.get_docstring(ast.parse(init.read_text(encoding="utf-8")))
        assert doc and "Owns" in doc and "Leaves" in doc, f"{init.relative_to(ROOT)} needs a docstring: what it owns and leaves"


def test_the_check_catches_a_later_stage_import() -> None:
    """The rule itself: ingest importing the assistant is refused, the assistant importing ingest is not."""
    assert stage_of("rag.assistant") > stage_of("rag.ingest.corpus")
    assert stage_of("rag.evaluate.calibration") > stage_of("rag.answer.abstention")
    assert stage_of("rag") == stage_of("rag.models") == 0
    assert stage_of("server.app") > stage_of("rag.pipeline") and stage_of("server.app") == stage_of("rag.cli")
    assert stage_of("rag.answer.extractive") < stage_of("rag.chat.history") < stage_of("rag.assistant")
    assert stage_of("rag.chat.streaming") < stage_of("rag.generate.backend") < stage_of("rag.assistant")
    with pytest.raises(AssertionError, match="no stage"):
        stage_of("rag.dialogue")
