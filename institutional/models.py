"""Editable drafts of the institutional content, immutable numbered releases, and guard violations."""

from __future__ import annotations

import re
import string
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from institutional.builtin import TEMPLATE_VARIABLE_HELP, TEMPLATE_VARIABLES
from institutional.guard import compile_pattern
from institutional.snapshot import TEMPLATE_NAMES


class ReleaseImmutableError(Exception):
    """A published release was about to be changed."""


def split_lines(value: str) -> list[str]:
    """One item per line, blank lines and surrounding spaces dropped."""
    return [line.strip() for line in (value or "").splitlines() if line.strip()]


def split_keywords(value: str) -> list[str]:
    return [word.strip() for word in re.split(r"[,;\n]", value or "") if word.strip()]


class CompanyProfile(models.Model):
    """Draft of the company profile; there is one. Edits go live only when a release is published."""

    # The single row always has this primary key, so the profile can be fetched without a query filter.
    SINGLETON_ID = 1

    name = models.CharField("nome", max_length=120, help_text="Nome da empresa como o assistente deve dizê-lo.")
    description = models.TextField(
        "o que a empresa faz", help_text="Duas ou três frases: o que a empresa faz e para quem."
    )
    services = models.TextField(
        "serviços e produtos", blank=True, help_text="Um serviço ou produto por linha, com preço se for público."
    )
    service_hours = models.CharField(
        "horário de atendimento", max_length=255, blank=True, help_text="Ex.: segunda a sexta, das 8h às 18h."
    )
    channels = models.TextField(
        "canais", blank=True, help_text="Um canal de contato por linha (WhatsApp, e-mail, site...)."
    )
    tone_of_voice = models.TextField(
        "tom de voz", blank=True, help_text="Como o assistente deve soar. Ex.: cordial, direto, sem gírias."
    )
    default_language = models.CharField(
        "idioma padrão", max_length=16, default="pt-BR", help_text="Idioma usado quando o do cliente não é claro."
    )
    updated_at = models.DateTimeField(auto_now=True, verbose_name=_("atualizado em"))

    class Meta:
        verbose_name = "perfil da empresa"
        verbose_name_plural = "perfil da empresa"
        constraints = [models.CheckConstraint(condition=Q(id=1), name="companyprofile_singleton")]

    def __str__(self) -> str:
        return self.name or "Perfil da empresa"

    def save(self, *args, **kwargs) -> None:
        self.pk = self.SINGLETON_ID
        super().save(*args, **kwargs)


class Faq(models.Model):
    """A question customers ask and the answer the assistant may give (draft)."""

    question = models.CharField("pergunta", max_length=300)
    answer = models.TextField("resposta", help_text="A resposta que o assistente pode dar, com os fatos exatos.")
    keywords = models.CharField(
        "palavras-chave",
        max_length=500,
        blank=True,
        help_text="Separadas por vírgula; ajudam a achar a resposta quando não há LLM.",
    )
    priority = models.IntegerField(
        "prioridade",
        default=50,
        help_text="Maior primeiro. Se o contexto passar do limite de tamanho, as de menor prioridade saem antes.",
    )
    is_active = models.BooleanField("ativa", default=True, help_text="Desmarque para tirar do próximo release.")
    updated_at = models.DateTimeField(auto_now=True, verbose_name=_("atualizado em"))

    class Meta:
        verbose_name = "pergunta frequente"
        verbose_name_plural = "perguntas frequentes"
        ordering = ["-priority", "question"]

    def __str__(self) -> str:
        return self.question


# Languages the product team can translate content into (the default language is the content itself).
TRANSLATION_LANGUAGES = [
    ("en", _("inglês")),
    ("es", _("espanhol")),
    ("fr", _("francês")),
    ("it", _("italiano")),
    ("de", _("alemão")),
]


