"""Terminal progress bars for builds (documents, chunks, chunks/s, ETA) via tqdm.

Owns only presentation; the build pipeline calls the `BuildProgress` hooks.
"""

from __future__ import annotations

import sys
from typing import Any

from rag.indexing.builds import BuildProgress


class TqdmProgress(BuildProgress):
    def __init__(self) -> None:
        self.bar: Any = None

    def __enter__(self) -> "TqdmProgress":
        return self

    def __exit__(self, *exc: object) -> None:
        self._close()

    def _close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    def stage(self, name: str, total: int) -> None:
        from tqdm import tqdm

        self._close()
        unit = {"chunking": "doc", "embedding": "chunk", "sentences": "sentence", "evaluating": "question"}.get(name, "step")
        self.bar = tqdm(total=total, desc=name, unit=unit, file=sys.stderr, dynamic_ncols=True)

    def advance(self, count: int) -> None:
        if self.bar is not None:
            self.bar.update(count)

    def message(self, text: str) -> None:
        from tqdm import tqdm

        tqdm.write(text, file=sys.stderr)
