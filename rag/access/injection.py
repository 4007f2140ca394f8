"""Text in the documents that reads as instructions to a language model, flagged when a build is made.

Owns the patterns ("ignore previous instructions", "you are now ...", "system prompt", requests to reveal secrets
or instructions, role-play orders, chat-template control tokens such as `<|im_start|>`) and hidden characters
(zero-width spaces and joiners, word joiners, byte-order marks inside the text, bidirectional overrides) that a
document has no reason to carry and an attacker uses to hide text from a reader. `flag_chunks` names the chunks
that carry them, with why and a short excerpt, for the build report and the manifest; nothing is removed (the
answer quotes the document exactly, and a person decides). `flagged_reasons` reads them back from a manifest for the
generative backend, which withholds those passages from the model or marks them (RAG_LLM_FLAGGED). Leaves keeping
passages as data in a generative prompt to `rag.generate.prompt`.
"""

from __future__ import annotations

import re
from typing import Any, Iterable

from rag.models import Chunk

PHRASES: tuple[tuple[str, re.Pattern[str]], ...] = tuple((name, re.compile(pattern, re.IGNORECASE)) for name, pattern in (
    ("ignore previous instructions",
     r"\b(ignore|disregard|forget|override)\b[^.\n]{0,40}\b(previous|prior|above|earlier|all|any|your)\b[^.\n]{0,30}"
     r"\b(instructions?|prompts?|rules|directions|guidelines)\b"),
    ("you are now", r"\byou are now\b|\bfrom now on,? you\b"),
    ("system prompt", r"\b(system|developer) (prompt|message|instructions?)\b"),
    ("reveal secrets", r"\b(reveal|print|repeat|output|disclose|show)\b[^.\n]{0,40}\b(system prompt|your instructions|"
                       r"secrets?|passwords?|api keys?|credentials)\b"),
    ("role-play order", r"\b(act|behave|respond|pretend)\s+(as|like|to be)\s+(an?|the)\s+[^.\n]{0,20}"
                        r"\b(ai|assistant|model|chatbot|llm|dan)\b"),
    ("model address", r"\b(dear|attention|note to)\s+(ai|assistant|language model|llm|chatbot)\b"),
))
# the shapes of chat-template control tokens (ChatML and Llama 3 `<|...|>`, Llama 2 `[INST]` `<<SYS>>` `<s>`, Gemma's
# turns): a server that reads them in message text as tokens would let a document end the user's turn and start another
CONTROL_TOKENS = re.compile(r"<\|[\w.:-]{1,40}\|>|\[/?INST\]|<</?SYS>>|</?s>|<(?:start|end)_of_turn>", re.IGNORECASE)
HIDDEN = re.compile("[\u200b\u200c\u200d\u2060\u2061\u2062\u2063\u2064\u180e\u202a-\u202e\u2066-\u2069\ufeff]")
EXCERPT = 160


def reasons(text: str) -> list[str]:
    """Why a text reads as an instruction to a model, or hides characters (empty: nothing found)."""
    found = [name for name, pattern in PHRASES if pattern.search(text)]
    if CONTROL_TOKENS.search(text):
        found.append("chat-template control tokens")
    hidden = len(HIDDEN.findall(text))
    if hidden:
        found.append(f"hidden characters ({hidden} zero-width or direction-control)")
    return found


def _excerpt(text: str) -> str:
    for _, pattern in PHRASES:
        match = pattern.search(text)
        if match:
            start = max(0, match.start() - 40)
            return HIDDEN.sub("\N{WHITE SQUARE}", text[start:start + EXCERPT])
    return HIDDEN.sub("\N{WHITE SQUARE}", text[:EXCERPT])


def flag_chunks(chunks: Iterable[Chunk]) -> list[dict[str, Any]]:
    """One entry per chunk that carries a pattern or hidden characters: chunk id, document, reasons, excerpt (the
    hidden characters shown as white squares)."""
    out = []
    for chunk in chunks:
        why = reasons(chunk.text)
        if why:
            out.append({"chunk_id": chunk.chunk_id, "doc_id": chunk.doc_id, "reasons": why, "excerpt": _excerpt(chunk.text)})
    return out


def flagged_reasons(manifest: dict[str, Any]) -> dict[str, list[str]]:
    """Chunk id -> why the build flagged it, from a build's manifest (empty for builds made before flags existed)."""
    return {row["chunk_id"]: list(row.get("reasons") or ()) for row in manifest.get("injection") or []}