class FaqTranslation(models.Model):
    """The same FAQ in another language, so the assistant answers a customer who writes in it (draft)."""

    faq = models.ForeignKey(Faq, on_delete=models.CASCADE, related_name="translations", verbose_name=_("pergunta"))
    language = models.CharField(_("idioma"), max_length=8, choices=TRANSLATION_LANGUAGES)
    question = models.CharField(_("pergunta traduzida"), max_length=300)
    answer = models.TextField(
        _("resposta traduzida"), help_text=_("Os mesmos fatos da resposta original, neste idioma.")
    )
    keywords = models.CharField(
        _("palavras-chave traduzidas"), max_length=500, blank=True, help_text=_("Separadas por vírgula, neste idioma.")
    )

    class Meta:
        verbose_name = _("tradução da pergunta")
        verbose_name_plural = _("traduções da pergunta")
        ordering = ["language"]
        constraints = [models.UniqueConstraint(fields=["faq", "language"], name="faqtranslation_one_per_language")]

    def __str__(self) -> str:
        return f"{self.get_language_display()}: {self.question}"


class ProfileTranslation(models.Model):
    """What the company does, in another language: the assistant's introduction to customers who write in it."""

    profile = models.ForeignKey(
        CompanyProfile, on_delete=models.CASCADE, related_name="translations", verbose_name=_("perfil")
    )
    language = models.CharField(_("idioma"), max_length=8, choices=TRANSLATION_LANGUAGES)
    description = models.TextField(_("o que a empresa faz (traduzido)"))

    class Meta:
        verbose_name = _("tradução do perfil")
        verbose_name_plural = _("traduções do perfil")
        ordering = ["language"]
        constraints = [
            models.UniqueConstraint(fields=["profile", "language"], name="profiletranslation_one_per_language")
        ]

    def __str__(self) -> str:
        return self.get_language_display()


class Policy(models.Model):
    """A company policy the assistant must know and follow (draft)."""

    title = models.CharField("título", max_length=200)
    body = models.TextField("texto", help_text="A política em linguagem simples, como deve chegar ao assistente.")
    priority = models.IntegerField(
        "prioridade", default=50, help_text="Maior primeiro; as de menor prioridade saem antes se faltar espaço."
    )
    is_active = models.BooleanField("ativa", default=True)
    updated_at = models.DateTimeField(auto_now=True, verbose_name=_("atualizado em"))

    class Meta:
        verbose_name = "política"
        verbose_name_plural = "políticas"
        ordering = ["-priority", "title"]

    def __str__(self) -> str:
        return self.title


