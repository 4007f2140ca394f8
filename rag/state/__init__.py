"""The service's own state behind one interface: SQLite files (the default) or one PostgreSQL database.

Owns opening a store's database (`database.open_database`: `RAG_DATABASE_URL` set, a shared, pooled PostgreSQL;
else a SQLite file in `RAG_STATE_DIR`), the schema version table and applying and checking each store's forward-only
migrations, and one committed transaction per call. Leaves the tables and SQL to the stores themselves
(conversations and feedback in `rag.chat`, keys, rate buckets and the audit trail in `rag.access`).
"""
