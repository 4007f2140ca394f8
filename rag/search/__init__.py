"""Search: a question in, ranked passages of one loaded build out.

Owns validating the question and filters (`retrieval.clean_question`, `retrieval.Filters`), dense, BM25 and
hybrid ranking (`retrieval.Retriever`, `fusion`), reranking by best sentence, named references, quoted terms and
money amounts (`rerank`, `references`, `amounts`: read here and by the answerer), and which words of a question
count (`query_terms`). Leaves building the index to `rag.indexing` and composing the answer to `rag.answer`.
"""
