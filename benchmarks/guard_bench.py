"""Output-guard benchmark: a 4 096-character reply against 100 constraints; prints p50/p99/max in ms.

Run with `python -m benchmarks.guard_bench`. No database: the release is built in memory.
"""

import json
import os
import random
import sys
import time

from institutional.builtin import builtin_snapshot
from institutional.guard import check_reply
from institutional.snapshot import CompanyProfileData, ConstraintRule, ReleaseSnapshot

CONSTRAINTS = 100
REPLY_CHARS = 4096
ITERATIONS = 5000
WARMUP = 50
TARGET_P99_MS = 5.0

_WORDS = (
    "atendimento cliente plano mensal entrega suporte horário pedido envio prazo consulta proposta "
    "equipe informação serviço produto pagamento boleto cadastro conta acesso relatório agenda "
    "visita orçamento documento reunião contato mensagem retorno dúvida explicação detalhe"
).split()


def _constraints(rng: random.Random) -> tuple[ConstraintRule, ...]:
    """The built-in rules plus synthetic ones: three phrases each, every other one with a regex too."""
    rules = list(builtin_snapshot().constraints)
    index = 0
    while len(rules) < CONSTRAINTS:
        phrases = tuple(" ".join(rng.sample(_WORDS, 3)) + f" proibido{index}{k}" for k in range(3))
        if index % 4 == 0:
            patterns: tuple[str, ...] = (rf"\bregra{index}\s+\d{{2,4}}\s*(reais|dias)\b",)
        elif index % 4 == 2:
            # An alternation behind `\b`: no literal prefix for the regex engine to skip ahead to.
            patterns = (rf"\b(?:oferta{index}|promo{index}|cupom{index})\b[^.!?\n]{{0,40}}\b(?:gratis|garantid[oa])\b",)
        else:
            patterns = ()
        rules.append(
            ConstraintRule(
                slug=f"synthetic-{index}",
                title=f"Synthetic {index}",
                description="Synthetic constraint for the benchmark.",
                phrases=phrases,
                patterns=patterns,
                severity="high",
                action="replace" if index % 3 else "handoff",
                safe_replacement="Resposta segura.",
            )
        )
        index += 1
    return tuple(rules)


def filler_text(chars: int, seed: int = 1) -> str:
    """Harmless Portuguese of about `chars` characters, sentences of about ten words, no amounts."""
    rng = random.Random(seed)  # noqa: S311 - a reproducible benchmark input, nothing secret
    words: list[str] = []
    while len(" ".join(words)) < chars:
        words.append(rng.choice(_WORDS) + ("." if rng.random() < 0.1 else ""))
    return " ".join(words)[:chars]


# Prices and deadlines the release states: the reply quotes them, so the amount check runs in full.
_FACTS = "O plano Essencial custa R$ 199/mês e a implantação leva 10 dias úteis."


def _reply(rng: random.Random) -> str:
    words: list[str] = []
    while len(" ".join(words)) < REPLY_CHARS:
        words.append(rng.choice(_WORDS))
        if rng.random() < 0.08:
            words[-1] += "."
        if rng.random() < 0.01:
            words.append(_FACTS)
    return " ".join(words)[:REPLY_CHARS]


def measure(iterations: int = ITERATIONS) -> dict:
    """The figures of one run: P50/P99/max of an innocent and of a blocked 4 096-character reply."""
    rng = random.Random(4096)  # noqa: S311 - a reproducible benchmark input, nothing secret
    base = builtin_snapshot()
    release = ReleaseSnapshot(
        number=1,
        profile=CompanyProfileData(name="Pyloto", services=(_FACTS,)),
        faqs=(),
        policies=(),
        constraints=_constraints(rng),
        templates=base.templates,
    ).with_hash()
    reply = _reply(rng)
    if len(reply) != REPLY_CHARS or len(release.constraints) != CONSTRAINTS:
        raise SystemExit("benchmark set-up is wrong")

    labels = ("Falar com a equipe", "Ver planos")
    # The innocent reply scans everything; the blocked one ends in a violation found by a phrase.
    blocked = reply[: REPLY_CHARS - 40] + " Pronto: seu c0ntr4t0  FECHADO, parabéns!"
    innocent_ms = _time(release, reply, labels, expect_allowed=True, iterations=iterations)
    blocked_ms = _time(release, blocked, labels, expect_allowed=False, iterations=iterations)
    return {
        "benchmark": "guard",
        "constraints": CONSTRAINTS,
        "phrases": sum(len(rule.phrases) for rule in release.constraints),
        "patterns": sum(len(rule.patterns) for rule in release.constraints),
        "reply_chars": REPLY_CHARS,
        "iterations": iterations,
        **{f"{key}_ms": value for key, value in innocent_ms.items()},
        **{f"blocked_{key}_ms": value for key, value in blocked_ms.items()},
        "target_p99_ms": TARGET_P99_MS,
        # Other processes compete for the CPU (and its caches): the figures mean little without it.
        "load_1m": round(os.getloadavg()[0], 2),
    }


def main() -> int:
    figures = measure()
    sys.stdout.write(json.dumps(figures) + "\n")
    worst = max(figures["p99_ms"], figures["blocked_p99_ms"])
    return 0 if worst <= TARGET_P99_MS else 1


def _time(
    release: ReleaseSnapshot, text: str, labels: tuple[str, ...], *, expect_allowed: bool, iterations: int
) -> dict:
    for _ in range(WARMUP):
        result = check_reply(release=release, text=text, labels=labels)
    # A wrong verdict would mean we time an early exit, or a guard that lets the violation through.
    if result.allowed != expect_allowed:
        raise SystemExit(f"unexpected guard verdict: allowed={result.allowed} {result.violations}")
    timings, cpu = [], []
    for _ in range(iterations):
        started, started_cpu = time.perf_counter(), time.thread_time()
        check_reply(release=release, text=text, labels=labels)
        timings.append((time.perf_counter() - started) * 1000)
        cpu.append((time.thread_time() - started_cpu) * 1000)
    timings.sort()
    cpu.sort()
    # Wall time includes waiting for a CPU on a shared machine; CPU time is the guard's own cost.
    return {
        "p50": round(timings[len(timings) // 2], 3),
        "p99": round(timings[int(len(timings) * 0.99) - 1], 3),
        "max": round(timings[-1], 3),
        "cpu_p50": round(cpu[len(cpu) // 2], 3),
        "cpu_p99": round(cpu[int(len(cpu) * 0.99) - 1], 3),
    }


if __name__ == "__main__":
    raise SystemExit(main())
