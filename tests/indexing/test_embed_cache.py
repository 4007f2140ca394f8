import numpy as np

from rag.indexing.embed_cache import EmbeddingCache, encode_cached


def test_cache_returns_stored_vectors_bit_for_bit_and_only_for_the_same_model(tmp_path):
    cache = EmbeddingCache(tmp_path / "c.sqlite", "model-a\x00384")
    vectors = np.random.default_rng(0).standard_normal((2, 384)).astype(np.float32)
    cache.store(["alpha text", "beta text"], vectors)
    found = cache.lookup(["beta text", "gamma text", "alpha text"])
    assert set(found) == {0, 2}
    assert found[0].tobytes() == vectors[1].tobytes() and found[2].tobytes() == vectors[0].tobytes()
    other_model = EmbeddingCache(tmp_path / "c.sqlite", "model-b\x00384")
    assert other_model.lookup(["alpha text"]) == {}


def test_encode_cached_embeds_only_misses_and_counts_them(tmp_path, fake_embedder):
    cache = EmbeddingCache(tmp_path / "c.sqlite", "fake")
    first = encode_cached(fake_embedder, ["one rule", "two rules"], 8, cache)
    again = encode_cached(fake_embedder, ["two rules", "three rules", "one rule"], 8, cache)
    assert fake_embedder.texts_encoded == 3 and (cache.hits, cache.misses) == (2, 3)
    assert np.array_equal(again[0], first[1]) and np.array_equal(again[2], first[0])
    assert np.allclose(again[1], fake_embedder.encode(["three rules"])[0])


def test_prune_drops_entries_not_used_since_a_time(tmp_path):
    cache = EmbeddingCache(tmp_path / "c.sqlite", "m")
    cache.store(["old"], np.ones((1, 4), dtype=np.float32))
    assert cache.prune(older_than=0) == 0 and len(cache) == 1
    assert cache.prune(older_than=float("inf")) == 1 and len(cache) == 0
