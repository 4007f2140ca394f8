"""The library's layout stays true: every import in `rag/` runs from a later pipeline stage to an earlier one.

Stages, earliest first: the kernel's data types (`rag`, `config`, `errors`, `models`), `state` (the state database:
SQLite or PostgreSQL, migrations), `access` (keys, document groups, rate buckets, the audit trail: kernel and state
only, so every stage may apply a scope), `ingest`, `indexing`, `lifecycle` (what a
build's documents say about themselves: versions, reviews, references, conflicts), `search`, `answer`, `chat`, `generate` (a language model's answers, which implement chat's interfaces), the assistant
facade, `evaluate`, the workflows over them (`pipeline`, `tune`,
`progress`, `uploads`: documents added over HTTP and their background builds), then the front ends (the `rag/cli/` package and `server/`, which `rag serve` starts). A module may import its
own stage or an earlier one, never a later one, so only the CLI may import `server/`, and the server imports no CLI.
Imports inside functions count too: a lazy import is still a dependency.

Inside `rag/cli/`: `__init__.py` only builds the `rag` group from the command modules; each command module imports
`rag.cli.shared` and no other module of the CLI; `shared` imports none of them. The top level of `rag/` holds only
the kernel (config, errors, models, progress, the assistant facade, pipeline); everything else is a subpackage.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.conftest import ROOT

RAG = ROOT / "rag"
STAGES: tuple[tuple[str, ...], ...] = (
    ("rag", "rag.config", "rag.errors", "rag.models"),
    ("rag.state",),
    ("rag.access",),
    ("rag.ingest",),
    ("rag.indexing",),
    ("rag.lifecycle",),
    ("rag.search",),
    ("rag.answer",),
    ("rag.chat",),
    ("rag.generate",),
    ("rag.assistant",),
    ("rag.evaluate",),
    ("rag.pipeline", "rag.tune", "rag.progress", "rag.uploads"),
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
    assert stage_of("rag.cli.shared") == stage_of("rag.cli.chat") == stage_of("rag.cli") > stage_of("rag.assistant")
    assert stage_of("rag.answer.extractive") < stage_of("rag.chat.history") < stage_of("rag.assistant")
    assert stage_of("rag.chat.streaming") < stage_of("rag.generate.backend") < stage_of("rag.assistant")
    with pytest.raises(AssertionError, match="no stage"):
        stage_of("rag.dialogue")


CLI = RAG / "cli"
SHARED = "rag.cli.shared"
COMMAND_MODULES = sorted(p for p in CLI.glob("*.py") if p.name not in ("__init__.py", "__main__.py", "shared.py"))
KERNEL = {"__init__", "config", "errors", "models", "progress", "assistant", "pipeline"}


def cli_imports(path: Path) -> set[str]:
    """The modules of `rag.cli` (the package itself included) that a file imports."""
    return {name for _, name in imported_modules(path) if name == "rag.cli" or name.startswith("rag.cli.")}


def test_the_kernel_of_rag_holds_only_its_modules() -> None:
    assert {p.stem for p in RAG.glob("*.py")} == KERNEL, "a new top-level module of rag/ belongs in a subpackage"


def test_command_modules_import_the_shared_module_and_no_other_cli_module() -> None:
    assert {p.stem for p in COMMAND_MODULES} >= {"index", "ask", "chat", "eval", "tune", "keys", "feedback", "serve", "settings"}
    for path in COMMAND_MODULES:
        found = cli_imports(path)
        assert SHARED in found, f"{path.relative_to(ROOT)} should take its options and helpers from {SHARED}"
        assert found == {SHARED}, f"{path.relative_to(ROOT)} imports {sorted(found - {SHARED})}: share it through {SHARED}"


def test_the_shared_module_imports_no_command_module() -> None:
    assert not cli_imports(CLI / "shared.py"), "rag/cli/shared.py must not import the commands that import it"


def test_the_cli_package_only_builds_the_group() -> None:
    """`rag/cli/__init__.py`: imports of click and the command modules, the `cli` group, the loop that adds the
    commands, and `main`; no helper, class or option of its own. `__main__.py` only runs `main`."""
    init = CLI / "__init__.py"
    tree = ast.parse(init.read_text(encoding="utf-8"))
    functions = [node.name for node in tree.body if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))]
    assert functions == ["cli", "main"]
    assert not [node for node in tree.body if isinstance(node, ast.ClassDef)]
    modules = {name for _, name in imported_modules(init)}
    assert modules == {f"rag.cli.{p.stem}" for p in COMMAND_MODULES} | {SHARED}, "every command module, and only them"
    assert all(name == "click" for node in tree.body if isinstance(node, ast.Import) for name in (a.name for a in node.names))
    assert cli_imports(CLI / "__main__.py") == {"rag.cli"}


def test_nothing_outside_the_cli_imports_it() -> None:
    outside = [p for p in LIBRARY if CLI not in p.parents]
    found = {str(p.relative_to(ROOT)): sorted(cli_imports(p)) for p in outside if cli_imports(p)}
    assert not found, f"the library and the server import the CLI: {found}"