class Constraint(models.Model):
    """What the assistant must never say: a rule in words for the prompt and a check for the guard (draft)."""

    class Severity(models.TextChoices):
        LOW = "low", "baixa"
        MEDIUM = "medium", "média"
        HIGH = "high", "alta"
        CRITICAL = "critical", "crítica"

    class Action(models.TextChoices):
        REPLACE = "replace", "bloquear e enviar a resposta segura"
        HANDOFF = "handoff", "bloquear e passar para um humano"

    slug = models.SlugField(
        "identificador", max_length=80, unique=True, help_text="Nome curto e estável, usado nos registros."
    )
    title = models.CharField("título", max_length=200)
    description = models.TextField(
        "regra (vai para o prompt)",
        help_text="A regra em palavras, exatamente como o assistente a lê. Ex.: Nunca prometa desconto.",
    )
    phrases = models.TextField(
        "frases proibidas",
        blank=True,
        help_text=(
            "Uma por linha, em português e em inglês. A comparação ignora maiúsculas, acentos, espaços repetidos, "
            "caracteres invisíveis e troca de letras por números (c0ntr4t0), e só pega palavras inteiras."
        ),
    )
    patterns = models.TextField(
        "expressões regulares",
        blank=True,
        help_text=(
            "Opcional, uma por linha (sintaxe do Python). Rodam sobre o texto sem acentos, ignorando maiúsculas. "
            "Use o teste de texto para conferir antes de publicar."
        ),
    )
    severity = models.CharField("gravidade", max_length=16, choices=Severity.choices, default=Severity.HIGH)
    action = models.CharField("ação", max_length=16, choices=Action.choices, default=Action.REPLACE)
    safe_replacement = models.TextField(
        "resposta segura",
        blank=True,
        help_text="O que o cliente recebe no lugar da resposta bloqueada. Vazio: uma resposta padrão.",
    )
    amounts_in_context = models.BooleanField(
        "valores só do conteúdo publicado",
        default=False,
        help_text=(
            "Também bloqueia a resposta que citar preço (R$), percentual ou prazo (ex.: 5 dias úteis) que não "
            "apareça no perfil, nas políticas ou nas perguntas frequentes publicadas."
        ),
    )
    must_block_examples = models.TextField(
        _("exemplos que devem ser bloqueados"),
        blank=True,
        help_text=_(
            "Um por linha: respostas que esta regra precisa bloquear. A publicação é recusada se alguma passar."
        ),
    )
    must_pass_examples = models.TextField(
        _("exemplos que devem passar"),
        blank=True,
        help_text=_(
            "Um por linha: respostas parecidas, mas inocentes, que nenhuma regra pode bloquear. A publicação é "
            "recusada se alguma for bloqueada."
        ),
    )
    is_active = models.BooleanField(
        "ativa", default=True, help_text="Regras internas (built-in) ficam sempre ativas, mesmo desmarcadas."
    )
    is_builtin = models.BooleanField(
        "interna",
        default=False,
        editable=False,
        help_text="Regra de fábrica: dá para acrescentar frases, mas as frases de fábrica sempre valem.",
    )
    updated_at = models.DateTimeField(auto_now=True, verbose_name=_("atualizado em"))

    class Meta:
        verbose_name = "restrição"
        verbose_name_plural = "restrições"
        ordering = ["slug"]

    def __str__(self) -> str:
        return self.title

    def clean(self) -> None:
        errors = []
        for line in split_lines(self.patterns):
            try:
                compile_pattern(line)
            except re.error as exc:
                errors.append(f"{line!r}: {exc}")
        if errors:
            raise ValidationError({"patterns": [f"Expressão inválida {error}" for error in errors]})
        if not self.is_builtin and not split_lines(self.phrases) and not split_lines(self.patterns):
            raise ValidationError("Informe pelo menos uma frase proibida ou uma expressão regular.")


def _template_help() -> str:
    lines = [
        f"{name}: {', '.join('$' + variable for variable in variables)}."
        for name, variables in TEMPLATE_VARIABLES.items()
    ]
    meanings = "; ".join(f"${key} = {text}" for key, text in TEMPLATE_VARIABLE_HELP.items())
    return "Variáveis aceitas — " + " ".join(lines) + " Significados: " + meanings + ". Escreva $$ para um $."


class PromptTemplate(models.Model):
    """Draft of one of the three system prompts the pipeline renders."""

    class Name(models.TextChoices):
        DECIDE_STATE = "decide_state", "1. decidir o estado"
        WRITE_REPLY = "write_reply", "2. escrever a resposta"
        CHOOSE_MESSAGE_TYPE = "choose_message_type", "3. escolher o tipo de mensagem"

    name = models.CharField("prompt", max_length=32, choices=Name.choices, unique=True)
    version = models.CharField(
        "versão", max_length=32, help_text="Mude a cada edição (ex.: 2026-05-a); aparece nos registros das chamadas."
    )
    text = models.TextField("texto", help_text=_template_help())
    updated_at = models.DateTimeField(auto_now=True, verbose_name=_("atualizado em"))

    class Meta:
        verbose_name = "modelo de prompt"
        verbose_name_plural = "modelos de prompt"
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.get_name_display()} ({self.version})"

    def clean(self) -> None:
        if self.name not in TEMPLATE_NAMES:
            return
        template = string.Template(self.text or "")
        if not template.is_valid():
            raise ValidationError({"text": "Há um $ solto no texto: escreva $$ para um cifrão literal."})
        unknown = sorted(set(template.get_identifiers()) - set(TEMPLATE_VARIABLES[self.name]))
        if unknown:
            allowed = ", ".join("$" + variable for variable in TEMPLATE_VARIABLES[self.name])
            raise ValidationError(
                {"text": f"Variáveis desconhecidas: {', '.join('$' + v for v in unknown)}. Aceitas: {allowed}."}
            )


