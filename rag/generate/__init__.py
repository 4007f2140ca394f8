"""Generate: answers written by a language model on an OpenAI-compatible server, every sentence verified.

Owns the chat client (`client.ChatClient`: streamed completions that never outlive their deadline, every failure an
`LLMError`), the prompts and their token budget (`prompt`: numbered passages delimited as untrusted data, the
history within its budget, the rewrite prompt), what a sentence claims (`facts`: numbers, amounts, names,
negations), cutting streamed text into cited sentences (`sentences`), checking each against the passage it cites and
finding the exact span that supports it (`verify.Verifier`), the generative answer backend (`backend`: verified
sentences streamed as they pass, the extractive answer as refusal and fallback) and the model rewrite of follow-ups
(`rewrite.ModelRewriter`, validated, the rewrite without a model when it fails). Leaves retrieval to `rag.search` and
`rag.chat`, quoting and refusing to `rag.answer`, and choosing a backend from the settings to `rag.assistant`.
"""
