"""Built-in constraints and prompt templates: the floor every release keeps, and release 0."""

from __future__ import annotations

from institutional.snapshot import (
    BUILTIN_NUMBER,
    CompanyProfileData,
    ConstraintRule,
    PromptTemplate,
    ReleaseSnapshot,
)

# Variables each template receives from the pipeline (`string.Template` names, written `$name`).
TEMPLATE_VARIABLES: dict[str, tuple[str, ...]] = {
    "decide_state": ("context", "current_state", "allowed_states", "history", "messages"),
    "write_reply": ("context", "current_state", "next_state", "history", "messages"),
    "choose_message_type": ("context", "current_state", "next_state", "history", "messages"),
}

TEMPLATE_VARIABLE_HELP = {
    "context": "o contexto institucional publicado (prompt_context), já dentro do limite de tamanho",
    "current_state": "o estado atual da conversa",
    "allowed_states": "os estados para os quais a máquina de estados permite ir a partir do atual, um por linha",
    "next_state": "o estado decidido pela tarefa 1 para esta resposta",
    "history": "as últimas transições de estado da conversa, da mais antiga para a mais recente",
    "messages": "as mensagens do cliente ainda sem resposta (e as últimas trocas), em ordem",
}

DECIDE_STATE_TEXT = """Você é o roteador de conversas do atendimento via WhatsApp da empresa descrita abaixo.
Sua única tarefa é escolher o PRÓXIMO ESTADO da conversa. Você não escreve a resposta ao cliente.

## Contexto institucional
$context

## Estado atual
$current_state

## Estados permitidos a partir do estado atual (escolha exatamente um destes)
$allowed_states

## Histórico de estados (do mais antigo ao mais recente)
$history

## Mensagens do cliente
$messages

Regras:
- Escolha somente um estado da lista de permitidos. Se nenhum fizer sentido, mantenha o estado atual se ele
  estiver na lista; caso contrário, escolha o estado de encaminhamento para um humano.
- Se o cliente pedir para falar com uma pessoa, demonstrar irritação forte, ou tratar de fechamento,
  assinatura ou confirmação de contrato, escolha o estado de encaminhamento para um humano.
- Fechar, assinar ou confirmar contrato nunca é uma decisão sua.
- Explique em uma frase curta, em português, por que escolheu o estado.
Responda apenas no formato JSON solicitado."""

WRITE_REPLY_TEXT = """Você é o assistente de atendimento via WhatsApp da empresa descrita abaixo e escreve a
próxima mensagem para o cliente.

## Contexto institucional (use apenas estas informações sobre a empresa)
$context

## Situação da conversa
Estado atual: $current_state
Próximo estado decidido: $next_state
Histórico de estados: $history

## Mensagens do cliente
$messages

Como responder:
- Siga o tom de voz do contexto. Escreva no idioma do cliente (padrão: o idioma do contexto), em frases curtas,
  próprias para WhatsApp, sem markdown pesado.
- Responda todas as mensagens pendentes de uma vez, na ordem em que fazem sentido.
- Use somente fatos, preços, prazos e condições que estejam no contexto. Se a informação não estiver lá, diga
  que a equipe vai confirmar; nunca invente nem prometa valores, descontos ou prazos.
- Nunca diga nem dê a entender que um contrato foi fechado, assinado ou confirmado: isso só a equipe comercial
  faz. Você pode explicar como funciona a contratação e oferecer o contato com a equipe.
- Nunca peça senhas, códigos de verificação ou o número completo de cartão.
- Não dê aconselhamento jurídico nem médico; sugira procurar um profissional.
- Se o cliente pedir para falar com uma pessoa, ou se o próximo estado for de encaminhamento, avise com
  gentileza que uma pessoa da equipe vai continuar o atendimento.
- Respeite todas as regras do contexto institucional.
Responda apenas no formato JSON solicitado."""

