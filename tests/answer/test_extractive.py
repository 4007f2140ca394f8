from datetime import date

import pytest

from rag.assistant import Assistant


@pytest.fixture
def assistant(built, settings, fake_embedder):
    return Assistant(settings, embedder=fake_embedder)


def test_answer_quotes_the_right_sentence_with_exact_span(assistant):
    answer = assistant.ask("How long is CCTV footage kept?")
    assert not answer.abstained
    first = answer.citations[0]
    assert first.doc_id == "retention.md" and "CCTV footage is kept for 30 days" in first.quote
    doc = assistant.document(first.doc_id)
    for citation in answer.citations:
        assert assistant.document(citation.doc_id).text[citation.start : citation.end] == citation.quote
    assert first.section == "2. Retention periods > 2.2"
    assert "[1]" in answer.answer and answer.build_id == assistant.build_id
    assert doc.title == first.title == "Records Retention Rules"


def test_every_marker_points_to_a_citation(assistant):
    answer = assistant.ask("What is the hotel limit in London?")
    markers = {int(m) for m in __import__("re").findall(r"\[(\d+)\]", answer.answer)}
    assert markers == {c.n for c in answer.citations}
    assert "180 pounds in London" in answer.citations[0].quote


def test_abstains_when_nothing_matches(assistant):
    answer = assistant.ask("Which vaccinations are required for pets?")
    assert answer.abstained and answer.citations == ()
    assert "do not answer" in answer.answer
    assert answer.passages  # the closest passages are still shown


def test_a_filter_that_matches_no_document_says_so_rather_than_that_the_policies_are_silent(assistant):
    from rag.search.retrieval import Filters

    for filters in (Filters(doc_ids=("no-such.md",)), Filters(metadata={"owner": "Nobody"})):
        answer = assistant.ask("How long is CCTV footage kept?", filters=filters)
        assert answer.abstained and answer.citations == () and answer.passages == ()
        assert answer.answer.startswith("No document you can read matches these filters") and "GET /v1/documents" in answer.answer
    assert not assistant.ask("How long is CCTV footage kept?", filters=Filters(doc_ids=("retention.md",))).abstained


def test_answer_json_has_the_documented_keys(assistant):
    data = assistant.ask("Who approves claims over 500 pounds?").to_dict()
    assert set(data) == {"question", "standalone_question", "answer", "status", "abstained", "confidence", "citations", "passages", "build_id",
                         "backend", "model", "fallback", "stopped", "sentences", "notes", "as_of"}
    assert (data["backend"], data["model"], data["fallback"], data["stopped"], data["sentences"]) == ("extractive", None, None, None, [])
    assert (data["notes"], data["as_of"]) == ([], date.today().isoformat())  # the mini corpus states no dates
    assert set(data["citations"][0]) == {"n", "doc_id", "title", "section", "page", "page_end", "pages", "start", "end",
                                          "quote", "passage_rank"}


def test_answers_carry_the_abstention_evidence(assistant, settings, fake_embedder):
    answer = assistant.ask("How long is CCTV footage kept?")
    evidence = dict(answer.evidence)
    assert set(evidence) >= {"best_score", "missing_share"} and 0.0 <= answer.confidence <= 1.0
    strict = Assistant(settings.replace(abstain_threshold=1.0), embedder=fake_embedder)
    assert strict.ask("How long is CCTV footage kept?").abstained


def test_a_question_naming_a_clause_ranks_that_clause_first(assistant):
    question = "What does clause 2.2 of the retention rules say?"
    snap = assistant.snapshot
    vector = snap.retriever.embed(question)
    ranked = snap.answerer.candidates(question, vector, snap.retriever.retrieve(question, vector, 5), snap.index)
    assert ranked[0].text.startswith("2.2 CCTV footage is kept for 30 days")


def test_captions_titles_and_headings_are_never_quoted():
    from rag.answer.extractive import _is_heading

    assert _is_heading("Table 1: Maximum hotel room rates per night", "Travel Policy", ())
    assert _is_heading("Figure 2. Escalation path", "Travel Policy", ())
    assert _is_heading("Travel Policy", "Travel Policy", ())
    assert _is_heading("4.2 Hotels:", "Travel Policy", ("4. Accommodation", "4.2 Hotels"))
    assert not _is_heading("Table 1 sets the hotel limits: 180 pounds in London.", "Travel Policy", ())
    assert not _is_heading("Chart 3: Overtime is paid at 1.5 times the hourly rate.", "Pay Policy", ())  # a sentence
    assert not _is_heading("The rates in Table 1: apply to every employee travelling on Group business, including "
                           "contractors, temporary staff and secondees who book through the travel desk.", "T", ())


