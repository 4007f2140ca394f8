"""The chat page for everyone, in Chromium: keyboard only from the question to the cited span and back, what screen
readers are told, a phone-sized window (390 and 360 px) and a desktop one, light and dark; screenshots of each are
saved to tests/artifacts/web/ (git-ignored) for a person to look at.
"""

from __future__ import annotations

from tests.web.chat_page import ask, fits_width, highlighted, shoot, stored
from tests.web.conftest import SUMMARY

QUESTION = "How long are job applicant records kept?"


def focused(page) -> dict:
    return page.evaluate("""() => { const e = document.activeElement;
        return { id: e.id, cls: e.className, tag: e.tagName, text: (e.textContent || '').trim().slice(0, 80) }; }""")


def tab_to(page, selector: str, limit: int = 60) -> None:
    """Press Tab until the focused element matches `selector` (fails if it never does: unreachable by keyboard)."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate("s => document.activeElement.matches(s)", selector):
            return
    raise AssertionError(f"{selector} cannot be reached with Tab (last focus: {focused(page)})")


def test_keyboard_only_asks_opens_a_citation_closes_it_and_rates(open_page, web_server):
    page = open_page(width=1280)
    page.keyboard.press("Tab")
    assert focused(page)["cls"] == "skip-link"
    page.keyboard.press("Enter")
    assert focused(page)["id"] == "question"  # the skip link lands in the question box
    page.keyboard.type("How long are job applicant")
    page.keyboard.press("Shift+Enter")  # a new line, not sent
    page.keyboard.type("records kept?")
    assert page.locator("#question").input_value() == "How long are job applicant\nrecords kept?"
    assert page.locator(".turn").count() == 0
    page.keyboard.press("Enter")
    turn = page.locator(".turn").first
    turn.locator(".reply.answered .feedback").wait_for()
    answer = stored(page, web_server)["turns"][0]["answer"]

    page.locator("#question").focus()
    page.keyboard.press("Shift+Tab")
    tab_to(page, ".answer-text .chip")
    n = int(page.evaluate("() => document.activeElement.dataset.n"))
    page.keyboard.press("Enter")
    assert highlighted(page) == next(c["quote"] for c in answer["citations"] if c["n"] == n)
    assert focused(page)["id"] == "doc-title"  # focus moves into the panel
    page.keyboard.press("Escape")
    assert page.locator("#doc-panel").is_hidden()
    assert "chip" in focused(page)["cls"] and page.evaluate("() => document.activeElement.dataset.n") == str(n)

    tab_to(page, ".sources .source")
    page.keyboard.press("Space")
    highlighted(page)
    tab_to(page, "#doc-close")
    page.keyboard.press("Enter")
    assert page.locator("#doc-panel").is_hidden() and "source" in focused(page)["cls"]

    tab_to(page, ".thumb")
    page.keyboard.press("Enter")
    turn.locator(".feedback-status", has_text="saved").wait_for()
    assert turn.locator(".thumb").first.get_attribute("aria-pressed") == "true"


def test_focus_is_always_visible_and_every_control_has_a_name(open_page):
    page = open_page(width=1280)
    ask(page, QUESTION)
    nameless = page.evaluate("""() => [...document.querySelectorAll('button, a[href], textarea, select, input')]
        .filter(e => e.offsetParent !== null)
        .filter(e => !(e.getAttribute('aria-label') || e.textContent.trim() || (e.labels && e.labels.length)))
        .map(e => e.outerHTML.slice(0, 120))""")
    assert nameless == []
    page.locator("#question").focus()
    tab_to(page, ".answer-text .chip")
    outline = page.evaluate("() => { const s = getComputedStyle(document.activeElement); "
                            "return [s.outlineStyle, s.outlineWidth]; }")
    assert outline[0] != "none" and outline[1] != "0px", outline
    assert page.locator("html").get_attribute("lang") == "en"
    assert page.locator("#announcer").get_attribute("aria-live") == "polite"
    assert page.locator("#banner").get_attribute("role") == "alert"


def test_the_streamed_answer_is_announced_to_screen_readers(open_page):
    page = open_page(width=1280)
    page.evaluate("""() => { window.__said = [];
        new MutationObserver(() => window.__said.push(document.getElementById('announcer').textContent))
            .observe(document.getElementById('announcer'), { childList: true, characterData: true, subtree: true }); }""")
    turn = ask(page, QUESTION)
    said = page.evaluate("() => window.__said")
    final = page.locator("#announcer").text_content()
    first_sentence = turn.locator(".answer-text").text_content().split("[")[0].strip()
    assert first_sentence[:30] in final and "(source 1)" in final and "listed below the answer" in final
    assert len(said) > 2, said  # announced as it streamed in, not once at the end


def test_a_phone_sized_window_holds_the_conversation_the_drawer_and_the_document(open_page, web_server):
    page = open_page(width=390)
    turn = ask(page, QUESTION)
    assert fits_width(page)
    shoot(page, "chat-390-light")
    assert page.locator("#sidebar").evaluate("e => getComputedStyle(e).visibility") == "hidden"
    toggle = page.locator("#toggle-sidebar")
    assert toggle.is_visible() and toggle.get_attribute("aria-expanded") == "false"
    toggle.click()
    assert toggle.get_attribute("aria-expanded") == "true"
    page.locator("#conversation-list .conversation").first.wait_for()
    page.wait_for_function("() => getComputedStyle(document.getElementById('sidebar')).visibility === 'visible'")
    shoot(page, "drawer-390-light")
    page.keyboard.press("Escape")
    assert toggle.get_attribute("aria-expanded") == "false" and focused(page)["id"] == "toggle-sidebar"

    citation = stored(page, web_server)["turns"][0]["answer"]["citations"][0]
    turn.locator(f".sources .source[data-n='{citation['n']}']").click()
    assert highlighted(page) == citation["quote"]
    panel = page.locator("#doc-panel").bounding_box()
    assert panel["width"] <= 390 and panel["x"] >= 0 and fits_width(page)
    assert page.locator("#doc-text mark.cited").is_visible() and page.locator("#doc-close").is_visible()
    shoot(page, "document-390-light")
    page.locator("#doc-close").click()
    assert page.locator("#question").is_visible()


def test_it_reads_at_360_px_in_the_dark_and_on_a_desktop_in_both_schemes(open_page, web_server):
    backgrounds = {}
    for width, scheme in ((360, "dark"), (1280, "light"), (1280, "dark")):
        page = open_page(width=width, scheme=scheme)
        turn = ask(page, QUESTION)
        assert fits_width(page)
        citation = stored(page, web_server)["turns"][0]["answer"]["citations"][0]
        turn.locator(f".answer-text .chip[data-n='{citation['n']}']").first.click()
        assert highlighted(page) == citation["quote"]
        backgrounds[(width, scheme)] = page.evaluate("() => getComputedStyle(document.body).backgroundColor")
        shoot(page, f"chat-{width}-{scheme}")
        if width > 600:  # the desktop keeps the conversation beside the document
            assert page.locator("#sidebar").is_visible() and page.locator("#question").is_visible()
        page.context.close()
    assert backgrounds[(1280, "light")] != backgrounds[(1280, "dark")] == backgrounds[(360, "dark")]


def test_the_page_loads_only_from_its_own_origin_and_weighs_under_150_kb(open_page, web_server):
    page = open_page(width=1280)
    page.wait_for_load_state("networkidle")
    loaded = page.evaluate("""() => [performance.getEntriesByType('navigation')[0], ...performance.getEntriesByType('resource')]
        .map(e => ({ url: e.name, bytes: e.encodedBodySize }))""")
    assert all(item["url"].startswith(web_server + "/") for item in loaded), loaded
    files = [item for item in loaded if "/v1/" not in item["url"] and not item["url"].endswith("/readyz")]
    weight = sum(item["bytes"] for item in files)
    assert 0 < weight < 150_000
    SUMMARY["page_bytes"] = weight
    SUMMARY["page_files"] = len(files)
