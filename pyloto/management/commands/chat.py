"""`manage.py chat`: talk to the running assistant from a terminal, as a WhatsApp customer would.

It signs and posts webhooks to the running server exactly as Meta does, then shows the replies the
assistant produced for this contact (read from the database, so they show even when no real
WhatsApp account is configured). Type a button or row number to tap it; `/voz <texto>` sends a voice
note saying that text (uploaded to the Graph API it uses, which the local fake serves back, and which
the fake transcription server hears); /quit leaves.

It finds the server the way `make run` starts it: http://127.0.0.1:$PORT, with PORT and the
database from the same environment and `.env`. When nothing answers there, or the server stores
messages in another database than this command reads, it says so in one line and stops.
"""

import secrets
import time
from typing import Any

import httpx
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError

from conversations.models import Message
from pyloto.errors import PylotoError
from pyloto.management.commands.run_stack import LOCAL_DEFAULT_TOKEN, LOCAL_GRAPH_PORT
from pyloto.whatsapp import simulator
from pyloto.whatsapp.client import WhatsAppClient

POLL_INTERVAL_S = 0.3
VOICE_COMMANDS = {"/voz", "/voice"}


def render_message(raw: dict[str, Any]) -> tuple[str, list[dict[str, str]]]:
    """A reply as terminal text, and the options it offers (buttons or list rows) to tap by number."""
    kind = raw.get("kind")
    options: list[dict[str, str]] = []
    lines = [raw.get("body") or raw.get("caption") or ""]
    if kind == "button":
        options = [{"kind": "button_reply", "id": b["id"], "title": b["title"]} for b in raw["buttons"]]
    elif kind == "list":
        lines.append(f"[{raw['button_label']}]")
        for section in raw["sections"]:
            if section.get("title"):
                lines.append(f"  {section['title']}")
            options += [
                {
                    "kind": "list_reply",
                    "id": row["id"],
                    "title": row["title"],
                    "description": row.get("description") or "",
                }
                for row in section["rows"]
            ]
    elif kind in {"image", "video"}:
        lines.insert(0, f"[{kind}: {raw['link']}]")
    for number, option in enumerate(options, start=1):
        suffix = f" — {option['description']}" if option.get("description") else ""
        lines.append(f"  ({number}) {option['title']}{suffix}")
    return "\n".join(line for line in lines if line), options


