"""End to end with the real packaged model: build docs_corpus/, ask, serve over real HTTP.

One index is built per test session (about half a minute on two cores) and
shared by these tests. Questions have answers a reader can check in
docs_corpus/; the asserted spans are the sentences or table rows that hold them.
"""

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from rag.assistant import Assistant
from rag.config import Settings
from rag.indexing import builds
from rag.indexing.embedding import SentenceTransformerEmbedder
from rag.indexing.passage_encoder import make_passage_embedder
from tests.conftest import ROOT
from tests.e2e_helpers import free_port, stop, wait_until_up

pytestmark = pytest.mark.model


@pytest.fixture(scope="session")
def real_settings(tmp_path_factory) -> Settings:
    index_dir = tmp_path_factory.mktemp("e2e") / "index"
    return Settings.from_env({}, corpus_dir=ROOT / "docs_corpus", index_dir=index_dir)


@pytest.fixture(scope="session")
def real_embedder() -> SentenceTransformerEmbedder:
    return SentenceTransformerEmbedder()


@pytest.fixture(scope="session")
def passage_embedder(real_settings):
    """What `rag index build` embeds with: the ONNX passage encoder, sentence vectors pooled from the chunk pass."""
    return make_passage_embedder(real_settings)


@pytest.fixture(scope="session")
def real_build(real_settings, passage_embedder):
    result = builds.build(real_settings, passage_embedder)
    builds.promote(real_settings.index_dir, result.build_id)
    return result


@pytest.fixture(scope="session")
def assistant(real_build, real_settings, real_embedder) -> Assistant:
    return Assistant(real_settings, embedder=real_embedder)


ANSWERABLE = [
    ("How long do we keep payroll records?", "records-retention-schedule.md", "Payroll records (pay, deductions", "6 years"),
    ("What is the maximum hotel rate per night in London?", "travel-and-expenses-policy.html", "London (within the M25)", "£220"),
    ("How quickly must staff report a suspected security incident?", "incident-response-procedure.html", "4.1 All staff must report", "within 1 hour"),
    ("What is the minimum password length for privileged accounts?", "access-control-standard.md", "4.2.1 Privileged accounts", "20 characters"),
    ("Within how many hours must the DPO notify the supervisory authority of a personal data breach?", "data-protection-policy.md", "10.3 Where a breach", "72 hours"),
    ("Who has to approve in advance a gift worth more than £500?", "gifts-and-hospitality-policy.md", "More than £500", "Head of Compliance"),
    ("How many internet users did China have last year?", "china-cybersecurity-2022.txt", "The number of internet users rose", "1.03 billion"),
    ("Which internet platform operators must pass a cybersecurity review before listing abroad?", "china-cybersecurity-2022.txt", "Under the Methods on Cybersecurity Review", "1 million users"),
]

UNANSWERABLE = [
    "How many days of annual leave do employees get each year?",  # a near miss (remote working's '20 working days')
    "Can I bring my dog to the office?",
    "What is the dress code for the office?",
]


@pytest.mark.parametrize("question, doc_id, quote_start, fact", ANSWERABLE)
def test_answers_cite_the_right_document_and_span(assistant, question, doc_id, quote_start, fact):
    answer = assistant.ask(question)
    assert not answer.abstained, answer.answer
    hits = [c for c in answer.citations if c.doc_id == doc_id and c.quote.lstrip("| ").startswith(quote_start.lstrip("| "))]
    assert hits, [(c.doc_id, c.quote[:60]) for c in answer.citations]
    assert fact in hits[0].quote and fact in answer.answer
    for citation in answer.citations:
        assert assistant.document(citation.doc_id).text[citation.start : citation.end] == citation.quote
        assert f"[{citation.n}]" in answer.answer


def test_clause_answers_carry_their_section(assistant):
    answer = assistant.ask("What is the minimum password length for privileged accounts?")
    citation = next(c for c in answer.citations if "20 characters" in c.quote)
    assert citation.section == "4. Authentication > 4.2 Privileged accounts > 4.2.1"
    assert citation.title == "Access Control Standard"


@pytest.mark.parametrize("question", UNANSWERABLE)
def test_a_question_the_corpus_does_not_answer_is_never_answered_confidently(assistant, question):
    answer = assistant.ask(question)
    assert answer.status in ("refused", "uncertain"), answer.answer
    if answer.abstained:  # "the documents do not answer", with the closest passages
        assert answer.citations == () and "do not answer" in answer.answer and answer.passages
    else:  # the clauses nearest it, offered as places to look, never as the answer
        assert answer.answer.startswith("These clauses may answer it") and answer.citations


