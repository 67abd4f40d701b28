"""Property test: whatever a correctly signed JSON body holds, the webhook answers 200 or 4xx, never 5xx,
and every message element it acknowledged is stored and, once the worker step read it, is a message, an
event, an unhandled record or a quarantined element: nothing is lost.

The strategies mirror the parser's models (`WebhookMessage`, `WebhookContact`, `WebhookStatus`): the
fields it reads, filled with the values that broke it before (ids past any column size, NUL bytes,
lone surrogates, wrong JSON types) and with arbitrary JSON where it reads nothing.
"""

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conversations.models import Message, QuarantinedElement, UnhandledEvent, WebhookEvent
from pyloto.whatsapp.signature import sign_body
from pyloto.whatsapp.webhook import OPS_FIELDS, SUPPORTED_TYPES, pg_safe
from tests.support import ingest_stored

URL = "/webhooks/whatsapp/"

nasty_text = st.one_of(
    st.text(max_size=40),
    st.text(alphabet=st.sampled_from("ab\x00\ud800\udfff😀ç"), max_size=20),
    st.text(alphabet="0123456789", min_size=120, max_size=300),
    st.just(""),
)
scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), nasty_text)
any_json = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(nasty_text, inner, max_size=3)),
    max_leaves=12,
)
ids = st.one_of(
    st.from_regex(r"\Awamid\.[A-Za-z0-9=_-]{4,40}\Z"),
    nasty_text,
    st.integers(),
    st.none(),
)
people = st.one_of(
    st.none(), st.from_regex(r"\A55119\d{8}\Z"), st.from_regex(r"\A[A-Z]{2}\.[A-Za-z0-9]{1,140}\Z"), nasty_text
)
message_types = st.one_of(st.sampled_from(sorted(SUPPORTED_TYPES)), nasty_text)


@st.composite
def message_elements(draw):
    kind = draw(message_types)
    element = {"id": draw(ids), "type": kind, "timestamp": draw(st.one_of(st.just("1764582000"), scalars))}
    for key in ("from", "from_user_id", "from_parent_user_id", "group_id"):
        if draw(st.booleans()):
            element[key] = draw(people)
    element[kind if isinstance(kind, str) else "x"] = draw(
        st.one_of(
            st.fixed_dictionaries({"body": nasty_text}),
            st.fixed_dictionaries({"id": nasty_text, "caption": nasty_text, "mime_type": nasty_text}),
            st.fixed_dictionaries({"type": nasty_text, "button_reply": any_json}),
            any_json,
        )
    )
    if draw(st.booleans()):
        element["context"] = draw(st.one_of(st.fixed_dictionaries({"id": nasty_text}), any_json))
    return element


contacts = st.fixed_dictionaries(
    {"wa_id": people, "user_id": people, "profile": st.one_of(st.fixed_dictionaries({"name": nasty_text}), any_json)}
)
statuses = st.fixed_dictionaries(
    {"id": ids, "status": nasty_text, "recipient_id": people},
    optional={"pricing": any_json, "errors": st.one_of(st.lists(any_json, max_size=2), any_json)},
)
messages_value = st.fixed_dictionaries(
    {"messaging_product": st.just("whatsapp")},
    optional={
        "contacts": st.one_of(st.lists(contacts, max_size=2), any_json),
        "messages": st.lists(st.one_of(message_elements(), any_json), max_size=4),
        "statuses": st.lists(st.one_of(statuses, any_json), max_size=3),
    },
)
changes = st.one_of(
    st.fixed_dictionaries({"field": st.just("messages"), "value": messages_value}),
    st.fixed_dictionaries(
        {
            "field": st.one_of(
                st.sampled_from(sorted(OPS_FIELDS | {"user_id_update", "user_preferences"})), nasty_text
            ),
            "value": any_json,
        }
    ),
    any_json,
)
bodies = st.one_of(
    st.fixed_dictionaries(
        {
            "object": st.just("whatsapp_business_account"),
            "entry": st.lists(
                st.fixed_dictionaries({"id": nasty_text, "changes": st.lists(changes, max_size=3)}), max_size=2
            ),
        }
    ),
    any_json,
)


def _acknowledged(element: dict) -> bool:
    """The element is somewhere a person can find it again."""
    # As the server sees it: JSON joins a surrogate pair into one character before cleaning.
    clean = pg_safe(json.loads(json.dumps(element)))
    wamid = clean.get("id")
    if isinstance(wamid, str) and Message.objects.filter(wamid=wamid).exists():
        return True
    return (
        UnhandledEvent.objects.filter(raw=clean).exists()
        or WebhookEvent.objects.filter(raw=clean).exists()
        or QuarantinedElement.objects.filter(raw__contains={"value": {"messages": [clean]}}).exists()
    )


def _message_elements(body) -> list[dict]:
    found = []
    if not isinstance(body, dict) or not isinstance(body.get("entry"), list):
        return found
    for entry in body["entry"]:
        for change in entry.get("changes") or [] if isinstance(entry, dict) else []:
            if isinstance(change, dict) and change.get("field") == "messages" and isinstance(change.get("value"), dict):
                found += [m for m in change["value"].get("messages") or [] if isinstance(m, dict)]
    return found


@pytest.mark.django_db
@settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(body=bodies)
def test_any_signed_json_body_answers_200_or_4xx_and_loses_nothing(client, body):
    raw = json.dumps(body).encode()
    response = client.post(
        URL,
        data=raw,
        content_type="application/json",
        HTTP_X_HUB_SIGNATURE_256=sign_body(app_secret="test-app-secret", body=raw),
    )
    assert response.status_code < 500
    if response.status_code != 200:
        assert 400 <= response.status_code < 500
        return
    ingest_stored()  # the worker step the webhook enqueued (its reading must lose nothing either)
    for element in _message_elements(body):
        assert _acknowledged(element), element
