"""The web page as files and headers: served at / under a strict CSP, small, self-contained, packaged, text-only DOM.

What the page does in a browser is tested in tests/web/ (headless Chromium); these tests need no browser.
"""

import logging
import re
import tomllib
from fnmatch import fnmatch
from html.parser import HTMLParser

import pytest
from fastapi.testclient import TestClient

from rag.assistant import Assistant
from server.app import create_app
from server.web import STATIC
from tests.conftest import ROOT
from tests.server.test_app import assert_error

FILES = sorted(p for p in STATIC.rglob("*") if p.is_file())
SVG_NAMESPACE = "http://www.w3.org/2000/svg"  # a name, never fetched


@pytest.fixture
def client(built, settings, fake_embedder):
    with TestClient(create_app(settings, Assistant(settings, embedder=fake_embedder))) as c:
        yield c


class Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.script_text = ""
        self._in_script = False

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        self._in_script = tag == "script"

    def handle_endtag(self, tag):
        self._in_script = False

    def handle_data(self, data):
        if self._in_script:
            self.script_text += data.strip()


def test_the_page_is_served_at_the_root_under_a_strict_content_security_policy(client):
    response = client.get("/")
    assert response.status_code == 200 and response.headers["content-type"] == "text/html; charset=utf-8"
    policy = dict(part.strip().split(" ", 1) for part in response.headers["content-security-policy"].split(";"))
    assert policy["default-src"] == "'self'" and policy["script-src"] == "'self'" and policy["style-src"] == "'self'"
    assert policy["connect-src"] == "'self'" and policy["object-src"] == "'none'" and policy["frame-ancestors"] == "'none'"
    assert policy["require-trusted-types-for"] == "'script'"  # a string assigned to innerHTML throws instead of parsing
    assert "unsafe" not in response.headers["content-security-policy"]
    assert response.headers["x-content-type-options"] == "nosniff" and response.headers["referrer-policy"] == "no-referrer"
    assert client.head("/").status_code == 200


def test_the_page_has_no_inline_script_style_or_handler_and_loads_only_its_own_files(client):
    parsed = Tags()
    parsed.feed(client.get("/").text)
    scripts = [attrs for tag, attrs in parsed.tags if tag == "script"]
    assert scripts and all(a.get("src", "").startswith("/static/") and a.get("type") == "module" for a in scripts)
    assert parsed.script_text == ""
    assert not [(tag, name) for tag, attrs in parsed.tags for name in attrs if name.startswith("on") or name == "style"]
    assert "style" not in {tag for tag, _ in parsed.tags}
    linked = [a.get("src") or a.get("href") for tag, a in parsed.tags if tag in ("script", "link")]
    for url in linked:
        assert client.get(url).status_code == 200, url


def test_every_static_file_is_served_with_its_type_and_no_other_path_is(client):
    types = {".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml", ".html": "text/html"}
    for path in FILES:
        response = client.get(f"/static/{path.relative_to(STATIC).as_posix()}")
        assert response.status_code == 200 and response.headers["content-type"].startswith(types[path.suffix])
    for bad in ("/static/nope.js", "/static/js", "/static/../web.py", "/static/%2e%2e/web.py", "/static/js/../../app.py"):
        assert "the chat page is at /" in assert_error(client.get(bad), 404, "not_found"), bad


def test_the_page_is_small_and_fetches_nothing_from_another_origin():
    assert sum(p.stat().st_size for p in FILES) < 150_000
    for path in FILES:
        text = path.read_text(encoding="utf-8").replace(SVG_NAMESPACE, "")
        assert not re.search(r"(https?:)?//[a-z0-9.-]+\.[a-z]{2,}", text, re.I), f"{path.name} names another origin"
        assert "@import" not in text and "url(" not in text, path.name


def test_the_scripts_never_parse_markup_or_evaluate_strings():
    scripts = [p for p in FILES if p.suffix == ".js"]
    assert scripts
    for path in scripts:
        text = path.read_text(encoding="utf-8")
        for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function", "setAttribute(\"style\""):
            assert sink not in text, f"{path.name} uses {sink}"
        for module in re.findall(r'from "(\./[^"]+)"', text):
            assert (path.parent / module).is_file(), f"{path.name} imports missing {module}"


def test_every_static_file_is_package_data():
    data = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]["package-data"]["server"]
    for path in FILES:
        name = path.relative_to(STATIC.parent).as_posix()
        assert any(fnmatch(name, pattern) for pattern in data), f"{name} is not in [tool.setuptools.package-data] server"


def test_page_requests_are_counted_and_logged(client, caplog):
    with caplog.at_level(logging.INFO, logger="rag.access"):
        client.get("/")
        client.get("/static/js/main.js")
    metrics = client.get("/metrics").text
    assert 'rag_requests_total{method="GET",route="/",status="200"} 1.0' in metrics
    assert 'route="/static/{name:path}",status="200"' in metrics
    assert any('"route": "/"' in r.getMessage() and '"status": 200' in r.getMessage() for r in caplog.records)


def test_an_unknown_route_names_the_page(client):
    assert "the chat page is at /" in assert_error(client.get("/v2/nothing"), 404, "not_found")
