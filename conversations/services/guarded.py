"""Output-guard verdicts this process gave: the send-time audit does not re-read a reply finalize just passed."""

from collections import OrderedDict
from collections.abc import Sequence
from threading import Lock

from institutional.guard import GuardResult, check_reply
from institutional.snapshot import ReleaseSnapshot

# Finalize and its send run in the same task (ADR 0017), so the reply just passed is the one the audit
# sees next; a few hundred keys cover every reply in flight in one process.
_ALLOWED_MAX = 512
_allowed: OrderedDict[tuple[str, str, tuple[str, ...]], None] = OrderedDict()
_lock = Lock()


def _key(release: ReleaseSnapshot, text: str, labels: Sequence[str]) -> tuple[str, str, tuple[str, ...]]:
    # The same key the guard compiles a release under: its content, not only its number.
    return (release.content_hash or f"number:{release.number}", text, tuple(labels))


def reply_check(
    *, release: ReleaseSnapshot, text: str, labels: Sequence[str] = (), language: str | None = None
) -> GuardResult:
    """`check_reply`, remembering what it allowed (whether a text passes does not depend on `language`)."""
    verdict = check_reply(release=release, text=text, labels=labels, language=language)
    if verdict.allowed:
        key = _key(release, text, labels)
        with _lock:
            _allowed[key] = None
            _allowed.move_to_end(key)
            while len(_allowed) > _ALLOWED_MAX:
                _allowed.popitem(last=False)
    return verdict


def reply_known_allowed(*, release: ReleaseSnapshot, text: str, labels: Sequence[str] = ()) -> bool:
    """Whether this process already found this exact text and labels allowed under this exact release."""
    with _lock:
        return _key(release, text, labels) in _allowed
