"""`rag.cli.shared`: the access a command acts with (`RAG_API_KEY`) and `--doc`/`--meta` as search filters."""

import click
import pytest

from rag.access.audit import AuditLog
from rag.assistant import Assistant
from rag.cli.shared import audited, key_access, parse_filters
from rag.errors import AuthError
from rag.search.retrieval import Filters
from tests.server.access_corpus import HR_WORD, build_with_keys


def test_a_cli_key_scopes_the_library_and_is_audited(settings, fake_embedder):
    keys = build_with_keys(settings, fake_embedder)
    staff = settings.replace(api_key=keys.staff)
    access = key_access(staff, "cli search")
    assistant = audited(Assistant(staff, embedder=fake_embedder), access)
    result = assistant.search(f"{HR_WORD} payroll records", 20, None, access)
    assert result.passages and all(p.chunk.doc_id != "hr/casework.md" for p in result.passages)
    assert [(r.key, r.route) for r in AuditLog(staff).tail()] == [("staffer", "cli search")]
    assert key_access(settings, "cli") is None
    with pytest.raises(AuthError):
        key_access(settings.replace(api_key="rag_nope"), "cli")


def test_doc_and_meta_become_filters_and_a_meta_without_a_value_is_a_usage_error():
    filters = parse_filters(("travel.txt",), (" owner = Finance Director ", "version=2.0=draft"))
    assert filters.doc_ids == ("travel.txt",) and dict(filters.metadata) == {"owner": "Finance Director", "version": "2.0=draft"}
    assert parse_filters((), ()) == Filters()
    with pytest.raises(click.BadParameter, match="'owner' is not KEY=VALUE"):
        parse_filters((), ("owner",))


def test_a_corpus_option_that_is_not_the_live_builds_corpus_is_refused_with_the_next_step(built, settings, tmp_path):
    from rag.cli.shared import query_settings
    from rag.errors import ConfigError

    assert query_settings(None, settings.index_dir).index_dir == settings.index_dir  # no --corpus: nothing to check
    assert query_settings(settings.corpus_dir, settings.index_dir).corpus_dir == settings.corpus_dir  # the live build's corpus
    other = tmp_path / "my_policies"
    other.mkdir()
    with pytest.raises(ConfigError) as caught:
        query_settings(other, settings.index_dir)  # was silently answered from the live build's documents
    message = caught.value.message
    assert f"--corpus {other}: the live build in {settings.index_dir} was made from {settings.corpus_dir.resolve()}" in message
    assert f"`rag index build --corpus {other} --index-dir INDEX`" in message and "--index-dir INDEX" in message
    assert query_settings(tmp_path / "missing", tmp_path / "no-index").index_dir == tmp_path / "no-index"  # no live build:
    # the command itself says there is no index, naming the build to run
