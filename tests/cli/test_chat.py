"""`rag chat` in-process over the mini corpus (fake embedder); the real command is run in tests/test_e2e.py."""

import io
import json

from rag.access.audit import AuditLog
from rag.assistant import Assistant
from rag.cli.chat import run_chat
from rag.cli.shared import audited, key_access
from rag.search.retrieval import Filters
from tests.cli import rag
from tests.server.access_corpus import HR_WORD, build_with_keys

FIRST = "Do claims over 500 pounds need approval?"


def chat(settings, fake_embedder, lines, as_json=False):
    run_chat(settings, None, Filters(), as_json, io.StringIO("\n".join(lines) + "\n"), Assistant(settings, embedder=fake_embedder))


def test_answers_stream_then_numbered_sources_and_follow_ups_keep_the_conversation(built, settings, fake_embedder, capsys):
    joint = settings.replace(context_vector="joint")  # with the fake embedder, the joint vector answers the follow-up
    chat(joint, fake_embedder, [FIRST, "who approves it?", "/sources", "/quit", "never asked"])
    out = capsys.readouterr().out
    assert out.count("Sources:") == 3  # two answers and /sources
    assert out.count("(confidence 0.") + out.count("(confidence 1.") == 3  # how sure each answer is, as `rag ask` says
    assert "[1] Travel Rules (travel.txt, Section 3: Approval > 3.1), chars" in out
    assert '"3.1 Claims over 500 pounds need approval from a director."' in out
    assert "never asked" not in out


def test_json_mode_prints_one_answer_object_per_turn_and_new_forgets(built, settings, fake_embedder, capsys):
    chat(settings, fake_embedder, [FIRST, "who approves it?", "/new", "who approves it?"], as_json=True)
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    answers = [line for line in lines if "answer" in line]
    assert [a["question"] for a in answers] == [FIRST, "who approves it?", "who approves it?"]
    assert answers[1]["standalone_question"] == f"who approves it? {FIRST}"
    assert answers[2]["standalone_question"] == "who approves it?"  # after /new: no history
    assert {"note": "new conversation"} in lines


def test_a_bad_question_prints_its_error_and_the_conversation_goes_on(built, settings, fake_embedder, capsys):
    chat(settings, fake_embedder, ["x" * 1001, "/frobnicate", FIRST])
    captured = capsys.readouterr()
    assert "error: question is 1001 characters" in captured.err and "unknown command /frobnicate" in captured.err
    assert "Sources:" in captured.out


def test_rag_chat_with_a_language_model_prints_verified_sentences_and_who_wrote_them(built, settings, fake_embedder, capsys):
    from tests.generate.fake_llm import FakeLLM, Script, passage_number, words

    true = "Claims over 500 pounds need approval from a director"
    with FakeLLM() as llm:
        llm.reply(Script(lambda body: words(f"{true} [{passage_number(body, 'Claims over 500')}]. A manager may also approve it [1].")),
                  Script(body="garbage"))
        gen = settings.replace(answerer="openai", llm_base_url=llm.url, llm_model="fake-model")
        chat(gen, fake_embedder, [FIRST, "and who approves it?"])
    out = capsys.readouterr().out
    first, second = out.split("(written by", 1)[0], out.split("(written by", 1)[1]
    assert f"{true}. [1]" in first and "A manager may also approve it" not in out
    assert "fake-model: 1 of 2 sentences verified against their sources)" in second
    assert "(extractive answer: the language model at" in second and "the extractive answer is given instead)" in second


def test_rag_chat_with_a_key_stays_in_scope_and_is_audited(settings, fake_embedder, capsys):
    keys = build_with_keys(settings, fake_embedder)
    staff = settings.replace(api_key=keys.staff)
    access = key_access(staff, "cli chat")
    assistant = audited(Assistant(staff, embedder=fake_embedder), access)
    run_chat(staff, None, Filters(), True, io.StringIO(f"What do {HR_WORD} hearings review?\n"), assistant, access)
    out = capsys.readouterr().out
    assert out and "Quokkaplan hearings" not in out and "hr/casework.md" not in out
    assert [(r.key, r.route) for r in AuditLog(staff).tail()] == [("staffer", "cli chat")]


def test_chat_is_listed_with_its_commands():
    result = rag("chat", "--help")
    assert result.returncode == 0 and "/new" in result.stdout and "/sources" in result.stdout and "--json" in result.stdout


def test_the_low_confidence_warning_is_printed_only_under_the_bar(capsys):
    from rag.cli.chat import _sources
    from rag.models import Answer

    def printed(confidence):
        _sources(Answer("q", "A quote. [1]", False, (), (), "b1", confidence=confidence), as_json=False)
        return capsys.readouterr().out

    assert "(confidence 0.62)" in printed(0.62) and "under about 0.3" not in printed(0.62)  # a sure answer is not flagged
    assert "(confidence 0.21: under about 0.3, check the quotes)" in printed(0.21)


def test_each_turn_ends_with_a_blank_line_and_closest_passages_name_no_empty_section(built, settings, fake_embedder, capsys):
    chat(settings, fake_embedder, [FIRST, "/new", "who approves it?"])  # after /new the follow-up is refused
    out = capsys.readouterr().out
    assert ")\n\nThe documents do not answer" in out  # the refusal starts apart from the answer before it
    assert "Closest passages:" in out and ", ):" not in out and out.endswith("\n\n")