class PromptVariant(models.Model):
    """An alternative to one or more of the three prompts, tried on a share of contacts or in shadow (draft).

    Live: that share of contacts (sticky: a contact always falls in the same bucket) gets this variant's
    prompts. Shadow: on that share of runs its calls also run on the same inputs and are recorded; the
    customer only sees the live reply. Off: only `make eval VARIANT=<name>` uses it.
    """

    class Mode(models.TextChoices):
        OFF = "off", _("desligada (só avaliação)")
        SHADOW = "shadow", _("sombra (só registra)")
        LIVE = "live", _("ao vivo")

    name = models.SlugField(_("nome"), max_length=40, unique=True, help_text=_("Curto e estável, ex.: b, tom-curto."))
    description = models.TextField(_("o que muda"), blank=True)
    mode = models.CharField(_("modo"), max_length=8, choices=Mode.choices, default=Mode.OFF)
    traffic_percent = models.PositiveSmallIntegerField(
        _("tráfego (%)"),
        default=0,
        help_text=_("Ao vivo: parcela dos contatos. Sombra: parcela das execuções que também rodam esta variante."),
    )
    version = models.CharField(_("versão"), max_length=32, help_text=_("Aparece nos registros das chamadas."))
    decide_state_text = models.TextField(_("1. decidir o estado"), blank=True, help_text=_("Vazio: o prompt base."))
    write_reply_text = models.TextField(_("2. escrever a resposta"), blank=True, help_text=_("Vazio: o prompt base."))
    choose_message_type_text = models.TextField(
        _("3. escolher o tipo de mensagem"), blank=True, help_text=_("Vazio: o prompt base.")
    )
    is_active = models.BooleanField(_("ativa"), default=True)
    updated_at = models.DateTimeField(auto_now=True, verbose_name=_("atualizado em"))

    class Meta:
        verbose_name = _("variante de prompt")
        verbose_name_plural = _("variantes de prompt")
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.get_mode_display()})"

    def texts(self) -> dict[str, str]:
        """The prompts this variant replaces, by template name."""
        return {
            name: text
            for name, text in (
                ("decide_state", self.decide_state_text),
                ("write_reply", self.write_reply_text),
                ("choose_message_type", self.choose_message_type_text),
            )
            if text.strip()
        }

    def clean(self) -> None:
        errors: dict[str, list[str]] = {}
        if self.traffic_percent > 100:
            errors["traffic_percent"] = [str(_("No máximo 100%."))]
        if not self.texts():
            errors["write_reply_text"] = [str(_("Uma variante troca pelo menos um dos três prompts."))]
        for name, text in self.texts().items():
            try:
                PromptTemplate(name=name, text=text).clean()
            except ValidationError as exc:
                errors[f"{name}_text"] = exc.message_dict.get("text", exc.messages)
        if self.is_active and self.mode == self.Mode.LIVE:
            others = PromptVariant.objects.filter(is_active=True, mode=self.Mode.LIVE).exclude(pk=self.pk)
            total = sum(others.values_list("traffic_percent", flat=True)) + self.traffic_percent
            if total > 100:
                errors["traffic_percent"] = [
                    str(_("As variantes ao vivo somam %(total)s%%: o máximo é 100%%.") % {"total": total})
                ]
        if errors:
            raise ValidationError(errors)


