"""Chat: answering a question in the light of the conversation before it, and keeping conversations.

Owns checking a conversation's history (`history.checked_history`), the standalone form of a follow-up that
retrieval searches for, built without an LLM from the earlier user turns and the documents the earlier answers cited
(`context.build_context`, behind the `rewrite.QuestionRewriter` seam an LLM rewrite can fill), mixing the rankings of
the question alone and of its standalone form (`retrieval.ContextualRetrieval`), the answer backend interface that
streams an answer as it is written (`streaming.AnswerBackend`, with the extractive backend that streams sentence by
sentence), stored conversations in SQLite (`store.ConversationStore`), and feedback on their answers with its export
as gold rows (`feedback.FeedbackStore`). Leaves ranking passages to `rag.search`, choosing quotes and refusing to
`rag.answer`, and the HTTP and terminal front ends to `server/` and `rag.cli`.
"""
