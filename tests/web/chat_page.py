"""What the browser tests do to the chat page, in a person's terms: ask, open a citation, read what the server stored."""

from __future__ import annotations

from typing import Any

import httpx

from tests.conftest import ROOT

ARTIFACTS = ROOT / "tests" / "artifacts" / "web"  # git-ignored: screenshots and the measured figures

FINISHED = ".reply.answered .feedback, .reply.uncertain .feedback, .reply.refusal .feedback, .reply.failed"


def ask(page: Any, question: str, *, type_it: bool = False) -> Any:
    """Type `question` into the box, press Enter, and wait until its turn is finished (rated-ready, or failed)."""
    turns = page.locator(".turn")
    before = turns.count()
    box = page.locator("#question")
    box.focus()
    if type_it:
        page.keyboard.type(question)
    else:
        box.fill(question)
    page.keyboard.press("Enter")
    turn = turns.nth(before)
    turn.locator(FINISHED).first.wait_for()
    return turn


def owner(page: Any) -> str:
    return page.evaluate("() => localStorage.getItem('rag.owner')")


def conversation_id(page: Any) -> str:
    fragment = page.evaluate("() => location.hash")
    assert fragment.startswith("#conversation="), fragment
    return fragment.split("=", 1)[1]


def stored(page: Any, base: str) -> dict[str, Any]:
    """The open conversation as the server keeps it (every turn's whole answer)."""
    response = httpx.get(f"{base}/v1/conversations/{conversation_id(page)}", headers={"X-Rag-Owner": owner(page)}, timeout=30)
    response.raise_for_status()
    return response.json()


def highlighted(page: Any) -> str:
    """The text highlighted in the document panel, once it is shown."""
    mark = page.locator("#doc-text mark.cited")
    mark.wait_for()
    return mark.text_content()


def latencies(page: Any) -> list[float]:
    """Milliseconds from each Enter in the question box to the next paint with answer text (tests/web/instrument.js)."""
    return page.evaluate("() => window.__test.latencies")


def fits_width(page: Any) -> bool:
    """Nothing on the page is wider than the window (no sideways scrolling)."""
    return page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth")


def shoot(page: Any, name: str) -> None:
    """A screenshot of the window as it is now, saved as tests/artifacts/web/NAME.png for a person to look at."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"))