VISITORS = """# Visitor Procedure

## 2. Records

2.1 Visitor sign-in sheets are kept for the period set for visitor badges in the Records Retention Rules.
"""


HISTORY = """# Clean Desk Rules

## 1. Rules

1.1 Desks must be cleared of papers at the end of every working day.

1.2 Screens must be locked whenever a desk is left.

## 2. Document history

| Version | Date | Summary of changes |
|---|---|---|
| 1.0 | 1 May 2023 | First issue |
| 1.1 | 1 June 2024 | Screen locking added |
"""


def test_a_named_version_is_answered_from_its_history_row_not_the_clause_with_its_number(settings, mini_corpus, fake_embedder):
    from rag.indexing import builds

    (mini_corpus / "clean-desk.md").write_text(HISTORY, encoding="utf-8")
    builds.promote(settings.index_dir, builds.build(settings, fake_embedder).build_id)
    answer = Assistant(settings, embedder=fake_embedder).ask("When did version 1.1 of the Clean Desk Rules take effect?")
    assert not answer.abstained
    assert answer.citations[0].doc_id == "clean-desk.md" and "1 June 2024" in answer.citations[0].quote
    assert "Desks must be cleared" not in answer.answer  # clause 1.1 is not version 1.1


APPROVALS = """# Expense Approval Rules

## 1. Approval

| Claim value | Approver |
|---|---|
| Up to £500 | Line manager |
| £500.01 to £2,500 | Head of Department |
| More than £2,500 | Finance Director |
"""


def test_the_row_whose_range_holds_the_amount_asked_about_is_quoted_first(settings, mini_corpus, fake_embedder):
    from rag.indexing import builds

    (mini_corpus / "approvals.md").write_text(APPROVALS, encoding="utf-8")
    builds.promote(settings.index_dir, builds.build(settings, fake_embedder).build_id)
    assistant = Assistant(settings.replace(abstain_threshold=0.001), embedder=fake_embedder)  # the fake model's scores are low
    for question, approver in [("Who approves an expense claim of £1,200?", "Head of Department"),
                               ("Who approves an expense claim of £3,000?", "Finance Director"),
                               ("Who approves an expense claim of £80?", "Line manager"),
                               ("who signs off a 3k expense claim", "Finance Director"),  # the build's amounts are in £
                               ("who signs off a 1.2k claim", "Head of Department")]:
        answer = assistant.ask(question)
        rows = [c.quote for c in answer.citations if "|" in c.quote]
        assert not answer.abstained and rows and approver in rows[0], (question, answer.answer)


def test_a_quoted_reference_to_another_document_brings_its_answer(settings, mini_corpus, fake_embedder):
    from rag.indexing import builds
    from rag.search.retrieval import Filters

    (mini_corpus / "visitors.md").write_text(VISITORS, encoding="utf-8")
    builds.promote(settings.index_dir, builds.build(settings, fake_embedder).build_id)
    assistant = Assistant(settings, embedder=fake_embedder)
    answer = assistant.ask("How long are visitor sign-in sheets kept?")
    assert [c.doc_id for c in answer.citations][:1] == ["visitors.md"]
    referred = answer.citations[-1]
    assert referred.doc_id == "retention.md" and "Visitor badges | 1 year" in referred.quote
    assert f"[{referred.n}]" in answer.answer and "1 year" in answer.answer
    only_visitors = assistant.ask("How long are visitor sign-in sheets kept?", filters=Filters(doc_ids=("visitors.md",)))
    assert {c.doc_id for c in only_visitors.citations} == {"visitors.md"}  # the filter holds for referred documents too


def test_a_document_is_referred_to_only_by_its_whole_title_as_written(built, settings, fake_embedder):
    from rag.answer.extractive import referred_document

    index = Assistant(settings, embedder=fake_embedder).snapshot.index
    titles = {doc_id: doc.title for doc_id, doc in index.documents.items()}
    assert titles["retention.md"] == "Records Retention Rules"
    assert referred_document("Sheets are kept as set in the Records Retention Rules.", index) == "retention.md"
    assert referred_document("Sheets are kept as set in the  Records\nRetention Rules.", index) == "retention.md"
    assert referred_document("we keep records retention rules simple", index) is None  # a phrase, not the name
    assert referred_document("See the Records Retention Rules.", index, exclude={"retention.md"}) is None


