"""Passage vectors and pooled sentence vectors: the pooling, the batching, which chunk pools a sentence, the cache."""

from __future__ import annotations

import numpy as np

from rag.indexing import builds
from rag.indexing import chunks as chunks_module
from rag.indexing import vectors as vectors_module
from rag.indexing.embed_cache import EmbeddingCache, encode_pooled_cached
from rag.indexing.passage_encoder import length_batches, pool_spans
from rag.indexing.sentences import quotable_rows
from rag.indexing.store import LoadedIndex
from rag.ingest.chunking import embedding_text
from rag.ingest.corpus import load_corpus
from tests.conftest import FakeEmbedder


class PoolingFake(FakeEmbedder):
    """A fake that pools like the ONNX encoder: a span's vector is the fake vector of the span's own text."""

    def __init__(self) -> None:
        super().__init__()
        self.pooled_texts = 0
        self.variant = "fake-pooling"

    def encode_with_spans(self, texts, spans, progress=None):  # type: ignore[no-untyped-def]
        self.pooled_texts += len(texts)
        vectors = self.encode(texts, progress=progress)
        pooled = [self.encode([t[a:b] for a, b in s]) if s else np.zeros((0, self.dimension), np.float32) for t, s in zip(texts, spans)]
        return vectors, pooled


def test_pool_spans_averages_the_tokens_overlapping_each_span_and_skips_special_tokens():
    tokens = np.array([[9.0, 9.0], [1.0, 0.0], [0.0, 1.0], [0.0, 3.0], [9.0, 9.0]], dtype=np.float32)  # [CLS] a b c [SEP]
    offsets = np.array([[0, 0], [0, 4], [5, 9], [10, 14], [0, 0]])
    pooled = pool_spans(tokens, offsets, [(0, 9), (10, 14), (3, 6), (20, 30)])
    assert np.allclose(pooled[0], np.array([1, 1]) / np.sqrt(2))  # tokens 1 and 2, unit length
    assert np.allclose(pooled[1], [0.0, 1.0])
    assert np.allclose(pooled[2], np.array([1, 1]) / np.sqrt(2))  # a span overlapping two tokens partly takes both
    assert np.isnan(pooled[3]).all()  # beyond the embedded tokens (cut by the window): not pooled


def test_length_batches_keep_similar_lengths_together_within_the_token_budget():
    lengths = [250, 20, 240, 30, 25, 245, 400]
    batches = length_batches(lengths, max_tokens=500, max_texts=3)
    assert batches[0] == [6]  # longer than the budget: alone
    assert sorted(i for b in batches for i in b) == list(range(len(lengths)))
    for batch in batches:
        assert len(batch) <= 3 and (len(batch) == 1 or max(lengths[i] for i in batch) * len(batch) <= 500)
    assert [1, 3, 4] in [sorted(b) for b in batches]  # the short ones share one batch


def test_each_sentence_is_pooled_once_by_the_chunk_holding_most_of_it(settings, fake_embedder):
    corpus = load_corpus(settings.corpus_dir, settings.max_document_bytes)
    chunks, _ = chunks_module.chunk_corpus(corpus, settings, fake_embedder)
    texts = [embedding_text(c) for c in chunks]
    rows = quotable_rows(corpus.documents)
    held = vectors_module.sentence_spans_by_chunk(chunks, texts, rows)
    pooled_rows = [row for spans in held for row, _ in spans]
    assert sorted(pooled_rows) == list(range(len(rows)))  # every sentence, once
    for i, spans in enumerate(held):
        for row, (a, b) in spans:
            doc = next(d for d in corpus.documents if d.doc_id == chunks[i].doc_id)
            sentence = doc.text[int(rows.starts[row]):int(rows.ends[row])]
            assert texts[i][a:b] and texts[i][a:b] in sentence  # the span is (the chunk's part of) the sentence


def test_a_pooled_build_takes_sentence_vectors_from_the_chunk_pass_and_embeds_labelled_table_rows_alone(settings):
    fake = PoolingFake()
    result = builds.build(settings, fake)
    rows = quotable_rows(load_corpus(settings.corpus_dir, settings.max_document_bytes).documents)
    counts = result.manifest["counts"]
    assert rows.labelled.any() and counts["sentences_pooled"] == counts["sentences"] - int(rows.labelled.sum()) > 0
    assert result.manifest["model"]["sentence_vectors"] == "pooled"
    index = LoadedIndex.load(result.folder)
    for row in (int(np.flatnonzero(~rows.labelled)[0]), int(np.flatnonzero(rows.labelled)[0])):
        doc = index.documents[index.sentences.doc_ids[int(index.sentences.doc_index[row])]]
        raw = doc.text[int(index.sentences.starts[row]):int(index.sentences.ends[row])]
        expected = rows.texts[row] if rows.labelled[row] else raw  # a labelled row: its 'Header: cell' text, on its own
        assert np.allclose(index.sentences.vectors[row], fake.encode([expected])[0], atol=1e-3)  # stored as float16


def test_separate_sentence_vectors_when_asked_for(settings):
    fake = PoolingFake()
    result = builds.build(settings.replace(sentence_vectors="separate"), fake)
    assert result.manifest["counts"]["sentences_pooled"] == 0 and result.manifest["model"]["sentence_vectors"] == "separate"


def test_the_cache_reuses_a_chunk_only_with_all_its_span_vectors(tmp_path):
    fake = PoolingFake()
    cache = EmbeddingCache(tmp_path / "cache.sqlite", "fake")
    texts, spans = ["alpha beta gamma", "delta epsilon", "a heading only"], [[(0, 5), (6, 10)], [(0, 5)], []]
    first, first_pooled = encode_pooled_cached(fake, texts, spans, cache)
    assert fake.pooled_texts == 3 and cache.misses == 3
    again, again_pooled = encode_pooled_cached(fake, texts, spans, cache)
    assert fake.pooled_texts == 3 and cache.hits == 3  # nothing embedded again, a text without spans included
    assert again_pooled[2].shape == (0, fake.dimension)
    assert np.array_equal(first, again) and all(np.array_equal(a, b) for a, b in zip(first_pooled, again_pooled))
    encode_pooled_cached(fake, texts, [[(0, 5), (11, 16)], [(0, 5)], []], cache)  # a new span of the first text
    assert fake.pooled_texts == 4


def test_a_pooled_rebuild_embeds_only_the_changed_document(settings):
    fake = PoolingFake()
    builds.promote(settings.index_dir, builds.build(settings, fake).build_id)
    path = settings.corpus_dir / "retention.md"
    path.write_text(path.read_text() + "\n\nA new closing paragraph about archive boxes kept for ten years.\n")
    before = fake.pooled_texts
    second = builds.build(settings, fake)
    reused, embedded = second.manifest["embedding_cache"]["reused"], second.manifest["embedding_cache"]["embedded"]
    assert embedded == fake.pooled_texts - before and 0 < embedded < reused
