"""The OpenAPI document and the interactive docs (Swagger UI, vendored under static/): no credential needed."""

from __future__ import annotations

import html
from pathlib import Path

from aiohttp import web

from ussd_server.api.envelope import JSON

STATIC = Path(__file__).parent / "static" / "swagger-ui"
# Swagger UI styles itself inline; everything else comes from this server.
CSP = "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'"


def index_html(prefix: str) -> str:
    assets = html.escape(f"{prefix}/docs/assets")
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Enerlectra API</title>
<link rel="icon" type="image/png" href="{assets}/favicon-32x32.png">
<link rel="stylesheet" href="{assets}/swagger-ui.css">
</head>
<body data-openapi="{html.escape(prefix)}/openapi.json">
<div id="swagger-ui"></div>
<script src="{assets}/swagger-ui-bundle.js"></script>
<script src="{assets}/init.js"></script>
</body>
</html>
"""


def add_docs(app: web.Application, prefix: str, document_json: bytes) -> None:
    page = index_html(prefix).encode()

    async def openapi(_request: web.Request) -> web.Response:
        return web.Response(body=document_json, content_type=JSON)

    async def docs(_request: web.Request) -> web.Response:
        return web.Response(
            body=page, content_type="text/html", charset="utf-8", headers={"Content-Security-Policy": CSP}
        )

    app.router.add_get("/openapi.json", openapi)
    app.router.add_get("/docs", docs)
    app.router.add_static("/docs/assets", STATIC, append_version=False)