def test_the_longest_title_named_wins_even_when_it_is_excluded():
    from types import SimpleNamespace

    from rag.answer.extractive import referred_document

    index = SimpleNamespace(titles={"short.md": "Records Retention", "schedule.md": "Records Retention Schedule"})
    text = "Case files are kept for the period in the Records Retention Schedule."
    assert referred_document(text, index) == "schedule.md"  # type: ignore[arg-type]
    assert referred_document(text, index, exclude={"schedule.md"}) is None  # type: ignore[arg-type]
    assert referred_document("See the Records Retention guidance.", index) == "short.md"  # type: ignore[arg-type]


@pytest.mark.parametrize("question, asks", [
    ("How long is CCTV footage kept?", True),
    ("What minimum RSA key length does the standard require?", True),
    ("Under DORA, when is the initial notification due?", True),
    ("When did version 1.2 take effect?", True),
    ("Above what amount does a payment need two signatures?", True),
    ("What must an employee ensure when providing a written notice?", False),  # 'when' joining clauses asks nothing
    ("Who approves claims?", False),
    ("How are paper records disposed of?", False),
])
def test_questions_asking_for_a_quantity_are_recognised(question, asks):
    from rag.answer.extractive import expects_quantity

    assert expects_quantity(question) is asks


@pytest.mark.parametrize("text, carries", [
    ("2.1 Payroll records are kept for 6 years.", True),
    ("Access lists are reviewed every quarter.", True),
    ("Failover is tested twice a year.", True),
    ("Each card has a limit of £2,500.", True),
    ("| Board minutes | Permanently |", True),
    ("8.3 Key lengths are set out in the Cryptography Standard (MHG-CRS-013).", False),  # a clause number and a code
    ("7.4 Staff must not use personal social media during working hours.", False),  # a unit, but no amount
    ("5.4 The annual budget is set by the Executive Committee.", False),
])
def test_sentences_stating_a_quantity_are_recognised(text, carries):
    from rag.answer.extractive import carries_quantity

    assert carries_quantity(text) is carries


def test_the_type_gap_shows_a_quantity_question_that_no_close_sentence_answers_with_one(assistant):
    answered = dict(assistant.ask("How long is CCTV footage kept?").evidence)
    assert answered["type_gap"] == 0.0  # its best sentence says '30 days'
    unstated = dict(assistant.ask("How long are paper records shredded on site?").evidence)
    assert unstated["type_gap"] > 0.0  # the disposal clause is closest, and it states no period
    not_asked = dict(assistant.ask("How are paper records disposed of?").evidence)
    assert not_asked["type_gap"] == 0.0  # the question asks for no quantity


MILEAGE = """# Mileage Rules

## 8. Own vehicles

8.1 Staff who use their own vehicle for business journeys may claim mileage at the following rates:

- Cars and vans: 45p per mile for the first 10,000 miles, then 25p.
- Motorcycles: 24p per mile.
- Bicycles: 20p per mile.

8.2 Mileage is counted from the normal place of work.

8.3 Fuel receipts must be kept for VAT.
"""


def test_a_lead_in_ending_with_a_colon_is_quoted_with_the_list_it_introduces(assistant_over):
    assistant = assistant_over("mileage.md", MILEAGE)
    answer = assistant.ask("May staff who use their own vehicle for business journeys claim mileage?")
    quotes = [c.quote for c in answer.citations]
    assert quotes and quotes[0].endswith("at the following rates:"), answer.answer
    assert [q.split(":")[0] for q in quotes[1:]] == ["- Cars and vans", "- Motorcycles", "- Bicycles"]  # the list, whole
    assert not any("8.2" in q for q in quotes)  # the next numbered clause is not part of the list


def test_an_answer_below_the_confident_cut_offers_its_clauses_as_places_to_look(assistant, monkeypatch):
    question = "Who approves claims over 500 pounds?"
    confident = assistant.ask(question)
    assert confident.status == "answered" and not confident.uncertain
    answerer = assistant.snapshot.answerer
    monkeypatch.setattr(answerer, "answer_threshold", confident.confidence + 0.01)
    unsure = assistant.ask(question)
    assert unsure.status == "uncertain" and not unsure.abstained
    assert unsure.answer.startswith("These clauses may answer it") and unsure.citations == confident.citations
    assert unsure.to_dict()["status"] == "uncertain"
    from rag.models import Answer

    assert Answer.from_dict(unsure.to_dict()).status == "uncertain"
    monkeypatch.setattr(answerer, "answer_threshold", 1.0)
    monkeypatch.setattr(answerer, "threshold", 1.0)
    assert assistant.ask(question).status == "refused"
