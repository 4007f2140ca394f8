"""rag: a grounded question-answering library over policy documents.

Importing this package loads no model and reads no files; see `rag.assistant`
for the facade used by the CLI and the server.
"""

from rag.config import Settings
from rag.errors import RagError
from rag.models import Answer, Chunk, Citation, Document, Passage, SearchResult, Section

__version__ = "0.1.0"

__all__ = ["Answer", "Chunk", "Citation", "Document", "Passage", "RagError", "SearchResult", "Section", "Settings", "__version__"]