CHOOSE_MESSAGE_TYPE_TEXT = """Você escolhe o FORMATO da próxima mensagem de WhatsApp do atendimento da empresa abaixo.
Outra tarefa escreve o texto ao mesmo tempo; você decide o tipo e, quando houver, os botões ou itens da lista.

## Contexto institucional
$context

## Situação da conversa
Estado atual: $current_state
Próximo estado decidido: $next_state
Histórico de estados: $history

## Mensagens do cliente
$messages

Tipos disponíveis e seus limites:
- TEXT: texto simples (até 4096 caracteres). É o padrão e a escolha segura.
- BUTTON: até 3 botões de resposta rápida, cada título com no máximo 20 caracteres; corpo até 1024 caracteres.
  Use quando o cliente precisa escolher entre 2 ou 3 opções curtas (por exemplo: "Ver planos", "Falar com
  a equipe").
- LIST: um menu com até 10 itens; título do item até 24 caracteres, descrição até 72, texto do botão até 20.
  Use para 4 a 10 opções (por exemplo: lista de serviços ou de perguntas frequentes).
- IMAGE / VIDEO: somente se o contexto trouxer um link https de mídia adequado; legenda até 1024 caracteres.
  Nunca invente links.

Regras:
- Na dúvida, escolha TEXT.
- Botões e itens não podem afirmar que um contrato foi fechado nem prometer preço, desconto ou prazo que não
  esteja no contexto.
- Em encaminhamento para um humano, escolha TEXT.
Responda apenas no formato JSON solicitado."""

DEFAULT_TEMPLATES: dict[str, PromptTemplate] = {
    "decide_state": PromptTemplate(name="decide_state", version="builtin-1", text=DECIDE_STATE_TEXT),
    "write_reply": PromptTemplate(name="write_reply", version="builtin-1", text=WRITE_REPLY_TEXT),
    "choose_message_type": PromptTemplate(
        name="choose_message_type", version="builtin-1", text=CHOOSE_MESSAGE_TYPE_TEXT
    ),
}

# The commitment detector (`institutional.commitments`) is the built-in rules' main check: it reads who
# commits to what in PT-BR, English and Spanish, with negation, questions and quoting understood. The
# phrases and patterns below are the few idioms it does not parse; the product team adds their own beside.
BUILTIN_CONSTRAINTS: tuple[ConstraintRule, ...] = (
    ConstraintRule(
        slug="no-contract-closure",
        title="Nunca fechar contrato",
        description=(
            "Nunca afirme, ofereça nem dê a entender que um contrato, proposta, pedido ou negócio foi ou será "
            "fechado, assinado, confirmado ou ativado por você. Só a equipe comercial fecha contratos; ofereça o "
            "contato com ela."
        ),
        phrases=(
            "we have a deal",
            "it's a deal",
            "trato hecho",
            "negócio fechado",
            "temos um acordo",
            "tenemos un trato",
        ),
        patterns=(),
        severity="critical",
        action="handoff",
        safe_replacement=(
            "Quem confirma contratações é a nossa equipe comercial. Vou chamar uma pessoa da equipe para "
            "continuar com você, tudo bem?"
        ),
    ),
    ConstraintRule(
        slug="no-unlisted-price-or-deadline",
        title="Nunca prometer preço, desconto ou prazo fora do contexto",
        description=(
            "Nunca prometa preço, desconto, isenção, condição de pagamento, parcelamento ou prazo que não esteja "
            "no contexto institucional, nem cite o preço de um plano para outro. Se o cliente pedir algo que não "
            "está lá, diga que a equipe comercial confirma."
        ),
        phrases=(),
        patterns=(),
        severity="high",
        action="replace",
        amounts_in_context=True,
        safe_replacement=(
            "Valores, descontos e prazos fora da nossa tabela quem confirma é a equipe comercial. "
            "Posso pedir para alguém da equipe falar com você?"
        ),
    ),
    ConstraintRule(
        slug="no-credentials-or-card-numbers",
        title="Nunca pedir senha ou número completo de cartão",
        description=(
            "Nunca peça senhas, códigos de verificação, o código de segurança (CVV) nem o número completo de "
            "cartão, e nunca repita um número de cartão."
        ),
        phrases=(),
        patterns=(
            # A card number: 16 to 19 digits in groups of four, or the 15-digit 4-6-5 layout. Phone numbers
            # (at most 13 digits with the country code) and CPF/CNPJ do not fit these shapes.
            r"\b\d{4}(?:(?:[ .-]?\d{4}){3}\d{0,3}|[ -]?\d{6}[ -]?\d{5})\b",
        ),
        severity="critical",
        action="replace",
        # Says what we do without naming what we never ask for: a safe text must itself pass the guard.
        safe_replacement="Por segurança, esse tipo de dado não é tratado por aqui. Posso ajudar com outra coisa?",
    ),
    ConstraintRule(
        slug="no-legal-or-medical-advice",
        title="Nunca dar aconselhamento jurídico ou médico",
        description=(
            "Nunca dê aconselhamento jurídico ou médico (o que fazer num processo, contrato de terceiros, "
            "diagnóstico, remédio ou dose). Sugira procurar um advogado ou um profissional de saúde."
        ),
        phrases=(),
        patterns=(
            r"\b\d+(?:[.,]\d+)?\s*(?:mg|mcg|ml|microgramas?|miligramas?)\b",
            r"\b(?:tome|tomar|take|toma)\s+(?:\d+|um|uma|dois|duas|one|two|dos)\s+"
            r"(?:comprimidos?|capsulas?|gotas|pills?|tablets?|pastillas?)\b",
        ),
        severity="high",
        action="replace",
        safe_replacement=(
            "Não posso orientar sobre questões jurídicas ou de saúde. Para isso, procure um advogado ou um "
            "profissional de saúde. Posso ajudar com algo sobre os nossos serviços?"
        ),
    ),
)

