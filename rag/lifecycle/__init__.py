"""Lifecycle: what a corpus says about its own documents, read after the build.

Owns the document facts (`facts`: title, code, version, effective and next review dates, owner, status, the change-log
rows of a "Document history" table), the versions of one policy (`facts.version_families`: the newest effective copy
is current, older ones superseded, a future-dated one not yet in force), references that resolve to nothing in the
corpus (`references`: a title, a document code, a clause of a named document), the values an obligation states
(`values`: numbers, amounts, durations, frequencies, roles, modality), candidate conflicts between documents
(`conflicts`: similar sentences whose values differ, found with the build's sentence vectors) and the corpus health
report that gathers them (`health.check_corpus`, printed by `rag corpus check`, stored with every build and served
at `GET /v1/corpus/health`); for answering, which documents are in force on a day (`versions.BuildLifecycle`, read
once per loaded build from its stored report; retrieval asks it) and the notes an answer carries on what it cites
(`notes.with_notes`: overdue, superseded, not yet in force, a conflicting sentence of another document). Leaves reading
files to `rag.ingest`, the vectors to `rag.indexing`, and choosing and writing answers to `rag.search` and `rag.answer`.
"""
