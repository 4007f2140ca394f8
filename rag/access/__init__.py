"""Access control: API keys, the groups documents belong to, and the audit trail.

Owns the key store (`keys`: random keys stored as salted hashes in `keys.sqlite` in `RAG_STATE_DIR`, verified in
constant time), document groups (`groups`: from a document's `access:` metadata, the corpus's `access.toml` of path
globs, else `RAG_DEFAULT_GROUP`), the audit trail (`audit`: one JSON line per call that returned document content,
rotated by size) and build-time flags for text that reads as instructions to a model (`injection`). Depends on the
kernel only, so ingest, indexing and every later stage may use it. Leaves applying a scope to retrieval to
`rag.search.retrieval`, and HTTP authentication to `server.auth`.
"""
