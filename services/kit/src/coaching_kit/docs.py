"""The published contract over HTTP, on every service's port.

`GET /docs` is a page listing the channels, operations and messages with their payload
schemas; `/docs/asyncapi.yaml` and `/docs/asyncapi.json` are the AsyncAPI document itself,
the YAML byte for byte the committed `contracts/asyncapi.yaml`. All three are rendered once,
when the app is built, from the installed contract models; the page needs no network (no
CDN), so it works on an isolated cluster too.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Mapping
from typing import Any

from faststream.asgi import AsgiResponse, get

import coaching_contracts.asyncapi as asyncapi

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
    yaml_body = asyncapi.render_yaml(document).encode()
    json_body = asyncapi.render_json(document).encode()
    page_body = page(document, service).encode()

    @get
    async def docs(scope: Any) -> AsgiResponse:
        return AsgiResponse(page_body, 200, headers={"content-type": "text/html; charset=utf-8"})

    @get
    async def docs_yaml(scope: Any) -> AsgiResponse:
        return AsgiResponse(yaml_body, 200, headers={"content-type": "application/yaml"})

    @get
    async def docs_json(scope: Any) -> AsgiResponse:
        return AsgiResponse(json_body, 200, headers={"content-type": "application/json"})

    return [("/docs", docs), ("/docs/asyncapi.yaml", docs_yaml), ("/docs/asyncapi.json", docs_json)]


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
        _row(
            _e(channel["address"] or f"({name})"), _links(channel["messages"]), _e(_about(channel))
        )
        for name, channel in channels.items()
    ]
    return _table("Channels", ["address", "messages", "description"], rows)


def _operations(operations: Mapping[str, Any]) -> str:
    rows = []
    for name, operation in operations.items():
        channel = operation["channel"]["$ref"].rsplit("/", 1)[-1]
        names = [ref["$ref"].rsplit("/", 1)[-1] for ref in operation["messages"]]
        rows.append(_row(_e(name), _e(operation["action"]), _e(channel), _links(names)))
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
    shared = {name: schema for name, schema in schemas.items() if name not in messages}
    sections = [
        f"<section id='schema-{_e(name)}'><h3><code>{_e(name)}</code></h3>{_json(schema)}</section>"
        for name, schema in shared.items()
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


def _table(title: str, headings: list[str], rows: list[str]) -> str:
    head = "".join(f"<th>{h}</th>" for h in headings)
    return f"<h2>{title}</h2><table><tr>{head}</tr>{''.join(rows)}</table>"


def _row(*cells: str) -> str:
    return "<tr>" + "".join(f"<td>{cell}</td>" for cell in cells) + "</tr>"


def _e(text: str) -> str:
    return html.escape(text, quote=True)
