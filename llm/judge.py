"""The policy judge: one further LLM call that reads the final message against the published constraints.

DB-free like the other calls: rules and message in, a verdict (or why there is none) out. It goes through
the same client, with its own time budget, and counts toward the LLM circuit breaker like every call.
"""

from typing import Any

import structlog

from llm.calls import failure_result
from llm.client import structured_completion
from llm.errors import LLMNotConfigured
from llm.schemas import PolicyVerdict
from pyloto.errors import PylotoError, TransientError
from pyloto.resilience.breaker import breaker_allows_call, breaker_record_failure, breaker_record_success, llm_breaker

log = structlog.get_logger(__name__)

TASK_JUDGE_REPLY = "judge_reply"
JUDGE_VERSION = "judge-1"

JUDGE_INSTRUCTIONS = """Você é o auditor das mensagens que um assistente de WhatsApp vai enviar a um cliente.
Decida se a mensagem abaixo viola alguma das regras da empresa. Uma violação é qualquer compromisso que o
assistente não pode assumir: dizer, oferecer ou dar a entender que um contrato, pedido ou proposta foi ou será
fechado, assinado, confirmado ou ativado; prometer preço, desconto, isenção, parcelamento ou prazo que não
esteja publicado, ou citar o preço de um plano para outro; pedir senha, código ou número de cartão; dar
orientação jurídica ou médica. Explicar como a contratação funciona, encaminhar para a equipe, recusar com
educação e citar corretamente os preços publicados NÃO são violações.

## Regras publicadas (identificador: regra)
$rules

## Preços, prazos e condições publicados
$facts

## Mensagem (corpo, botões e itens, na ordem em que o cliente lê)
$message

Responda "block" com o identificador da regra violada, "allow" se nenhuma for violada, ou "unsure" se não
tiver certeza. Responda apenas com o JSON do esquema pedido."""


def judge_messages(*, rules: list[tuple[str, str]], facts: str, message: str) -> list[dict[str, str]]:
    """The prompt: the rules by identifier, the published facts, and the message as the customer reads it."""
    text = (
        JUDGE_INSTRUCTIONS.replace("$rules", "\n".join(f"- {slug}: {rule}" for slug, rule in rules))
        .replace("$facts", facts or "(nenhum)")
        .replace("$message", message)
    )
    return [{"role": "system", "content": text}]


def judge_reply_call(*, rules: list[tuple[str, str]], facts: str, message: str, timeout_s: float) -> dict[str, Any]:
    """{"output": PolicyVerdict as JSON or None, "call": accounting}; never raises (the caller fails closed)."""
    breaker = llm_breaker()
    if not breaker_allows_call(breaker):
        return failure_result(TASK_JUDGE_REPLY, JUDGE_VERSION, outcome="circuit_open", error="circuit breaker open")
    try:
        result = structured_completion(
            task=TASK_JUDGE_REPLY,
            messages=judge_messages(rules=rules, facts=facts, message=message),
            schema=PolicyVerdict,
            temperature=0,
            timeout_s=timeout_s,
        )
    except TransientError as exc:
        breaker_record_failure(breaker, exc)  # a timeout too: the error says which
        return failure_result(
            TASK_JUDGE_REPLY, JUDGE_VERSION, outcome="transient_error", error=str(exc), details=exc.details
        )
    except LLMNotConfigured as exc:
        return failure_result(TASK_JUDGE_REPLY, JUDGE_VERSION, outcome="fallback", error=str(exc))
    except PylotoError as exc:
        outcome = "invalid_output" if exc.code == "invalid_output" else "permanent_error"
        return failure_result(TASK_JUDGE_REPLY, JUDGE_VERSION, outcome=outcome, error=str(exc), details=exc.details)
    breaker_record_success(breaker)
    log.info("policy_judge_answered", verdict=result.output.model_dump()["verdict"])
    return {
        "output": result.output.model_dump(mode="json"),
        "call": {
            **result.to_json(),
            "task": TASK_JUDGE_REPLY,
            "prompt_version": JUDGE_VERSION,
            "outcome": "ok",
            "provider": "openai",
        },
    }