@pytest.mark.parametrize("question, fact", [
    ("How long are whistleblowing case files kept?", "| Whistleblowing case files | 7 years |"),
    ("How long is CCTV footage kept?", "| CCTV footage | 30 days |"),
])
def test_a_policy_that_defers_to_the_retention_schedule_is_answered_from_it(assistant, question, fact):
    answer = assistant.ask(question)
    referred = [c for c in answer.citations if c.doc_id == "records-retention-schedule.md"]
    # the deferring clause is quoted (before or after the row it points to)
    assert any("Records Retention Schedule" in c.quote for c in answer.citations if c not in referred), answer.answer
    # the schedule's row is quoted, whether retrieval found it too or only the deferral brought it (passage_rank 0)
    assert any(c.quote.startswith(fact) for c in referred), answer.answer


PAGED = [  # PDF answers cite the page the fact is printed on (pages counted as a reader counts them)
    ("Who approves a donation or sponsorship of up to £1,000?", "anti-bribery-policy.pdf", 2, "Head of Department"),
    ("What action is required when an agent has no office, no staff and no website?", "anti-bribery-policy.pdf", 4,
     "Enhanced due diligence before any engagement"),
    ("How long can a door to a Zone 2 or Zone 3 area be held open before the alarm sounds?", "physical-security-policy.pdf", 2,
     "30 seconds"),
    ("When are uncollected print jobs deleted?", "physical-security-policy.pdf", 4, "24 hours"),
]

HEADED = [  # DOCX answers cite their heading path
    ("What is the maximum number of members of a Strictly Confidential site?", "data-classification-standard.docx",
     "4. Classification levels and labels > 4.3", "25"),
    ("Who may speak to the media about financial results?", "social-media-policy.docx",
     "4. Speaking for the Group > 4.1", "Chief Executive Officer or Chief Financial Officer"),
]


def _citing(answer, doc_id, fact):
    hits = [c for c in answer.citations if c.doc_id == doc_id and fact in c.quote]
    assert hits and fact in answer.answer, (answer.answer, [(c.doc_id, c.quote[:60]) for c in answer.citations])
    return hits[0]


@pytest.mark.parametrize("question, doc_id, page, fact", PAGED)
def test_pdf_answers_cite_the_right_page(assistant, question, doc_id, page, fact):
    citation = _citing(assistant.ask(question), doc_id, fact)
    assert citation.page == page and citation.to_dict()["pages"] == f"p. {page}"
    assert assistant.document(doc_id).text[citation.start:citation.end] == citation.quote


@pytest.mark.parametrize("question, doc_id, section, fact", HEADED)
def test_docx_answers_cite_their_heading(assistant, question, doc_id, section, fact):
    citation = _citing(assistant.ask(question), doc_id, fact)
    assert citation.section == section and citation.page is None


def test_a_named_clause_is_quoted_whole_from_the_named_policy(assistant):
    answer = assistant.ask("What does clause 6.4 of the anti-bribery policy say?")
    assert not answer.abstained and {c.doc_id for c in answer.citations} == {"anti-bribery-policy.pdf"}
    assert answer.citations[0].quote.startswith("6.4 The engagement of an intermediary") and answer.citations[0].page == 3
    assert "Chief Financial Officer" in answer.answer  # the clause's later sentences come too, in text order


def test_pdf_table_rows_answer_with_their_header_labels(assistant):
    answer = assistant.ask("Who approves a donation or sponsorship of more than £50,000?")
    citation = _citing(answer, "anti-bribery-policy.pdf", "Executive Committee")
    assert "Approver: Executive Committee" in answer.answer and citation.quote.startswith("More than £50,000")


def test_search_finds_the_seed_document(assistant):
    result = assistant.search("What fine was imposed on Didi Global?", k=3)
    assert result.passages[0].chunk.doc_id == "china-cybersecurity-2022.txt"
    assert "8 billion yuan" in result.passages[0].chunk.text


def test_every_chunk_round_trips_and_fits_the_window(real_build, real_embedder):
    from rag.indexing.store import LoadedIndex
    from rag.ingest.chunking import embedding_text

    index = LoadedIndex.load(real_build.folder)
    assert real_build.manifest["counts"]["chunks_over_window"] == 0
    counts = real_embedder.token_counts([embedding_text(c) for c in index.chunks])
    assert max(counts) <= real_embedder.window
    for chunk in index.chunks:
        assert index.documents[chunk.doc_id].text[chunk.start : chunk.end] == chunk.text
    seed = index.documents["china-cybersecurity-2022.txt"].text
    assert seed == (ROOT / "docs_corpus" / "china-cybersecurity-2022.txt").read_text(encoding="utf-8")


