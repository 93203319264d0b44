"""The console and the API docs load nothing from outside the API: every asset is vendored."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import httpx

from api.app import create_app
from api.console import STATIC_DIR
from tests.api._support import make_settings

VENDOR = STATIC_DIR / "vendor"


def test_vendored_files_match_their_recorded_versions_and_hashes() -> None:
    record = json.loads((VENDOR / "VERSIONS.json").read_text())
    assert set(record) == {"cytoscape", "cytoscape-dagre", "swagger-ui-dist", "redoc"}
    for package, info in record.items():
        assert re.fullmatch(r"\d+\.\d+\.\d+", info["version"]), package
        assert info["license"] in ("MIT", "Apache-2.0"), package
        assert "LICENSE" in info["files"], package
        for name, digest in info["files"].items():
            data = (VENDOR / package / name).read_bytes()
            assert hashlib.sha256(data).hexdigest() == digest, f"{package}/{name}"


def test_console_code_loads_only_its_own_files() -> None:
    for path in STATIC_DIR.glob("*.*"):
        text = path.read_text()
        assert not re.search(r"""(src|href)=["']https?:""", text), path.name
        assert not re.search(r"""from ["']https?:|import\(["']https?:""", text), path.name


async def test_docs_pages_reference_only_local_assets(http: httpx.AsyncClient) -> None:
    for page in ("/docs", "/redoc", "/ui", "/ui/pipelines/pl-1", "/ui/tenants/t"):
        r = await http.get(page)
        assert r.status_code == 200, page
        assert not re.search(r"""(src|href)=["']https?:""", r.text), page
        for asset in re.findall(r"""(?:src|href)=["'](/ui/static/[^"']+)""", r.text):
            assert (await http.get(asset)).status_code == 200, asset
    assert (await http.get("/openapi.json")).json()["paths"]["/v1/graph"]


async def test_console_page_carries_the_temporal_web_ui_address(tmp_path: Path) -> None:
    settings = make_settings(
        None, f"sqlite:///{tmp_path / 't.db'}", temporal_ui_url="http://ui:8233"
    )
    app = create_app(settings, migrate=False)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        page = (await http.get("/ui/pipelines/pl-1")).text
    assert '<meta name="temporal-ui" content="http://ui:8233">' in page
    assert '<meta name="temporal-namespace" content="default">' in page
