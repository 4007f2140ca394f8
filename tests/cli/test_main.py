"""The `rag` group itself: its help lists the commands, `python -m rag.cli` and the console script's `main` are one
command, and the help path loads no model."""

import subprocess
import sys

from tests.cli import rag


def test_help_lists_the_commands():
    result = rag("--help")
    assert result.returncode == 0
    for command in ("index", "search", "ask", "serve", "settings"):
        assert command in result.stdout


def test_help_loads_no_model_and_no_server():
    """`rag --help` (and every subcommand's) stays instant: the heavy modules load inside the commands that need them."""
    heavy = ("numpy", "torch", "sentence_transformers", "faiss", "onnxruntime", "bm25s", "uvicorn", "fastapi", "server", "tqdm")
    code = ("import sys\nfrom rag.cli import main\nsys.argv = ['rag', *sys.argv[1:]]\ntry:\n    main()\nexcept SystemExit:\n    pass\n"
            f"print(sorted(m for m in sys.modules if m.split('.')[0] in {heavy!r} or m in ('rag.assistant', 'rag.pipeline')))")
    for args in (["--help"], ["index", "build", "--help"], ["chat", "--help"], ["serve", "--help"]):
        done = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        assert done.stdout.rstrip().endswith("\n[]"), f"rag {' '.join(args)} imported {done.stdout.splitlines()[-1]}"


def test_the_console_script_runs_the_package_main():
    from importlib.metadata import entry_points

    import rag.cli

    [script] = [e for e in entry_points(group="console_scripts") if e.name == "rag"]
    assert script.value == "rag.cli:main" and script.load() is rag.cli.main
