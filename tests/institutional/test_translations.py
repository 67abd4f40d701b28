"""FAQ and profile translations travel in the release snapshot; releases without them keep their hash."""

from institutional.snapshot import (
    CompanyProfileData,
    FaqEntry,
    FaqTranslationEntry,
    ReleaseSnapshot,
)


def _snapshot(*, translations=(), descriptions=()) -> ReleaseSnapshot:
    return ReleaseSnapshot(
        number=3,
        profile=CompanyProfileData(name="Pyloto", description="Assistentes.", description_translations=descriptions),
        faqs=(FaqEntry(id=1, question="Preço?", answer="R$ 199/mês", keywords=("preço",), translations=translations),),
        policies=(),
        constraints=(),
        templates={},
    ).with_hash()


def test_translations_survive_the_json_round_trip():
    english = FaqTranslationEntry(language="en", question="Price?", answer="R$ 199/month", keywords=("price",))
    snapshot = _snapshot(translations=(english,), descriptions=(("en", "Assistants."),))
    again = ReleaseSnapshot.from_content(number=3, content=snapshot.content())
    assert again.faqs[0].in_language("en", "pt-BR") == english
    assert again.faqs[0].in_language("pt", "pt-BR").answer == "R$ 199/mês"
    assert again.faqs[0].in_language("es", "pt-BR") is None
    assert again.profile.description_in("en") == "Assistants."
    assert again.profile.description_in("pt") == "Assistentes."
    assert again.content_hash == snapshot.content_hash


def test_a_release_without_translations_keeps_the_layout_and_hash_it_had():
    content = _snapshot().content()
    assert "translations" not in content["faqs"][0]
    assert "description_translations" not in content["profile"]
