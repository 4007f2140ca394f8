# One command to set up and start the assistant, one to run the tests.
#   make run   -> .venv with pinned deps, index of docs_corpus/ built if missing, server on 127.0.0.1:8000
#   make test  -> .venv with pinned deps and the local language model server the `llm` tests start, then the whole
#                 test suite (what .ci/run runs)
.PHONY: setup setup-llm index run test

VENV := .venv/bin

setup:
	@bash scripts/setup.sh

setup-llm: setup
	@bash scripts/setup_llm.sh

index: setup
	@$(VENV)/rag index status >/dev/null 2>&1 || $(VENV)/rag index build

run: index
	$(VENV)/rag serve

test: setup-llm
	$(VENV)/python -m pytest -q
