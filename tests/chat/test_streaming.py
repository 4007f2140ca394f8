"""Answer events: text piece by piece, then the whole answer."""

from rag.assistant import Assistant
from rag.chat.streaming import Completed, TextDelta, final_answer, sentence_pieces


def test_pieces_are_sentences_with_their_markers_and_join_back_exactly():
    text = "Payroll records are kept for 6 years. [1] Board minutes; Period: Permanently [2] [3] CCTV is kept 30 days. [4]"
    pieces = sentence_pieces(text)
    assert pieces == ["Payroll records are kept for 6 years. [1] ", "Board minutes; Period: Permanently [2] [3] ",
                      "CCTV is kept 30 days. [4]"]
    assert "".join(pieces) == text
    refusal = "The documents do not answer this question. The closest passages are listed below; check them or rephrase."
    assert sentence_pieces(refusal) == [refusal] and sentence_pieces("") == [""]


def test_a_stream_yields_the_text_then_the_answer_it_adds_up_to(built, settings, fake_embedder):
    events = list(Assistant(settings, embedder=fake_embedder).stream("How long is CCTV footage kept?"))
    deltas, last = [e for e in events if isinstance(e, TextDelta)], events[-1]
    assert isinstance(last, Completed) and all(isinstance(e, TextDelta) for e in events[:-1])
    assert "".join(d.text for d in deltas) == last.answer.answer and not last.answer.abstained
    assert final_answer(iter(events)) == last.answer


def test_bad_input_fails_before_any_event(built, settings, fake_embedder):
    import pytest

    from rag.errors import InvalidRequestError

    assistant = Assistant(settings, embedder=fake_embedder)
    with pytest.raises(InvalidRequestError, match="question is empty"):
        assistant.stream("   ")
    with pytest.raises(InvalidRequestError, match="role"):
        assistant.stream("and abroad?", history=[{"role": "robot", "content": "beep"}])