class Command(BaseCommand):
    help = "Chat with the running assistant as a WhatsApp customer (signed webhooks, replies shown)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--url",
            default="",
            help="Base URL of the running web process (default http://127.0.0.1:$PORT, as `make run` serves).",
        )
        parser.add_argument("--wa-id", default="", help="The customer's WhatsApp id (a random one by default).")
        parser.add_argument("--name", default="Cliente de teste")
        parser.add_argument("--wait", type=float, default=30.0, help="Seconds to wait for a reply.")
        parser.add_argument(
            "--graph-url",
            default="",
            help="Where voice notes are uploaded (default: WHATSAPP_API_BASE_URL, or the fake `make run` starts).",
        )

    def handle(self, *args, url: str, wa_id: str, name: str, wait: float, graph_url: str = "", **options):
        url = url or f"http://127.0.0.1:{settings.PORT}"
        wa_id = wa_id or f"55119{secrets.randbelow(10**8):08d}"
        try:
            seen = set(self._replies(wa_id, set()))
        except DatabaseError as exc:
            raise CommandError(
                f"chat reads the replies from the database, which does not answer ({type(exc).__name__}): "
                "run it with the same DATABASE_URL (environment or .env) as `make run`."
            ) from None
        offered: list[dict[str, str]] = []
        with httpx.Client(base_url=url, timeout=10) as client:
            self._check_server(client, url)
            self.stdout.write(
                f"You are {name} ({wa_id}). Write in Portuguese or English; /voz <texto> sends a voice note; "
                "/quit to leave."
            )
            while True:
                try:
                    text = input("você> ").strip()
                except EOFError:
                    break
                if not text:
                    continue
                if text in {"/quit", "/sair"}:
                    break
                if text.split(" ", 1)[0] in VOICE_COMMANDS:
                    element = self._voice_note(text.split(" ", 1)[-1].strip(), wa_id, graph_url)
                    if element is None:
                        continue
                else:
                    element = self._element(text, offered, wa_id)
                body = simulator.webhook_body(
                    messages=[element], contacts=[simulator.contact_element(wa_id=wa_id, name=name)]
                )
                raw, headers = simulator.signed_request(body, app_secret=settings.WHATSAPP_APP_SECRET)
                try:
                    response = client.post("/webhooks/whatsapp/", content=raw, headers=headers)
                except httpx.TransportError:
                    raise CommandError(self._nothing_answers(url)) from None
                if response.status_code == 403:
                    raise CommandError(
                        f"The server at {url} refused the webhook's signature: run chat with the same "
                        "WHATSAPP_APP_SECRET (environment or .env) as `make run`."
                    )
                if response.status_code != 200:
                    self.stderr.write(f"webhook answered {response.status_code}: {response.text[:200]}")
                    continue
                offered = self._await_replies(wa_id, element["id"], seen, wait, url) or offered

    def _voice_note(self, spoken: str, wa_id: str, graph_url: str) -> dict[str, Any] | None:
        """Upload a voice note saying `spoken` and build the audio message that carries its media id."""
        base_url = graph_url or settings.WHATSAPP_API_BASE_URL
        if base_url == settings.META_GRAPH_API_URL and settings.WHATSAPP_ACCESS_TOKEN == LOCAL_DEFAULT_TOKEN:
            base_url = f"http://127.0.0.1:{LOCAL_GRAPH_PORT}"  # the fake `make run` starts without credentials
        client = WhatsAppClient(
            base_url=base_url,
            api_version=settings.WHATSAPP_API_VERSION,
            phone_number_id=settings.WHATSAPP_PHONE_NUMBER_ID,
            access_token=settings.WHATSAPP_ACCESS_TOKEN,
            timeout_s=10.0,
        )
        try:
            media_id = client.media_upload(
                content=simulator.fake_voice_note(spoken),
                mime_type=simulator.FAKE_VOICE_NOTE_MIME,
                filename="voice.ogg",
            )
        except PylotoError as exc:
            self.stderr.write(f"The voice note could not be uploaded to {base_url} ({exc}); pass --graph-url.")
            return None
        finally:
            client.close()
        return simulator.message_element(kind="audio", media_id=media_id, wa_id=wa_id)

    def _nothing_answers(self, url: str) -> str:
        return (
            f"Nothing answers at {url}: start the assistant with `make run` in another terminal "
            "(with the same PORT and .env), or pass --url."
        )

    def _check_server(self, client: httpx.Client, url: str) -> None:
        try:
            client.get("/healthz")
        except httpx.TransportError:
            raise CommandError(self._nothing_answers(url)) from None

    def _element(self, text: str, offered: list[dict[str, str]], wa_id: str) -> dict[str, Any]:
        if text.isdigit() and 1 <= int(text) <= len(offered):
            option = offered[int(text) - 1]
            return simulator.message_element(
                kind=option["kind"], text=option["title"], reply_id=option["id"], wa_id=wa_id
            )
        return simulator.message_element(text=text, wa_id=wa_id)

    def _replies(self, wa_id: str, seen: set[int]) -> dict[int, Message]:
        rows = (
            Message.objects.filter(conversation__contact__wa_id=wa_id, direction=Message.Direction.OUTBOUND)
            .exclude(pk__in=seen)
            .order_by("pk")
        )
        return {message.pk: message for message in rows}

    def _await_replies(self, wa_id: str, wamid: str, seen: set[int], wait: float, url: str) -> list[dict[str, str]]:
        deadline = time.monotonic() + wait
        offered: list[dict[str, str]] = []
        while time.monotonic() < deadline:
            new = self._replies(wa_id, seen)
            for message_id, message in new.items():
                seen.add(message_id)
                text, offered = render_message(message.raw)
                status = "" if message.status in {"sent", "delivered", "read"} else f"  [{message.status}]"
                self.stdout.write(self.style.SUCCESS(f"pyloto> {text}{status}"))
            if new:
                return offered
            time.sleep(POLL_INTERVAL_S)
        if not Message.objects.filter(wamid=wamid).exists():
            # The server accepted the message, yet it never reached the database this command reads.
            raise CommandError(
                f"The server at {url} stores messages in another database than this command reads "
                f"({settings.DATABASES['default']['NAME']}): run chat with the same DATABASE_URL as `make run`."
            )
        self.stdout.write(self.style.WARNING("(no reply yet — a person may have taken over, or the workers are busy)"))
        return offered