class Release(models.Model):
    """A frozen, numbered copy of all the content. Never updated or deleted; the pointer picks the live one."""

    number = models.PositiveIntegerField("número", unique=True)
    snapshot = models.JSONField("conteúdo")
    content_hash = models.CharField(max_length=64, db_index=True, verbose_name=_("hash do conteúdo"))
    note = models.TextField("nota")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("publicado por (usuário)"),
    )
    # Kept in text so the release still says who published it after the user is removed.
    created_by_name = models.CharField("publicado por", max_length=150, blank=True, default="")
    created_at = models.DateTimeField("publicado em", auto_now_add=True)

    class Meta:
        verbose_name = "release"
        verbose_name_plural = "releases"
        ordering = ["-number"]
        permissions = [
            ("publish_release", "Can publish a release"),
            ("rollback_release", "Can roll back to an older release"),
        ]

    def __str__(self) -> str:
        return f"Release {self.number}"

    def save(self, *args, **kwargs) -> None:
        # An integrity guard, not a business rule: a release is a record of what went live. The database
        # refuses it too (a trigger), so a queryset update cannot slip past this check.
        if not self._state.adding:
            raise ReleaseImmutableError(f"Release {self.number} is immutable; publish a new release instead.")
        super().save(*args, **kwargs)


class ReleasePointer(models.Model):
    """The one row saying which release is live; publish and rollback move it."""

    SINGLETON_ID = 1

    release = models.ForeignKey(Release, on_delete=models.PROTECT, related_name="+", verbose_name=_("release"))
    updated_at = models.DateTimeField(auto_now=True, verbose_name=_("atualizado em"))

    class Meta:
        verbose_name = _("release em uso")
        verbose_name_plural = _("release em uso")
        constraints = [models.CheckConstraint(condition=Q(id=1), name="releasepointer_singleton")]

    def __str__(self) -> str:
        return f"Current: release {self.release.number}"


class ReleaseActivation(models.Model):
    """Audit of every time a release became the live one (publish or rollback): who, when, why."""

    class Kind(models.TextChoices):
        PUBLISH = "publish", "publicação"
        ROLLBACK = "rollback", "rollback"

    release = models.ForeignKey(
        Release, on_delete=models.PROTECT, related_name="activations", verbose_name=_("release")
    )
    previous = models.ForeignKey(
        Release, null=True, blank=True, on_delete=models.PROTECT, related_name="+", verbose_name=_("anterior")
    )
    kind = models.CharField(max_length=16, choices=Kind.choices, verbose_name=_("tipo"))
    note = models.TextField(blank=True, default="", verbose_name=_("nota"))
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("usuário"),
    )
    user_name = models.CharField(max_length=150, blank=True, default="", verbose_name=_("nome do usuário"))
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("criado em"))

    class Meta:
        verbose_name = "ativação de release"
        verbose_name_plural = "ativações de release"
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} → release {self.release.number}"


class GuardViolation(models.Model):
    """The promise ledger: a reply the output guard blocked or replaced — rule, layer, action, masked text."""

    class Layer(models.TextChoices):
        DETECTOR = "detector", _("detector de compromissos")
        PHRASE = "phrase", _("frase proibida")
        PATTERN = "pattern", _("expressão regular")
        AMOUNT = "amount", _("valor fora do conteúdo publicado")
        PRICE_ITEM = "price_item", _("valor de outro item")
        JUDGE = "judge", _("juiz de política (LLM)")

    conversation = models.ForeignKey(
        "conversations.Conversation",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="guard_violations",
        verbose_name=_("conversa"),
    )
    release_number = models.IntegerField(null=True, blank=True, verbose_name=_("número do release"))
    constraint_slug = models.CharField(max_length=80, db_index=True, verbose_name=_("restrição"))
    severity = models.CharField(max_length=16, verbose_name=_("gravidade"))
    action = models.CharField(max_length=16, verbose_name=_("ação"))
    layer = models.CharField(_("camada"), max_length=16, choices=Layer.choices, default=Layer.PHRASE, db_index=True)
    rule = models.CharField(
        max_length=300,
        blank=True,
        default="",
        help_text=_("A frase ou expressão que disparou."),
        verbose_name=_("regra"),
    )
    matched = models.CharField(
        max_length=200, blank=True, default="", help_text=_("Mascarado."), verbose_name=_("trecho detectado")
    )
    excerpt = models.TextField(
        blank=True,
        default="",
        help_text=_("A resposta bloqueada, mascarada e truncada."),
        verbose_name=_("trecho da resposta"),
    )
    correlation_id = models.CharField(
        max_length=64, blank=True, default="", db_index=True, verbose_name=_("ID de correlação")
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True, verbose_name=_("criado em"))

    class Meta:
        verbose_name = "violação bloqueada"
        verbose_name_plural = "violações bloqueadas"
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.constraint_slug} ({self.action})"