@pytest.mark.parametrize("dataset", ["obliqa", "policyqa"])
def test_shared_corpora_chunk_within_the_window(dataset, real_embedder):
    corpus_dir = ROOT.parent / "shared" / "data" / dataset / "corpus"
    if not corpus_dir.is_dir():
        pytest.skip(f"{corpus_dir} not present")
    from rag.indexing.chunks import chunk_corpus
    from rag.ingest.corpus import load_corpus

    corpus = load_corpus(corpus_dir)
    chunks, over = chunk_corpus(corpus, Settings.from_env({}), real_embedder)
    assert over == 0 and chunks
    texts = {d.doc_id: d.text for d in corpus.documents}
    assert all(texts[c.doc_id][c.start : c.end] == c.text for c in chunks)


def run_cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "rag.cli", *args], capture_output=True, text=True, env=env, timeout=300)


@pytest.fixture(scope="module")
def live_server(real_build, real_settings, tmp_path_factory):
    port = free_port()
    log_path = tmp_path_factory.mktemp("server") / "server.log"
    log = open(log_path, "wb")  # a file, not a pipe: a full pipe would stall the server's access log
    env = {**os.environ, "RAG_INDEX_DIR": str(real_settings.index_dir), "RAG_CORPUS_DIR": str(real_settings.corpus_dir),
           "RAG_STATE_DIR": str(log_path.parent / "state"),
           "RAG_THREADS": "1"}  # steady latency while the test process embeds on the other core
    proc = subprocess.Popen(
        [sys.executable, "-m", "rag.cli", "serve", "--port", str(port)], env=env, stdout=log, stderr=subprocess.STDOUT
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(f"{base}/readyz", proc, log_path, 180, "rag serve")
        yield base, env
    finally:
        stop(proc)
        log.close()


def test_real_server_answers_and_cli_json_is_the_same_object(live_server, real_build):
    base, env = live_server
    question = "How long do we keep payroll records?"
    body = httpx.post(f"{base}/v1/ask", json={"question": question}, timeout=60).json()
    assert body["build_id"] == real_build.build_id and not body["abstained"]
    cli = run_cli("ask", question, "--json", env=env)
    assert cli.returncode == 0, cli.stderr
    assert json.loads(cli.stdout) == body


def test_real_server_search_documents_and_errors(live_server):
    base, _ = live_server
    search = httpx.post(f"{base}/v1/search", json={"question": "clean desk", "k": 3}, timeout=60).json()
    assert len(search["passages"]) == 3
    first = search["passages"][0]
    doc = httpx.get(f"{base}/v1/documents/{first['doc_id']}", timeout=10).json()
    assert doc["text"][first["start"] : first["end"]] == first["text"]
    bad = httpx.post(f"{base}/v1/ask", json={"question": ""}, timeout=10)
    assert bad.status_code == 422 and bad.json()["error"]["type"] == "invalid_request"
    assert httpx.get(f"{base}/healthz", timeout=10).json() == {"status": "ok"}


def test_cli_search_json_matches_http(live_server):
    base, env = live_server
    payload = {"question": "remote working from abroad", "k": 4}
    body = httpx.post(f"{base}/v1/search", json=payload, timeout=60).json()
    cli = run_cli("search", payload["question"], "-k", "4", "--json", env=env)
    assert cli.returncode == 0, cli.stderr
    assert json.loads(cli.stdout) == body
    assert Path(env["RAG_INDEX_DIR"]).is_dir()


HOTELS = [  # a three-turn conversation about one policy: each follow-up only makes sense after the turn before
    ("What is the maximum hotel rate per night in London?", "London (within the M25) | £220"),
    ("and in other UK cities?", "£140"),
    ("what about elsewhere in Europe?", "Other European cities and towns | €170"),
]


def _cites(answer: dict, fact: str) -> bool:
    return any(c["doc_id"] == "travel-and-expenses-policy.html" and c["section"] == "6. Accommodation > 6.1" and fact in c["quote"]
               for c in answer["citations"])


def test_a_three_turn_conversation_over_http_cites_each_follow_up(live_server):
    base, _ = live_server
    conversation = httpx.post(f"{base}/v1/conversations", json={}, timeout=10).json()
    for n, (question, fact) in enumerate(HOTELS, 1):
        turn = httpx.post(f"{base}/v1/conversations/{conversation['id']}/messages", json={"question": question}, timeout=60).json()
        assert turn["n"] == n and not turn["answer"]["abstained"] and _cites(turn["answer"], fact), turn["answer"]["answer"]
    stored = httpx.get(f"{base}/v1/conversations/{conversation['id']}", timeout=10).json()
    assert [t["question"] for t in stored["turns"]] == [q for q, _ in HOTELS]


@pytest.mark.parametrize("stream", [False, True])
def test_the_openai_client_holds_the_conversation(live_server, stream):
    import openai

    base, _ = live_server
    client = openai.OpenAI(base_url=f"{base}/v1", api_key="unused", max_retries=0)
    messages: list[dict] = []
    for question, fact in HOTELS:
        messages.append({"role": "user", "content": question})
        if stream:
            chunks = list(client.chat.completions.create(model="policy-assistant", messages=messages, stream=True))
            assert all(c.choices for c in chunks)
            text, answer = "".join(c.choices[0].delta.content or "" for c in chunks), chunks[-1].model_extra["answer"]
        else:
            completion = client.chat.completions.create(model="policy-assistant", messages=messages)
            text, answer = completion.choices[0].message.content, completion.model_extra["answer"]
        assert text == answer["answer"] and _cites(answer, fact), text
        messages.append({"role": "assistant", "content": text})


def test_rag_chat_answers_follow_ups_in_the_terminal(live_server):
    _, env = live_server
    typed = "\n".join([q for q, _ in HOTELS] + ["/sources", "/quit"]) + "\n"
    result = subprocess.run([sys.executable, "-m", "rag.cli", "chat"], input=typed, capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("Sources:") == 4 and "Travel and Expenses Policy (travel-and-expenses-policy.html, 6. Accommodation > 6.1)" in result.stdout
    for _, fact in HOTELS:
        assert fact.split(" | ")[-1] in result.stdout
    as_json = subprocess.run([sys.executable, "-m", "rag.cli", "chat", "--json"], input=typed, capture_output=True, text=True, env=env,
                             timeout=300)
    answers = [json.loads(line) for line in as_json.stdout.splitlines() if '"answer"' in line]
    assert [a["question"] for a in answers] == [q for q, _ in HOTELS]
    assert all(_cites(a, fact) for a, (_, fact) in zip(answers, HOTELS))


def test_gate_refuses_a_worse_build_and_a_running_server_picks_up_a_good_one(live_server, real_build, real_settings, passage_embedder,
                                                                             tmp_path):
    """Runs last in this module: it changes the live build under the running server."""
    import shutil
    import threading

    from rag.pipeline import rebuild

    base, _ = live_server
    gold, gate = ROOT / "eval" / "gold" / "docs_corpus.jsonl", ROOT / "eval" / "gate.toml"
    statuses, build_ids, stop = [], [], threading.Event()

    def hammer():
        with httpx.Client(timeout=120) as client:
            while not stop.is_set():
                try:
                    response = client.post(f"{base}/v1/ask", json={"question": "How long do we keep payroll records?"})
                    statuses.append(response.status_code)
                    build_ids.append(response.json().get("build_id"))
                except httpx.HTTPError as exc:
                    statuses.append(repr(exc))
                time.sleep(0.05)

    worker = threading.Thread(target=hammer)
    worker.start()
    try:
        partial = tmp_path / "partial"
        shutil.copytree(real_settings.corpus_dir, partial)
        for name in ("records-retention-schedule.md", "travel-and-expenses-policy.html", "access-control-standard.md", "incident-response-procedure.html"):
            (partial / name).unlink()  # an operator's bad sync dropped four policies
        worse = rebuild(real_settings.replace(corpus_dir=partial), passage_embedder, gold, gate)
        assert not worse.promoted and any("retrieval.hit@10" in f for f in worse.decision.failures)
        assert builds.current_build_id(real_settings.index_dir) == real_build.build_id
        assert httpx.get(f"{base}/readyz", timeout=10).json()["build_id"] == real_build.build_id

        good = rebuild(real_settings, passage_embedder, gold, gate)
        assert good.promoted, good.decision.failures
        deadline = time.monotonic() + 60
        while httpx.get(f"{base}/readyz", timeout=10).json()["build_id"] != good.build_id:
            assert time.monotonic() < deadline, "server did not pick up the promoted build"
            time.sleep(0.2)
        seen_after = len(statuses)
        while len(statuses) < seen_after + 3 and time.monotonic() < deadline + 60:
            time.sleep(0.05)
    finally:
        stop.set()
        worker.join(60)
    assert statuses and set(statuses) == {200}
    assert set(build_ids) <= {real_build.build_id, good.build_id} and build_ids[-1] == good.build_id


def test_token_counts_are_real_lengths_not_the_tokenizer_files_padding(real_embedder):
    assert real_embedder.token_counts(["hello world", "word " * 300]) == [2, 300]


def test_rag_tune_trains_an_adapter_that_a_gated_build_and_then_questions_use(tmp_path, real_settings):
    """The real workflow, briefly: a build of a copy of docs_corpus, `rag tune` on the project's gold questions with a
    few seconds of training, then the candidate build with the adapter, gated on the held-out share."""
    corpus = tmp_path / "corpus"
    shutil.copytree(ROOT / "docs_corpus", corpus)
    env = {**os.environ, "RAG_CORPUS_DIR": str(corpus), "RAG_INDEX_DIR": str(tmp_path / "index"),
           "RAG_CACHE_DIR": str(real_settings.cache_folder)}  # the session's ONNX export and vectors
    assert run_cli("index", "build", "--no-gate", env=env).returncode == 0
    tuned = run_cli("tune", "--gold", str(ROOT / "eval" / "gold" / "docs_corpus.jsonl"), "--minutes", "0.15", env=env)
    folders = list((tmp_path / "index" / "adapters").iterdir())
    assert len(folders) == 1, tuned.stderr
    card = json.loads((folders[0] / "card.json").read_text())
    assert card["training_rows"] >= 40 and card["triples"] > 0 and card["trained"]["steps"] >= 1
    assert card["held_out_before"]["mrr@10"] > 0 and card["held_out_after"] is not None
    assert (folders[0] / "heldout.jsonl").read_text().count("\n") == card["held_out_rows"]
    manifest = json.loads((tmp_path / "index" / "builds" / card["build_id"] / "manifest.json").read_text())
    assert manifest["model"]["adapter_path"] == str(folders[0].resolve()) and manifest["gate"]["status"] in ("passed", "failed")
    assert (tuned.returncode == 0) == card["promoted"], tuned.stdout + tuned.stderr
    if card["promoted"]:  # questions are then embedded with the adapter the live build was made with
        live = Assistant(Settings.from_env({}, corpus_dir=corpus, index_dir=tmp_path / "index",
                                           cache_dir=str(real_settings.cache_folder)))
        assert live.snapshot.retriever.embedder.adapter == manifest["model"]["adapter"]
        assert not live.ask("How long do we keep payroll records?").abstained


@pytest.fixture(scope="module")
def milvus_settings(real_settings, real_build, tmp_path_factory) -> Settings:
    """docs_corpus/ copied to a temporary folder, its builds' vectors in a Milvus Lite file there (the embedding cache of
    the FAISS build reused, so only the store differs)."""
    root = tmp_path_factory.mktemp("e2e-milvus")
    shutil.copytree(ROOT / "docs_corpus", root / "corpus")
    return real_settings.replace(corpus_dir=root / "corpus", index_dir=root / "index", vector_store="milvus",
                                 milvus_uri=str(root / "milvus.db"), cache_dir=str(real_settings.cache_folder))


def test_on_milvus_a_build_answers_as_on_faiss_is_promoted_and_rolled_back(milvus_settings, passage_embedder, real_embedder,
                                                                           assistant):
    first = builds.build(milvus_settings, passage_embedder)
    builds.promote(milvus_settings.index_dir, first.build_id, settings=milvus_settings)
    assert first.manifest["index"]["store"] == "milvus"
    on_milvus = Assistant(milvus_settings, embedder=real_embedder)
    for question, doc_id, quote_start, fact in ANSWERABLE:
        answer = on_milvus.ask(question)
        assert doc_id in {c.doc_id for c in answer.citations} and fact in answer.answer, question
        assert [p.chunk.chunk_id for p in on_milvus.search(question).passages] == \
               [p.chunk.chunk_id for p in assistant.search(question).passages], question

    question = "How many days may a volunteer take for community work?"
    (Path(milvus_settings.corpus_dir) / "volunteering-policy.md").write_text(
        "# Volunteering Policy\n\n## 2. Volunteering leave\n\n2.1 Every employee may take up to 3 paid days a year of "
        "volunteering leave for community work with a registered charity.\n", encoding="utf-8")
    second = builds.build(milvus_settings, passage_embedder)
    builds.promote(milvus_settings.index_dir, second.build_id, settings=milvus_settings)
    assert on_milvus.reload()
    answer = on_milvus.ask(question)
    assert "volunteering-policy.md" in {c.doc_id for c in answer.citations} and "3 paid days" in answer.answer

    assert builds.rollback(milvus_settings.index_dir, settings=milvus_settings) == first.build_id
    assert on_milvus.reload()
    assert "volunteering-policy.md" not in {c.doc_id for c in on_milvus.ask(question).citations}
