"""A corpus with documents of three groups, keys for them, and a real uvicorn server over it (the fake embedder).

`hr/casework.md` names its group in front matter (`access: hr`); `board-restructuring.md` gets `board` from the
corpus's access.toml; the mini corpus's documents fall in the default group `staff`. Each restricted document carries
a code word found nowhere else, and shares ordinary words (payroll records, expense claims) with the staff documents,
so a question about those would rank it if the scope let it.
"""

from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Iterator

import uvicorn

from rag.access.keys import KeyStore
from rag.assistant import Assistant
from rag.config import Settings
from rag.indexing import builds
from server.app import create_app
from tests.e2e_helpers import free_port

HR_WORD, BOARD_WORD = "quokkaplan", "zebrafund"
HR_DOC = ("---\ntitle: Disciplinary Casework Procedure\naccess: hr\n---\n# Disciplinary Casework Procedure\n\n"
          "## 1. Files\n\n1.1 Casework files under the Quokkaplan scheme are kept for 6 years after the case closes.\n\n"
          "1.2 Quokkaplan hearings review the payroll records of the employee concerned.\n\n"
          "1.3 Expense claims made during a Quokkaplan suspension need HR approval.\n")
BOARD_DOC = ("# Board Restructuring Paper\n\n## 1. Proposal\n\n1.1 The Zebrafund restructuring closes the travel office.\n\n"
             "1.2 Expense claims over 500 pounds move to the Zebrafund finance team.\n\n"
             "1.3 Payroll records of the travel office are kept for 6 years under Zebrafund.\n")
RESTRICTED = {"hr/casework.md": ("hr", HR_WORD), "board-restructuring.md": ("board", BOARD_WORD)}


@dataclass
class Keys:
    staff: str
    hr: str
    board: str
    admin: str


def write_corpus(settings: Settings) -> None:
    (settings.corpus_dir / "hr").mkdir()
    (settings.corpus_dir / "hr" / "casework.md").write_text(HR_DOC, encoding="utf-8")
    (settings.corpus_dir / "board-restructuring.md").write_text(BOARD_DOC, encoding="utf-8")
    (settings.corpus_dir / "access.toml").write_text('[groups]\n"board-*" = ["board"]\n', encoding="utf-8")


def build_with_keys(settings: Settings, embedder) -> Keys:  # type: ignore[no-untyped-def]
    write_corpus(settings)
    builds.promote(settings.index_dir, builds.build(settings, embedder).build_id)
    store = KeyStore(settings)
    return Keys(store.add("staffer", "staff")[1], store.add("hr-lead", "hr,staff")[1], store.add("director", "board")[1],
                store.add("root", "*", admin=True)[1])


@contextmanager
def serving(settings: Settings, assistant: Assistant, **app_options: Any) -> Iterator[str]:
    port = free_port()
    app = create_app(settings, assistant, **app_options)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(30)