# Which built-in rule each family of the commitment detector enforces.
FAMILY_SLUGS = {
    "closure": "no-contract-closure",
    "price": "no-unlisted-price-or-deadline",
    "credentials": "no-credentials-or-card-numbers",
    "advice": "no-legal-or-medical-advice",
}

# The customer's language decides the text of a replacement. Portuguese uses the constraint's own safe text
# (the product team edits it); English and Spanish use these.
_REPLACEMENTS: dict[str, dict[str, str]] = {
    "no-contract-closure": {
        "pt": BUILTIN_CONSTRAINTS[0].safe_replacement,
        "en": "Contracts are confirmed by our sales team. I'll ask someone from the team to continue with you, "
        "all right?",
        "es": "Las contrataciones las confirma nuestro equipo comercial. Voy a pedir a una persona del equipo "
        "que continúe contigo, ¿de acuerdo?",
    },
    "no-unlisted-price-or-deadline": {
        "pt": BUILTIN_CONSTRAINTS[1].safe_replacement,
        "en": "Prices, discounts and timelines beyond our published table are confirmed by our sales team. "
        "Shall I ask someone from the team to talk to you?",
        "es": "Los valores, descuentos y plazos fuera de nuestra tabla los confirma el equipo comercial. "
        "¿Quieres que alguien del equipo hable contigo?",
    },
    "no-credentials-or-card-numbers": {
        "pt": BUILTIN_CONSTRAINTS[2].safe_replacement,
        "en": "For your security, that kind of data is not handled here. Can I help with something else?",
        "es": "Por seguridad, ese tipo de dato no se trata por aquí. ¿Puedo ayudarte con otra cosa?",
    },
    "no-legal-or-medical-advice": {
        "pt": BUILTIN_CONSTRAINTS[3].safe_replacement,
        "en": "I can't give legal or health guidance. For that, please see a lawyer or a health professional. "
        "Can I help with something about our services?",
        "es": "No puedo orientar sobre temas legales o de salud. Para eso, consulta a un abogado o a un "
        "profesional de la salud. ¿Puedo ayudarte con algo sobre nuestros servicios?",
    },
    "replace": {
        "pt": "Desculpe, não consigo ajudar com isso por aqui. Posso esclarecer outra dúvida sobre os nossos serviços?",
        "en": "Sorry, I can't help with that here. Can I answer another question about our services?",
        "es": "Lo siento, no puedo ayudar con eso por aquí. ¿Puedo aclarar otra duda sobre nuestros servicios?",
    },
    "handoff": {
        "pt": "Vou chamar uma pessoa da nossa equipe para continuar o seu atendimento. Só um instante, por favor.",
        "en": "I'll ask a person from our team to continue helping you. Just a moment, please.",
        "es": "Voy a llamar a una persona de nuestro equipo para continuar tu atención. Un momento, por favor.",
    },
}
LANGUAGES = ("pt", "en", "es")


def replacement_text(*, slug: str, action: str, language: str) -> str:
    """The built-in safe text for a rule (or the action's default) in the customer's language."""
    language = language if language in LANGUAGES else "pt"
    texts = _REPLACEMENTS.get(slug) or _REPLACEMENTS["handoff" if action == "handoff" else "replace"]
    return texts[language]


BUILTIN_SLUGS = frozenset(rule.slug for rule in BUILTIN_CONSTRAINTS)
BUILTIN_BY_SLUG = {rule.slug: rule for rule in BUILTIN_CONSTRAINTS}


def builtin_snapshot() -> ReleaseSnapshot:
    """Release 0: served until the first publish, so the assistant never runs unguarded."""
    return ReleaseSnapshot(
        number=BUILTIN_NUMBER,
        profile=CompanyProfileData(
            name="Pyloto",
            tone_of_voice="Cordial, objetivo e profissional.",
            default_language="pt-BR",
        ),
        faqs=(),
        policies=(),
        constraints=BUILTIN_CONSTRAINTS,
        templates=dict(DEFAULT_TEMPLATES),
    ).with_hash()
