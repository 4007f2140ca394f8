"""Search: a question in, ranked passages of one loaded build out.

Owns validating the question and filters (`retrieval.clean_question`, `retrieval.Filters`), dense, BM25 and
hybrid ranking (`retrieval.Retriever`, `fusion`), reranking by best sentence, named references and quoted terms
(`rerank`, `references`), and which words of a question count (`query_terms`). Leaves building the index to
`rag.indexing` and composing the answer to `rag.answer`.
"""
