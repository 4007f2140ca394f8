"""Which groups a document belongs to.

Owns reading the corpus's `access.toml` (a table `[groups]` of path globs, matched against document ids, each naming
the groups of the documents it matches: `"hr/**" = ["hr", "managers"]` or `"board-*.pdf" = "board"`) and
`document_groups`: a document's own `access:` metadata (front matter, document properties) when it has one, else
the union of the globs that match it, else `RAG_DEFAULT_GROUP`. Builds store the result in their manifest, so a
change to the rules takes effect with the next build. Leaves which groups a key holds to `rag.access.keys`.
"""

from __future__ import annotations

import fnmatch
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping

from rag.errors import CorpusError
from rag.models import Document

RULES_FILE = "access.toml"
METADATA_KEY = "access"


def split_groups(value: str | list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """'hr, managers' (or a list) as sorted, lower-cased group names."""
    items = value.replace(";", ",").split(",") if isinstance(value, str) else [str(v) for v in value]
    return tuple(sorted({item.strip().lower() for item in items if item.strip()}))


@dataclass(frozen=True)
class AccessRules:
    """The globs of a corpus's access.toml, in file order."""

    globs: tuple[tuple[str, tuple[str, ...]], ...] = ()

    @classmethod
    def load(cls, corpus_dir: Path) -> "AccessRules":
        path = Path(corpus_dir) / RULES_FILE
        if not path.is_file():
            return cls()
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise CorpusError(f"{path} cannot be read ({exc}); fix it: a [groups] table of \"glob\" = [\"group\", ...]") from None
        table = data.get("groups", {})
        if not isinstance(table, dict) or not all(isinstance(v, (str, list)) for v in table.values()):
            raise CorpusError(f"{path}: expected a [groups] table of \"glob\" = [\"group\", ...] (or \"group, group\")")
        return cls(tuple((glob, split_groups(groups)) for glob, groups in table.items()))

    def groups_of(self, doc_id: str) -> tuple[str, ...]:
        found: set[str] = set()
        for glob, groups in self.globs:
            if fnmatch.fnmatchcase(doc_id, glob) or glob.endswith("/**") and doc_id.startswith(glob[:-2]):
                found.update(groups)
        return tuple(sorted(found))


def document_groups(doc_id: str, metadata: Mapping[str, str], rules: AccessRules, default: str) -> tuple[str, ...]:
    """The document's groups: its own `access:` metadata, else the matching globs, else the default group."""
    own = split_groups(str(metadata.get(METADATA_KEY, "")))
    return own or rules.groups_of(doc_id) or split_groups(default)


def access_manifest(documents: Iterable[Document], corpus_dir: Path, default: str) -> dict[str, Any]:
    """What a build records of access: the default group, whether the corpus had an access.toml, each document's groups."""
    rules = AccessRules.load(corpus_dir)
    return {"default_group": default, "rules_file": bool(rules.globs),
            "documents": {d.doc_id: list(document_groups(d.doc_id, d.metadata, rules, default)) for d in documents}}
