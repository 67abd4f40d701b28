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

# Between "contrato" and the verb, up to three words that are not a negation ("o contrato ainda não está
# fechado" is a true statement the assistant may make).
_NOT_NEGATION_PT = r"(?:\s+(?!nao\b|ainda\b|nunca\b|sera\b|pode\b|precisa\b)[\w']+){0,3}"
_NOT_NEGATION_EN = r"(?:\s+(?!not\b|isn't\b|hasn't\b|wasn't\b|yet\b|will\b|can\b|must\b|needs?\b)[\w']+){0,3}"

BUILTIN_CONSTRAINTS: tuple[ConstraintRule, ...] = (
    ConstraintRule(
        slug="no-contract-closure",
        title="Nunca fechar contrato",
        description=(
            "Nunca afirme nem dê a entender que um contrato, proposta ou negócio foi fechado, assinado ou "
            "confirmado. Só a equipe comercial fecha contratos; ofereça o contato com ela."
        ),
        phrases=(
            "contrato fechado",
            "contrato assinado",
            "contrato confirmado",
            "contrato firmado",
            "fechamos o contrato",
            "fechamos negócio",
            "fechamos o negócio",
            "negócio fechado",
            "acordo fechado",
            "proposta aceita e confirmada",
            "sua contratação está confirmada",
            "contratação confirmada",
            "pode considerar fechado",
            "está tudo fechado",
            "contract closed",
            "contract signed",
            "contract confirmed",
            "deal closed",
            "the deal is closed",
            "we have a deal",
            "it's a deal",
            "your subscription is confirmed",
        ),
        patterns=(
            rf"\bcontrato{_NOT_NEGATION_PT}\s+(?:fechado|assinado|confirmado|firmado|concluido)\b",
            r"\b(?:fechei|fechamos|assinei|assinamos|confirmei|confirmamos)\s+(?:o\s+|seu\s+|nosso\s+)?contrato\b",
            rf"\bcontract{_NOT_NEGATION_EN}\s+(?:closed|signed|confirmed|finali[sz]ed)\b",
            r"\b(?:we|i)\s+(?:have\s+)?(?:closed|signed|confirmed)\s+(?:the\s+|your\s+|our\s+)?(?:contract|deal)\b",
            # Implied closure: "pode considerar contratado", "seu contrato já está ativo", "contract is active".
            r"\b(?:considere|considerar|considera)(?:-se)?\s+(?:o\s+(?:servico|plano)\s+)?contratad[oa]s?\b",
            r"\b(?:ja\s+)?(?:esta|estao|ficou)\s+contratad[oa]s?\b",
            r"\bcontrato\s+(?:ja\s+)?(?:esta\s+)?(?:ativo|ativado|vigente|em\s+vigor|valendo)\b",
            r"\bcontract\s+is\s+(?:now\s+)?(?:active|in\s+effect|in\s+force)\b",
        ),
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
            "Nunca prometa preço, desconto, condição de pagamento ou prazo que não esteja no contexto "
            "institucional. Se o cliente pedir algo que não está lá, diga que a equipe comercial confirma."
        ),
        phrases=(
            "desconto garantido",
            "garanto o desconto",
            "garanto um desconto",
            "te dou um desconto",
            "posso te dar um desconto",
            "consigo um desconto especial",
            "preço garantido",
            "garanto o preço",
            "garanto esse preço",
            "prazo garantido",
            "garanto a entrega",
            "garanto o prazo",
            "prometo entregar",
            "guaranteed discount",
            "i can give you a discount",
            "i guarantee the price",
            "guaranteed price",
            "guaranteed delivery",
            "i promise delivery",
        ),
        patterns=(
            r"\b(?:garanto|prometo|asseguro)\b[^.!?\n]{0,60}\b(?:preco|desconto|prazo|entrega|valor)\b",
            r"\b(?:i\s+)?(?:guarantee|promise)\b[^.!?\n]{0,60}\b(?:price|discount|deadline|delivery)\b",
        ),
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
        phrases=(
            "me passe sua senha",
            "me passa sua senha",
            "me envie sua senha",
            "digite sua senha aqui",
            "qual é a sua senha",
            "qual a sua senha",
            "número completo do cartão",
            "código de segurança do cartão",
            "send me your password",
            "what is your password",
            "tell me your password",
            "full card number",
            "your card's security code",
        ),
        patterns=(
            r"(?<!nao )(?<!nunca )\b(?:inform|envi|mand|pass|digit|confirm|fornec|diga|dize|me\s+diz)\w*\s+"
            r"(?:[\w']+\s+){0,3}"
            r"(?:senha|cvv|codigo de seguranca|codigo de verificacao|numero (?:completo )?do cartao)\b",
            r"(?<!never )(?<!not )\b(?:send|give|tell|type|enter|provide|share)\s+(?:me\s+|us\s+)?(?:[\w']+\s+){0,2}"
            r"(?:password|cvv|security code|verification code|card number)\b",
            # A card number: 16 to 19 digits in groups of four, or the 15-digit 4-6-5 layout. Phone numbers
            # (at most 13 digits with the country code) and CPF/CNPJ do not fit these shapes.
            r"\b\d{4}(?:(?:[ .-]?\d{4}){3}\d{0,3}|[ -]?\d{6}[ -]?\d{5})\b",
        ),
        severity="critical",
        action="replace",
        safe_replacement=(
            "Por segurança, nunca pedimos senhas, códigos ou o número completo do cartão por aqui. "
            "Posso ajudar com outra coisa?"
        ),
    ),
    ConstraintRule(
        slug="no-legal-or-medical-advice",
        title="Nunca dar aconselhamento jurídico ou médico",
        description=(
            "Nunca dê aconselhamento jurídico ou médico (o que fazer num processo, contrato de terceiros, "
            "diagnóstico, remédio ou dose). Sugira procurar um advogado ou um profissional de saúde."
        ),
        phrases=(
            "você deve processar",
            "você pode processar",
            "entre com uma ação judicial",
            "entre na justiça",
            "juridicamente você deve",
            "tome este remédio",
            "tome esse remédio",
            "tome o remédio",
            "a dose recomendada",
            "recomendo o medicamento",
            "seu diagnóstico é",
            "you should sue",
            "file a lawsuit",
            "take this medication",
            "the recommended dose",
            "your diagnosis is",
        ),
        patterns=(
            r"\b\d+(?:[.,]\d+)?\s*(?:mg|mcg|microgramas?|miligramas?)\b",
            r"\b(?:tome|tomar|take)\s+(?:\d+|um|uma|dois|duas|one|two)\s+(?:comprimidos?|capsulas?|gotas|pills?|tablets?)\b",
        ),
        severity="high",
        action="replace",
        safe_replacement=(
            "Não posso orientar sobre questões jurídicas ou de saúde. Para isso, procure um advogado ou um "
            "profissional de saúde. Posso ajudar com algo sobre os nossos serviços?"
        ),
    ),
)

BUILTIN_SLUGS = frozenset(rule.slug for rule in BUILTIN_CONSTRAINTS)


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
