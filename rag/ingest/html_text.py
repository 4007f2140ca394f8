"""HTML to citable text: visible content only, headings kept as markers.

Owns stripping boilerplate (`nav`, page `header`/`footer`, `script`, `style`,
forms, asides), keeping only `main`/`article` when the page has them, laying
out blocks, list items and table rows on their own lines, and reporting where
each `h1`-`h6` heading starts in the extracted text. Uses the standard
library parser so entities are decoded exactly once. Elements a reader never sees (the `hidden` attribute, or a
style with `display: none`, `visibility: hidden`, a zero font size or zero opacity) are left out of the text, and
what they held is returned apart, for the build to report: hidden text is how a page smuggles instructions to a
model past the people who read it.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

from rag.ingest.structure import Marker

_SKIP = {"script", "style", "nav", "footer", "noscript", "template", "aside", "form", "svg", "button", "iframe"}
_CONTENT_ROOTS = {"main", "article"}
_BLOCK = {"p", "div", "section", "ul", "ol", "table", "blockquote", "pre", "dl", "figure", "h1", "h2", "h3", "h4", "h5", "h6", "header"}
_LINE = {"li", "tr", "br", "dt", "dd", "caption", "thead", "tbody"}
_VOID = {"br", "img", "hr", "meta", "link", "input", "col", "area", "base", "source", "wbr"}
_HIDING_STYLE = re.compile(r"display\s*:\s*none|visibility\s*:\s*hidden|font-size\s*:\s*0(?:\.0*)?(?:px|pt|em|rem|%)?\s*(?:;|$|!)"
                           r"|opacity\s*:\s*0(?:\.0*)?\s*(?:;|$|!)", re.IGNORECASE)


def _hides(attrs: list[tuple[str, str | None]]) -> bool:
    """Whether an element's attributes keep it from being seen."""
    named = {name.lower(): value or "" for name, value in attrs}
    return "hidden" in named or bool(_HIDING_STYLE.search(named.get("style", "")))


class _Extractor(HTMLParser):
    def __init__(self, content_only: bool) -> None:
        super().__init__(convert_charrefs=True)
        self.content_only = content_only
        self.parts: list[str] = []
        self.length = 0
        self.skip_depth = 0
        self.content_depth = 0
        self.title = ""
        self.in_title = False
        self.heading: tuple[int, int] | None = None  # (level, offset)
        self.headings: list[tuple[int, int, int]] = []  # (offset, end, level)
        self.cell_index = 0
        self.hiding: tuple[str, int] | None = None  # (tag, nesting) of the hidden element being skipped
        self.hidden: list[str] = []  # the text hidden elements held

    @property
    def active(self) -> bool:
        return self.skip_depth == 0 and (not self.content_only or self.content_depth > 0)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _VOID:
            if tag == "br" and self.active:
                self._newline(1)
            return
        if tag in _CONTENT_ROOTS:
            self.content_depth += 1
        if self.hiding is not None:
            if tag == self.hiding[0]:
                self.hiding = (tag, self.hiding[1] + 1)
            return
        if tag not in _SKIP and _hides(attrs):
            self.hiding = (tag, 1)
            return
        if tag in _SKIP or (tag == "header" and self.content_depth == 0):
            self.skip_depth += 1
            return
        if tag == "title":
            self.in_title = True
        if not self.active:
            return
        self._open_block(tag)

    def _open_block(self, tag: str) -> None:
        if tag in _BLOCK:
            self._newline(2)
        elif tag in _LINE:
            self._newline(1)
            self.cell_index = 0
        elif tag in ("td", "th"):
            if self.cell_index:
                self._emit(" | ")
            self.cell_index += 1
        if re.fullmatch(r"h[1-6]", tag):
            self.heading = (int(tag[1]), self.length)

    def handle_endtag(self, tag: str) -> None:
        if self.hiding is not None:
            if tag == self.hiding[0]:
                self.hiding = (tag, self.hiding[1] - 1) if self.hiding[1] > 1 else None
            if tag in _CONTENT_ROOTS:
                self.content_depth = max(0, self.content_depth - 1)
            return
        if tag == "title":
            self.in_title = False
        if tag in _SKIP or (tag == "header" and self.skip_depth and self.content_depth == 0):
            self.skip_depth = max(0, self.skip_depth - 1)
        elif self.active and re.fullmatch(r"h[1-6]", tag) and self.heading:
            level, start = self.heading
            self.headings.append((start, self.length, level))
            self.heading = None
            self._newline(2)
        elif self.active and tag in _BLOCK:
            self._newline(2)
        if tag in _CONTENT_ROOTS:
            self.content_depth = max(0, self.content_depth - 1)

    def handle_data(self, data: str) -> None:
        if self.hiding is not None:
            self.hidden.append(data)
            return
        if self.in_title:
            self.title += data
            return
        if not self.active:
            return
        text = re.sub(r"\s+", " ", data)
        if self._at_line_start():
            text = text.lstrip()
        if text:
            self._emit(text)

    def _at_line_start(self) -> bool:
        return not self.parts or self.parts[-1].endswith(("\n", " "))

    def _emit(self, text: str) -> None:
        self.parts.append(text)
        self.length += len(text)

    def _newline(self, count: int) -> None:
        if not self.parts:
            return
        tail = "".join(self.parts[-3:])
        trailing = len(tail) - len(tail.rstrip("\n"))
        if trailing < count:
            # Drop spaces left at the end of the line before breaking it.
            while self.parts and self.parts[-1].endswith(" ") and not self.parts[-1].strip():
                self.length -= len(self.parts.pop())
            self._emit("\n" * (count - trailing))


def extract_html(html: str) -> tuple[str, str, list[Marker], str]:
    """(text, title, heading markers, the text of hidden elements) of an HTML page."""
    content_only = bool(re.search(r"<(main|article)[\s>]", html, re.IGNORECASE))
    parser = _Extractor(content_only)
    parser.feed(html)
    parser.close()
    text = "".join(parser.parts)
    markers = [
        Marker(start, level, re.sub(r"\s+", " ", text[start:end]).strip(), "heading")
        for start, end, level in parser.headings
        if text[start:end].strip()
    ]
    stripped = text.rstrip()
    title = re.sub(r"\s+", " ", parser.title).strip()
    h1 = next((m.label for m in markers if m.level == 1), "")
    return stripped, h1 or title, markers, " ".join(" ".join(parser.hidden).split())
