"""Indexing: chunks in, a complete, self-contained index build on disk out, and that build loaded back.

Owns the build lifecycle (`builds.build`, `builds.promote`, rollback, pruning, the `current` pointer), the
build folder format and the loaded build (`store.LoadedIndex`: FAISS vectors, chunks, documents, sentences,
BM25), the embedding model (`embedding.make_embedder`), its vector cache (`embed_cache`), the ONNX question
encoder (`query_encoder.make_query_encoder`), the BM25 index (`lexical`), the quotable-sentence table
(`sentences`), word statistics of a build (`term_stats`) and the kept original files (`originals`). Leaves
ranking to `rag.search` and the eval gate to `rag.evaluate` and `rag.pipeline`.
"""
