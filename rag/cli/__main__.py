"""`python -m rag.cli`: the `rag` command, as the console script runs it."""

from rag.cli import main

main()