class PolicyJudgement(models.Model):
    """One verdict of the LLM policy judge beside the deterministic guard's, for the agreement figures."""

    class Verdict(models.TextChoices):
        ALLOW = "allow", _("permitir")
        BLOCK = "block", _("bloquear")
        UNSURE = "unsure", _("incerto")
        ERROR = "error", _("erro ou tempo esgotado")

    conversation = models.ForeignKey(
        "conversations.Conversation",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="policy_judgements",
        verbose_name=_("conversa"),
    )
    mode = models.CharField(_("modo"), max_length=16)
    guard_allowed = models.BooleanField(_("o guarda permitiu"))
    verdict = models.CharField(_("veredito do juiz"), max_length=16, choices=Verdict.choices)
    agreed = models.BooleanField(_("concordam"), db_index=True)
    constraint_slug = models.CharField(_("restrição apontada"), max_length=80, blank=True, default="")
    reason = models.CharField(_("motivo"), max_length=300, blank=True, default="")
    correlation_id = models.CharField(max_length=64, blank=True, default="", verbose_name=_("ID de correlação"))
    created_at = models.DateTimeField(_("em"), auto_now_add=True, db_index=True)

    class Meta:
        verbose_name = _("veredito do juiz de política")
        verbose_name_plural = _("vereditos do juiz de política")
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.verdict} ({'agrees' if self.agreed else 'disagrees'})"


BRAZILIAN_STATES = [
    ("AC", "Acre"),
    ("AL", "Alagoas"),
    ("AM", "Amazonas"),
    ("AP", "Amapá"),
    ("BA", "Bahia"),
    ("CE", "Ceará"),
    ("DF", "Distrito Federal"),
    ("ES", "Espírito Santo"),
    ("GO", "Goiás"),
    ("MA", "Maranhão"),
    ("MG", "Minas Gerais"),
    ("MS", "Mato Grosso do Sul"),
    ("MT", "Mato Grosso"),
    ("PA", "Pará"),
    ("PB", "Paraíba"),
    ("PE", "Pernambuco"),
    ("PI", "Piauí"),
    ("PR", "Paraná"),
    ("RJ", "Rio de Janeiro"),
    ("RN", "Rio Grande do Norte"),
    ("RO", "Rondônia"),
    ("RR", "Roraima"),
    ("RS", "Rio Grande do Sul"),
    ("SC", "Santa Catarina"),
    ("SE", "Sergipe"),
    ("SP", "São Paulo"),
    ("TO", "Tocantins"),
]


def _valid_time_zone(value: str) -> None:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValidationError(_("Fuso horário desconhecido: use um nome como America/Sao_Paulo.")) from exc


class BusinessHours(models.Model):
    """When the team answers: time zone and state for the holidays; one row, weekly hours and closed days hang off it.

    Live, not part of a release: a holiday or a closed day must take effect without publishing content.
    With no opening period at all the team counts as always in (nothing configured yet).
    """

    SINGLETON_ID = 1

    time_zone = models.CharField(
        _("fuso horário"), max_length=64, default="America/Sao_Paulo", validators=[_valid_time_zone]
    )
    state = models.CharField(
        _("estado (feriados estaduais)"),
        max_length=2,
        choices=BRAZILIAN_STATES,
        blank=True,
        default="",
        help_text=_("Os feriados nacionais valem sempre; escolha o estado para somar os feriados estaduais."),
    )
    observe_national_holidays = models.BooleanField(
        _("fechado nos feriados"), default=True, help_text=_("Desmarque se a equipe atende nos feriados.")
    )
    updated_at = models.DateTimeField(auto_now=True, verbose_name=_("atualizado em"))

    class Meta:
        verbose_name = _("horário de atendimento")
        verbose_name_plural = _("horário de atendimento")
        constraints = [models.CheckConstraint(condition=Q(id=1), name="businesshours_singleton")]

    def __str__(self) -> str:
        return str(_("Horário de atendimento"))

    def save(self, *args, **kwargs) -> None:
        self.pk = self.SINGLETON_ID
        super().save(*args, **kwargs)


