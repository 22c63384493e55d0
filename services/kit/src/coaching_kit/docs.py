"""The published contract over HTTP, on every service's port (docs/contract.md): `GET /docs`,
a page of the AsyncAPI document, and the document itself at `/docs/asyncapi.yaml` (byte for
byte the committed `contracts/asyncapi.yaml`) and `/docs/asyncapi.json`. Rendered once, from
the installed contract models; the page needs no network (no CDN), so it works on an isolated
cluster too.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

from faststream.asgi import AsgiResponse, get

import coaching_contracts.asyncapi as asyncapi

_e = html.escape
_SCHEMA_REF = re.compile(r'"#/components/schemas/([\w.\-]+)"')
_STYLE = """
body { font: 15px/1.45 system-ui, sans-serif; margin: 2rem auto; max-width: 70rem;
padding: 0 1rem; }
table { border-collapse: collapse; width: 100%; } td, th { border-bottom: 1px solid #ddd;
padding: .3rem .5rem; text-align: left; vertical-align: top; } code, pre { font-size: 13px; }
pre { background: #f6f6f6; padding: .6rem; overflow-x: auto; } section { margin: 1.5rem 0; }
small { color: #666; font-weight: normal; }
"""


def docs_routes(service: str) -> list[tuple[str, Any]]:
    """The three routes; the document is generated here, once per app."""
    document = asyncapi.generate()
    return [
        ("/docs", _fixed(page(document, service), "text/html; charset=utf-8")),
        ("/docs/asyncapi.yaml", _fixed(asyncapi.render_yaml(document), "application/yaml")),
        ("/docs/asyncapi.json", _fixed(asyncapi.render_json(document), "application/json")),
    ]


def _fixed(text: str, content_type: str) -> Any:
    body = text.encode()

    @get
    async def route(scope: Any) -> AsgiResponse:
        return AsgiResponse(body, 200, headers={"content-type": content_type})

    return route


def page(document: Mapping[str, Any], service: str) -> str:
    """A self-contained HTML page of the document."""
    info = document["info"]
    title = f"{info['title']} {info['version']}"
    parts = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>{_e(title)}</title>",
        f"<style>{_STYLE}</style></head><body>",
        f"<h1>{_e(title)} <small>AsyncAPI {_e(document['asyncapi'])}, "
        f"served by {_e(service)}</small></h1>",
        "<p><a href='/docs/asyncapi.yaml'>asyncapi.yaml</a> · "
        "<a href='/docs/asyncapi.json'>asyncapi.json</a></p>",
        f"<pre>{_e(info['description'])}</pre>",
        _channels(document["channels"]),
        _operations(document["operations"]),
        _messages(document["components"]["messages"], document["components"]["schemas"]),
        _schemas(document["components"]["schemas"], document["components"]["messages"]),
        "</body></html>",
    ]
    return "\n".join(parts) + "\n"


def _channels(channels: Mapping[str, Any]) -> str:
    rows = [
        (_e(channel["address"] or f"({name})"), _links(channel["messages"]), _e(_about(channel)))
        for name, channel in channels.items()
    ]
    return _table("Channels", ["address", "messages", "description"], rows)


def _operations(operations: Mapping[str, Any]) -> str:
    rows = []
    for name, operation in operations.items():
        channel = operation["channel"]["$ref"].rsplit("/", 1)[-1]
        names = [ref["$ref"].rsplit("/", 1)[-1] for ref in operation["messages"]]
        rows.append((_e(name), _e(operation["action"]), _e(channel), _links(names)))
    return _table("Operations", ["operation", "action", "channel", "messages"], rows)


def _messages(messages: Mapping[str, Any], schemas: Mapping[str, Any]) -> str:
    sections = []
    for name, message in messages.items():
        payload = message["payload"]
        schema = schemas.get(payload.get("$ref", "").rsplit("/", 1)[-1], payload)
        facts = f"kind {message.get('x-kind', '-')}, Kafka key {message.get('x-key') or '-'}"
        outcomes = message.get("x-outcomes")
        if outcomes:
            facts += "; outcome " + " or ".join(outcomes)
        sections.append(
            f"<section id='message-{_e(name)}'><h3><code>{_e(name)}</code></h3>"
            f"<p>{_e(_about(message))}</p><p><small>{_e(facts)}</small></p>"
            f"<details open><summary>payload</summary>{_json(schema)}</details>"
            f"<details><summary>headers</summary>{_json(message['headers'])}</details></section>"
        )
    return "<h2>Messages</h2>" + "".join(sections)


def _schemas(schemas: Mapping[str, Any], messages: Mapping[str, Any]) -> str:
    # Payloads are shown with their message; here the shared parts and the headers.
    sections = [
        f"<section id='schema-{_e(name)}'><h3><code>{_e(name)}</code></h3>{_json(schema)}</section>"
        for name, schema in schemas.items()
        if name not in messages
    ]
    return "<h2>Shared schemas</h2>" + "".join(sections)


def _about(item: Mapping[str, Any]) -> str:
    return str(item.get("description") or item.get("summary") or "")


def _links(names: Any) -> str:
    return "<br>".join(f"<a href='#message-{_e(n)}'><code>{_e(n)}</code></a>" for n in names)


def _json(value: Any) -> str:
    text = html.escape(json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False), False)
    # A shared schema's reference links to it on this page (a payload's to its message).
    return "<pre>" + _SCHEMA_REF.sub(_ref_link, text) + "</pre>"


def _ref_link(match: re.Match[str]) -> str:
    name = match.group(1)
    anchor = f"message-{name}" if name.startswith("coaching.") else f"schema-{name}"
    return f'"<a href="#{anchor}">#/components/schemas/{name}</a>"'


def _table(title: str, headings: list[str], rows: Iterable[tuple[str, ...]]) -> str:
    head = "".join(f"<th>{h}</th>" for h in headings)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f"<h2>{title}</h2><table><tr>{head}</tr>{body}</table>"
