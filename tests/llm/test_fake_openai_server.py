"""The fake OpenAI server itself: schema-valid generation, raw HTTP contract, control API and concurrency."""

import asyncio

import aiohttp
import httpx
import jsonschema
import pytest

from tests.fakes.openai_server import DEFAULT_TEXT, running_openai_server, schema_instance

SCHEMAS = {
    "enum_const_bounds": {
        "type": "object",
        "properties": {
            "kind": {"type": "string", "enum": ["button", "list"]},
            "version": {"const": 2},
            "title": {"type": "string", "minLength": 60, "maxLength": 80},
            "short": {"type": "string", "maxLength": 3},
            "count": {"type": "integer", "exclusiveMinimum": 3, "maximum": 9},
            "ratio": {"type": "number", "minimum": 0.25, "maximum": 0.5},
            "negative": {"type": "integer", "maximum": -4},
            "flag": {"type": "boolean"},
        },
        "required": ["kind", "version", "title", "short", "count", "ratio", "negative", "flag"],
        "additionalProperties": False,
    },
    "arrays_refs_nullable": {
        "$defs": {
            "Row": {
                "type": "object",
                "properties": {
                    "id": {"type": "string", "pattern": "^[a-z]+_[0-9]+$"},
                    "note": {"type": ["string", "null"]},
                },
                "required": ["id", "note"],
                "additionalProperties": False,
            }
        },
        "type": "object",
        "properties": {
            "rows": {"type": "array", "items": {"$ref": "#/$defs/Row"}, "minItems": 3, "maxItems": 4},
            "empty": {"type": "array", "items": {"type": "string"}, "maxItems": 0},
            "unique": {"type": "array", "items": {"enum": ["a", "b", "c"]}, "minItems": 3, "uniqueItems": True},
            "maybe": {"anyOf": [{"$ref": "#/$defs/Row"}, {"type": "null"}]},
            "merged": {"allOf": [{"$ref": "#/$defs/Row"}]},
            "pair": {"type": "array", "prefixItems": [{"type": "integer"}, {"type": "string"}], "items": False},
        },
        "required": ["rows", "empty", "unique", "maybe", "merged", "pair"],
        "additionalProperties": False,
    },
    "recursive": {
        "$defs": {
            "Node": {
                "type": "object",
                "properties": {
                    "label": {"type": "string", "maxLength": 5},
                    "children": {"type": "array", "items": {"$ref": "#/$defs/Node"}},
                    "parent": {"anyOf": [{"$ref": "#/$defs/Node"}, {"type": "null"}]},
                },
                "required": ["label", "children", "parent"],
                "additionalProperties": False,
            }
        },
        "$ref": "#/$defs/Node",
    },
}


@pytest.mark.parametrize("name", sorted(SCHEMAS))
def test_generated_instance_is_valid(name):
    schema = SCHEMAS[name]

    instance = schema_instance(schema)

    jsonschema.validate(instance, schema, cls=jsonschema.Draft202012Validator)
    assert schema_instance(schema) == instance, "generation must be deterministic"


def test_generated_instance_honours_each_keyword():
    instance = schema_instance(SCHEMAS["enum_const_bounds"])

    assert instance["kind"] == "button"
    assert instance["version"] == 2
    assert 60 <= len(instance["title"]) <= 80
    assert instance["count"] == 4
    assert instance["negative"] == -4

    arrays = schema_instance(SCHEMAS["arrays_refs_nullable"])
    assert len(arrays["rows"]) == 3
    assert arrays["empty"] == []
    assert arrays["unique"] == ["a", "b", "c"]
    assert arrays["maybe"]["id"] == arrays["rows"][0]["id"]


def _chat_body(schema: dict, name: str = "Out", content: str = "oi") -> dict:
    return {
        "model": "gpt-4o-mini",
        "messages": [{"role": "user", "content": content}],
        "response_format": {"type": "json_schema", "json_schema": {"name": name, "schema": schema, "strict": True}},
    }


def test_raw_http_contract_with_and_without_v1_prefix():
    with running_openai_server(latency_ms=0) as fake:
        for url in (f"{fake.base_url}/chat/completions", f"{fake.root_url}/chat/completions"):
            response = httpx.post(url, json=_chat_body(SCHEMAS["enum_const_bounds"]))

            assert response.status_code == 200
            body = response.json()
            assert body["object"] == "chat.completion"
            assert body["model"] == "gpt-4o-mini"
            assert body["id"].startswith("chatcmpl-")
            assert body["choices"][0]["finish_reason"] == "stop"
            usage = body["usage"]
            assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
            content = httpx.Response(200, content=body["choices"][0]["message"]["content"]).json()
            jsonschema.validate(content, SCHEMAS["enum_const_bounds"])
        assert [r["path"] for r in fake.requests()] == ["/v1/chat/completions", "/chat/completions"]