class OpeningPeriod(models.Model):
    """One stretch of a weekday when the team answers (two rows make a lunch break)."""

    class Weekday(models.IntegerChoices):
        MONDAY = 0, _("segunda-feira")
        TUESDAY = 1, _("terça-feira")
        WEDNESDAY = 2, _("quarta-feira")
        THURSDAY = 3, _("quinta-feira")
        FRIDAY = 4, _("sexta-feira")
        SATURDAY = 5, _("sábado")
        SUNDAY = 6, _("domingo")

    hours = models.ForeignKey(BusinessHours, on_delete=models.CASCADE, related_name="periods")
    weekday = models.PositiveSmallIntegerField(_("dia da semana"), choices=Weekday.choices)
    opens_at = models.TimeField(_("abre às"))
    closes_at = models.TimeField(_("fecha às"))

    class Meta:
        verbose_name = _("período de atendimento")
        verbose_name_plural = _("períodos de atendimento")
        ordering = ["weekday", "opens_at"]
        constraints = [
            models.CheckConstraint(condition=Q(closes_at__gt=models.F("opens_at")), name="period_closes_after_opening")
        ]

    def __str__(self) -> str:
        return f"{self.get_weekday_display()} {self.opens_at:%H:%M}–{self.closes_at:%H:%M}"

    def clean(self) -> None:
        if self.opens_at and self.closes_at and self.closes_at <= self.opens_at:
            raise ValidationError(_("O fechamento deve ser depois da abertura (no mesmo dia)."))


class ClosedDay(models.Model):
    """A day the team does not answer besides the holidays (a recess, a municipal holiday, an inventory)."""

    hours = models.ForeignKey(BusinessHours, on_delete=models.CASCADE, related_name="closed_days")
    date = models.DateField(_("data"))
    reason = models.CharField(_("motivo"), max_length=120, blank=True, default="")

    class Meta:
        verbose_name = _("dia fechado")
        verbose_name_plural = _("dias fechados")
        ordering = ["date"]
        constraints = [models.UniqueConstraint(fields=["hours", "date"], name="closed_day_unique")]

    def __str__(self) -> str:
        return f"{self.date:%d/%m/%Y} {self.reason}".strip()


class SpendingBudget(models.Model):
    """The company's monthly budget for what the assistant costs (WhatsApp messages plus LLM calls), in BRL.

    Live, not part of a release, one row. The alert rules fire at 80 % and 100 % of it
    (`pyloto_month_spend_brl` against `pyloto_month_budget_brl`); 0 means no budget, no alert.
    """

    SINGLETON_ID = 1

    monthly_limit_brl = models.DecimalField(
        _("orçamento mensal (R$)"),
        max_digits=12,
        decimal_places=2,
        default=0,
        validators=[MinValueValidator(0)],
        help_text=_("WhatsApp e LLM somados, por mês do calendário. 0: sem orçamento (nenhum alerta)."),
    )
    usd_to_brl = models.DecimalField(
        _("cotação do dólar (R$ por US$)"),
        max_digits=8,
        decimal_places=4,
        default=Decimal("5.50"),
        validators=[MinValueValidator(Decimal("0.0001"))],
        help_text=_("Converte em reais o custo do LLM e das mensagens cobradas em dólar."),
    )
    updated_at = models.DateTimeField(auto_now=True, verbose_name=_("atualizado em"))

    class Meta:
        verbose_name = _("orçamento mensal")
        verbose_name_plural = _("orçamento mensal")
        constraints = [models.CheckConstraint(condition=Q(id=1), name="spendingbudget_singleton")]

    def __str__(self) -> str:
        return str(_("Orçamento mensal"))

    def save(self, *args, **kwargs) -> None:
        self.pk = self.SINGLETON_ID
        super().save(*args, **kwargs)
