"""The loader: size budget, the built-in release, publish seen by other processes, stale serving."""

import time

import pytest
from django.conf import settings
from django.core.cache.backends.redis import RedisCache
from django.db import OperationalError

from institutional import loader, selectors, services
from institutional.builtin import BUILTIN_SLUGS
from institutional.loader import POINTER_KEY, ReleaseLoader
from institutional.snapshot import BUILTIN_NUMBER

from .factories import CompanyProfileFactory, FaqFactory, PolicyFactory

pytestmark = pytest.mark.django_db


def _second_client() -> RedisCache:
    """A cache client of its own, as another worker process would hold."""
    return RedisCache(settings.REDIS_URL, {"KEY_PREFIX": settings.CACHES["default"].get("KEY_PREFIX", "")})


def _publish(django_capture_on_commit_callbacks, note="v"):
    with django_capture_on_commit_callbacks(execute=True):
        return services.release_publish(user=None, note=note)


def test_before_any_publish_the_runtime_gets_the_built_in_release_with_every_built_in_constraint():
    release = selectors.current_release()
    assert release.number == BUILTIN_NUMBER
    assert {rule.slug for rule in release.constraints} == BUILTIN_SLUGS
    assert set(release.templates) == {"decide_state", "write_reply", "choose_message_type"}
    assert "Nunca afirme" in release.prompt_context()


def test_prompt_context_trims_faqs_by_priority_deterministically_within_the_budget(
    django_capture_on_commit_callbacks,
):
    CompanyProfileFactory()
    PolicyFactory(title="Privacidade", body="Nunca pedimos senhas.", priority=90)
    for index in range(200):
        FaqFactory(question=f"Pergunta {index:03d}?", answer="Uma resposta de tamanho médio. " * 4, priority=index % 10)
    FaqFactory(question="A mais importante?", answer="Sempre presente.", priority=1000)
    _publish(django_capture_on_commit_callbacks)
    release = selectors.current_release()

    text = release.prompt_context(budget_chars=3000)
    report = release.context_report(budget_chars=3000)
    assert len(text) <= 3000
    assert text == report.text
    assert report.faqs_total == 201 and 0 < report.faqs_included < 201 and report.truncated
    # The profile, every rule and the policies always fit first; then FAQs from the highest priority down.
    assert "Nome: Pyloto" in text and "Nunca afirme" in text and "Nunca pedimos senhas." in text
    assert text.index("P: A mais importante?") < text.index("P: Pergunta")
    included_priorities = [int(line[12:15]) % 10 for line in text.splitlines() if line.startswith("P: Pergunta")]
    assert included_priorities == sorted(included_priorities, reverse=True)
    assert min(included_priorities) >= 8  # nothing of lower priority got in while higher ones were left out
    # Same content, same budget: the same text, byte for byte, in another process too.
    other = ReleaseLoader(cache=_second_client()).get()
    assert other.prompt_context(budget_chars=3000) == text
    assert len(release.prompt_context()) <= 6000


def test_a_tiny_budget_still_returns_text_within_the_budget():
    release = selectors.current_release()
    assert len(release.prompt_context(budget_chars=100)) == 100


def test_a_publish_reaches_another_process_within_a_second_without_a_restart(django_capture_on_commit_callbacks):
    FaqFactory(answer="primeira")
    _publish(django_capture_on_commit_callbacks, "v1")
    other_process = ReleaseLoader(cache=_second_client())
    assert other_process.get().number == 1

    faq = selectors.Faq.objects.get()
    faq.answer = "segunda"
    faq.save()
    _publish(django_capture_on_commit_callbacks, "v2")
    published_at = time.monotonic()

    # This process was told on commit; the other one notices through the Redis pointer on its first look
    # once its check interval has passed. The interval is what bounds "within a second", not this machine.
    assert selectors.current_release().number == 2
    assert other_process.check_interval_s <= 1.0
    time.sleep(max(0.0, other_process.check_interval_s - (time.monotonic() - published_at)))
    assert other_process.get().number == 2
    assert other_process.get().faqs[0].answer == "segunda"


def test_another_process_reads_the_release_from_redis_without_touching_the_database(
    django_capture_on_commit_callbacks, django_assert_num_queries
):
    FaqFactory()
    _publish(django_capture_on_commit_callbacks)
    other_process = ReleaseLoader(cache=_second_client(), check_interval_s=0)
    with django_assert_num_queries(0):
        assert other_process.get().number == 1
        assert other_process.get().number == 1


def test_a_rollback_reaches_another_process_too(django_capture_on_commit_callbacks):
    FaqFactory()
    first = _publish(django_capture_on_commit_callbacks, "v1")
    FaqFactory()
    _publish(django_capture_on_commit_callbacks, "v2")
    other_process = ReleaseLoader(cache=_second_client(), check_interval_s=0)
    assert other_process.get().number == 2
    with django_capture_on_commit_callbacks(execute=True):
        services.release_rollback(release=first, user=None, note="volta")
    assert other_process.get().number == 1


def test_a_lost_redis_pointer_is_read_back_from_the_database(django_capture_on_commit_callbacks):
    FaqFactory()
    _publish(django_capture_on_commit_callbacks)
    _second_client().delete(POINTER_KEY)
    fresh = ReleaseLoader(cache=_second_client())
    assert fresh.get().number == 1
    assert _second_client().get(POINTER_KEY).startswith("1:")


def test_when_the_database_is_unreachable_the_last_loaded_release_keeps_being_served(
    django_capture_on_commit_callbacks, monkeypatch, caplog
):
    FaqFactory(answer="publicada")
    _publish(django_capture_on_commit_callbacks)
    process = ReleaseLoader(check_interval_s=0)
    assert process.get().number == 1

    def unreachable(*args, **kwargs):
        raise OperationalError("connection refused")

    # Redis lost its keys and the database is down: only the process's own copy is left.
    _second_client().clear()
    monkeypatch.setattr(loader, "_current_token_from_db", unreachable)
    monkeypatch.setattr(loader, "_release_content_from_db", unreachable)
    served = process.get()
    assert served.number == 1 and served.faqs[0].answer == "publicada"
    assert "institutional_release_stale" in caplog.text


def test_a_process_that_never_loaded_falls_back_to_the_built_in_release_when_the_database_is_down(monkeypatch, caplog):
    def unreachable(*args, **kwargs):
        raise OperationalError("connection refused")

    monkeypatch.setattr(loader, "_current_token_from_db", unreachable)
    served = ReleaseLoader().get()
    assert served.number == BUILTIN_NUMBER and {rule.slug for rule in served.constraints} == BUILTIN_SLUGS
    assert "institutional_release_stale" in caplog.text


def test_when_redis_is_unreachable_the_database_answers(django_capture_on_commit_callbacks):
    FaqFactory()
    _publish(django_capture_on_commit_callbacks)
    broken = RedisCache("redis://127.0.0.1:1/0", {"OPTIONS": {"socket_connect_timeout": 0.2}})
    assert ReleaseLoader(cache=broken).get().number == 1


@pytest.mark.django_db
def test_an_edit_can_make_a_built_in_rule_stricter_but_never_weaker():
    from institutional.models import Constraint

    services.demo_content_seed()
    row = Constraint.objects.get(slug="no-contract-closure")
    row.severity, row.action = "low", "replace"
    row.save()
    rule = next(r for r in selectors.draft_snapshot().constraints if r.slug == "no-contract-closure")
    assert (rule.severity, rule.action) == ("critical", "handoff")