def test_control_api_scripts_configures_and_records_over_http():
    with running_openai_server(latency_ms=0) as fake:
        root = fake.root_url
        script = [
            {"match": {"schema_name": "Out", "contains": "preço"}, "response": {"kind": "list"}},
            {"match": {"schema_name": "Other"}, "status": 429},
        ]
        assert httpx.post(f"{root}/_fake/script", json=script).json() == {"queued": 2}

        other = httpx.post(f"{fake.base_url}/chat/completions", json=_chat_body({}, name="Other"))
        unmatched = httpx.post(f"{fake.base_url}/chat/completions", json=_chat_body({"type": "string"}, content="oi"))
        matched = httpx.post(f"{fake.base_url}/chat/completions", json=_chat_body({}, content="qual o preço?"))

        assert other.status_code == 429
        assert other.json()["error"]["type"] == "rate_limit_exceeded"
        assert unmatched.json()["choices"][0]["message"]["content"] == f'"{DEFAULT_TEXT}"'
        assert matched.json()["choices"][0]["message"]["content"] == '{"kind": "list"}'

        records = httpx.get(f"{root}/_fake/requests").json()["requests"]
        assert [(r["schema_name"], r["status"], r["scripted"]) for r in records] == [
            ("Other", 429, True),
            ("Out", 200, False),
            ("Out", 200, True),
        ]
        assert all(r["received_at"] <= r["responded_at"] for r in records)

        assert httpx.post(f"{root}/_fake/config", json={"error_rate": 1.0}).json()["error_rate"] == 1.0
        assert httpx.post(f"{fake.base_url}/chat/completions", json=_chat_body({})).status_code == 500
        assert httpx.post(f"{root}/_fake/config", json={"bogus": 1}).status_code == 400

        httpx.delete(f"{root}/_fake/requests")
        assert fake.requests() == []
        httpx.post(f"{root}/_fake/reset")
        assert httpx.get(f"{root}/_fake/config").json()["error_rate"] == 0.0


def test_default_latency_is_applied_and_recorded():
    with running_openai_server(latency_ms=60) as fake:
        httpx.post(f"{fake.base_url}/chat/completions", json=_chat_body({"type": "integer"}))
        fake.script([{"response": 1, "delay_ms": 0}])
        httpx.post(f"{fake.base_url}/chat/completions", json=_chat_body({"type": "integer"}))

        slow, fast = fake.requests()
        assert slow["responded_at"] - slow["received_at"] >= 0.06
        assert fast["responded_at"] - fast["received_at"] < 0.05


def test_serves_hundreds_of_concurrent_requests():
    concurrency = 300

    async def burst(url: str) -> list[tuple[int, dict]]:
        connector = aiohttp.TCPConnector(limit=0)
        async with aiohttp.ClientSession(connector=connector) as session:

            async def one(i: int) -> tuple[int, dict]:
                async with session.post(url, json=_chat_body(SCHEMAS["enum_const_bounds"], content=str(i))) as r:
                    return r.status, await r.json()

            return await asyncio.gather(*(one(i) for i in range(concurrency)))

    # Nothing is answered until all are in flight together: a one-at-a-time server would time the hold out.
    with running_openai_server(latency_ms=0, hold_in_flight=concurrency, hold_timeout_s=60) as fake:
        responses = asyncio.run(burst(f"{fake.base_url}/chat/completions"))
        records = fake.requests()

    failed = [body for status, body in responses if status != 200]
    assert not failed, failed[0]
    assert len(records) == concurrency
    assert max(r["received_at"] for r in records) <= min(r["responded_at"] for r in records)


def test_a_hold_that_never_fills_fails_loudly_naming_the_counts():
    with running_openai_server(latency_ms=0, hold_in_flight=3, hold_timeout_s=0.2) as fake:
        response = httpx.post(f"{fake.base_url}/chat/completions", json=_chat_body({"type": "integer"}))

    assert response.status_code == 400
    assert "only 1 arrived" in response.json()["error"]["message"]
