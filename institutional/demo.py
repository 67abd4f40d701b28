"""Demo content in Brazilian Portuguese for Pyloto, loaded by `manage.py seed_demo`."""

from datetime import time
from typing import Any

from institutional.snapshot import CompanyProfileData, FaqEntry, PolicyEntry, ReleaseSnapshot

PROFILE = {
    "name": "Pyloto",
    "description": (
        "A Pyloto cria e opera assistentes de atendimento no WhatsApp para pequenas e médias empresas: "
        "o assistente responde dúvidas, qualifica pedidos e passa a conversa para a equipe do cliente "
        "quando é hora de uma pessoa assumir."
    ),
    "services": "\n".join(
        [
            "Plano Essencial: assistente de perguntas frequentes, até 1.000 conversas/mês — R$ 199/mês",
            "Plano Profissional: FAQ, qualificação de pedidos e encaminhamento para a equipe, até 5.000 "
            "conversas/mês — R$ 499/mês",
            "Plano Empresa: volume acima de 5.000 conversas/mês, integrações com CRM — preço sob consulta",
            "Implantação assistida (configuração, conteúdo e treinamento da equipe) — R$ 990, pagamento único",
            "Relatórios mensais de atendimento incluídos em todos os planos",
        ]
    ),
    "service_hours": "Segunda a sexta, das 8h às 18h (horário de Brasília), exceto feriados nacionais",
    "channels": "\n".join(["WhatsApp (este número)", "E-mail: contato@pyloto.com.br", "Site: https://pyloto.com.br"]),
    "tone_of_voice": (
        "Cordial, claro e objetivo. Trate o cliente por você, use frases curtas, sem gírias nem excesso de "
        "emojis (no máximo um por mensagem). Nunca seja insistente."
    ),
    "default_language": "pt-BR",
}

FAQS: list[dict[str, Any]] = [
    {
        "question": "O que a Pyloto faz?",
        "answer": (
            "Criamos e operamos assistentes de atendimento no WhatsApp para pequenas e médias empresas. O "
            "assistente responde dúvidas frequentes, organiza pedidos e passa a conversa para a sua equipe "
            "quando precisa de uma pessoa."
        ),
        "keywords": "pyloto, o que faz, empresa, serviço, trabalham",
        "priority": 100,
    },
    {
        "question": "Quais são os planos e preços?",
        "answer": (
            "Essencial: R$ 199/mês (até 1.000 conversas). Profissional: R$ 499/mês (até 5.000 conversas, com "
            "qualificação e encaminhamento). Empresa: acima de 5.000 conversas, preço sob consulta com a "
            "equipe comercial."
        ),
        "keywords": "preço, planos, valor, quanto custa, mensalidade",
        "priority": 95,
    },
    {
        "question": "Qual é o horário de atendimento?",
        "answer": "Nossa equipe atende de segunda a sexta, das 8h às 18h (horário de Brasília), exceto feriados.",
        "keywords": "horário, atendimento, funcionamento, expediente, sábado, domingo, feriado, abrem, abertos",
        "priority": 90,
    },
    {
        "question": "Como faço para contratar?",
        "answer": (
            "Eu explico os planos e tiro as suas dúvidas; a contratação é feita com a nossa equipe comercial, "
            "que envia a proposta e o contrato para assinatura. Posso pedir para alguém da equipe falar com você."
        ),
        "keywords": "contratar, contratação, assinar, proposta, comercial",
        "priority": 90,
    },
    {
        "question": "Quanto tempo leva a implantação?",
        "answer": (
            "A implantação assistida leva em média 10 dias úteis depois da assinatura do contrato, e custa "
            "R$ 990 em pagamento único."
        ),
        "keywords": "implantação, prazo, quanto tempo, começar, setup",
        "priority": 80,
    },
    {
        "question": "Existe fidelidade ou multa para cancelar?",
        "answer": (
            "Não há fidelidade nos planos Essencial e Profissional: você pode cancelar a qualquer momento com "
            "30 dias de aviso, sem multa."
        ),
        "keywords": "cancelar, cancelamento, fidelidade, multa",
        "priority": 75,
    },
    {
        "question": "Quais são as formas de pagamento?",
        "answer": "Aceitamos boleto, Pix e cartão de crédito, com cobrança mensal.",
        "keywords": "pagamento, boleto, pix, cartão, forma de pagar, pagar, pago",
        "priority": 70,
    },
    {
        "question": "Vocês têm período de teste?",
        "answer": "Sim: 14 dias de teste grátis no plano Essencial, sem cartão de crédito.",
        "keywords": "teste, grátis, trial, experimentar",
        "priority": 65,
    },
    {
        "question": "O assistente funciona fora do horário comercial?",
        "answer": (
            "Sim, o assistente responde 24 horas por dia. Fora do horário, pedidos que precisam de uma pessoa "
            "ficam registrados e a equipe retoma no próximo horário de atendimento."
        ),
        "keywords": "24 horas, noite, fim de semana, fora do horário",
        "priority": 60,
    },
    {
        "question": "Vocês integram com o meu sistema ou CRM?",
        "answer": (
            "Integrações com CRM estão disponíveis no plano Empresa. A equipe comercial avalia o seu sistema "
            "e confirma o que é possível."
        ),
        "keywords": "integração, crm, sistema, api",
        "priority": 55,
    },
    {
        "question": "Meus dados e os dos meus clientes ficam seguros?",
        "answer": (
            "Sim. Seguimos a LGPD, guardamos apenas o necessário para o atendimento e nunca pedimos senhas "
            "ou números completos de cartão pelo WhatsApp."
        ),
        "keywords": "segurança, dados, lgpd, privacidade",
        "priority": 50,
    },
    {
        "question": "Como falo com uma pessoa da equipe?",
        "answer": (
            "É só pedir aqui mesmo: eu passo a conversa para uma pessoa da equipe, que responde no horário de "
            "atendimento."
        ),
        "keywords": "atendente, humano, pessoa, falar com alguém",
        "priority": 85,
    },
]

POLICIES: list[dict[str, Any]] = [
    {
        "title": "Contratos e propostas",
        "body": (
            "Somente a equipe comercial envia propostas, fecha, assina ou confirma contratos. O assistente "
            "explica os planos e encaminha o interessado para a equipe."
        ),
        "priority": 100,
    },
    {
        "title": "Preços, descontos e prazos",
        "body": (
            "Valem somente os preços e prazos publicados aqui. Descontos, condições especiais e prazos "
            "diferentes são decididos pela equipe comercial, nunca pelo assistente."
        ),
        "priority": 95,
    },
    {
        "title": "Privacidade e segurança",
        "body": (
            "Nunca peça senhas, códigos de verificação ou o número completo do cartão. Dados pessoais são "
            "usados apenas para o atendimento, conforme a LGPD."
        ),
        "priority": 90,
    },
    {
        "title": "Cancelamento",
        "body": "Planos Essencial e Profissional podem ser cancelados a qualquer momento com 30 dias de aviso.",
        "priority": 60,
    },
]

# The profile's description in the other languages the demo answers in.
PROFILE_TRANSLATIONS = {
    "en": (
        "Pyloto builds and runs WhatsApp customer-service assistants for small and medium businesses: the "
        "assistant answers questions, qualifies requests and hands the conversation to the customer's team "
        "when it is time for a person to step in."
    ),
    "es": (
        "Pyloto crea y opera asistentes de atención en WhatsApp para pequeñas y medianas empresas: el "
        "asistente responde dudas, califica pedidos y pasa la conversación al equipo del cliente cuando "
        "es momento de que una persona intervenga."
    ),
}

# FAQ translations, keyed by the Portuguese question: {language: (question, answer, keywords)}.
FAQ_TRANSLATIONS: dict[str, dict[str, tuple[str, str, str]]] = {
    "O que a Pyloto faz?": {
        "en": (
            "What does Pyloto do?",
            "We build and run WhatsApp customer-service assistants for small and medium businesses. The "
            "assistant answers frequent questions, organises requests and hands the conversation to your team "
            "when a person is needed.",
            "pyloto, what do you do, company, services, offer",
        ),
        "es": (
            "¿Qué hace Pyloto?",
            "Creamos y operamos asistentes de atención en WhatsApp para pequeñas y medianas empresas. El "
            "asistente responde preguntas frecuentes, organiza pedidos y pasa la conversación a su equipo "
            "cuando se necesita una persona.",
            "pyloto, qué hacen, empresa, servicios, ofrecen",
        ),
    },
    "Quais são os planos e preços?": {
        "en": (
            "What are the plans and prices?",
            "Essencial: R$ 199/month (up to 1,000 conversations). Profissional: R$ 499/month (up to 5,000 "
            "conversations, with qualification and routing). Empresa: above 5,000 conversations, price on "
            "request with the sales team.",
            "price, prices, plans, cost, how much, monthly fee",
        ),
        "es": (
            "¿Cuáles son los planes y precios?",
            "Essencial: R$ 199/mes (hasta 1.000 conversaciones). Profissional: R$ 499/mes (hasta 5.000 "
            "conversaciones, con calificación y derivación). Empresa: más de 5.000 conversaciones, precio a "
            "consultar con el equipo comercial.",
            "precio, precios, planes, cuánto cuesta, costo, mensualidad",
        ),
    },
    "Qual é o horário de atendimento?": {
        "en": (
            "What are your opening hours?",
            "Our team works Monday to Friday, 8 am to 6 pm (Brasília time), except public holidays.",
            "hours, opening hours, open, schedule, business hours",
        ),
        "es": (
            "¿Cuál es el horario de atención?",
            "Nuestro equipo atiende de lunes a viernes, de 8 a 18 h (hora de Brasilia), excepto feriados.",
            "horario, atención, abierto, horas",
        ),
    },
    "Como faço para contratar?": {
        "en": (
            "How do I sign up?",
            "I can explain the plans and answer your questions; signing up is done with our sales team, who "
            "send the proposal and the contract for signature. I can ask someone from the team to talk to you.",
            "sign up, hire, buy, subscribe, proposal, sales",
        ),
        "es": (
            "¿Cómo contrato el servicio?",
            "Yo explico los planes y respondo sus dudas; la contratación se hace con nuestro equipo comercial, "
            "que envía la propuesta y el contrato para firmar. Puedo pedir que alguien del equipo hable con usted.",
            "contratar, contratación, comprar, propuesta, comercial",
        ),
    },
    "Quanto tempo leva a implantação?": {
        "en": (
            "How long does the setup take?",
            "Assisted setup takes 10 business days on average after the contract is signed, and costs R$ 990 "
            "as a one-off payment.",
            "setup, onboarding, implementation, how long, start",
        ),
        "es": (
            "¿Cuánto tarda la implementación?",
            "La implementación asistida tarda en promedio 10 días hábiles después de la firma del contrato, y "
            "cuesta R$ 990 en un único pago.",
            "implementación, instalación, cuánto tarda, plazo, empezar",
        ),
    },
    "Existe fidelidade ou multa para cancelar?": {
        "en": (
            "Is there a minimum term or a cancellation fee?",
            "There is no minimum term on the Essencial and Profissional plans: you can cancel at any time with "
            "30 days' notice, with no fee.",
            "cancel, cancellation, minimum term, fee, penalty",
        ),
        "es": (
            "¿Hay permanencia o multa por cancelar?",
            "No hay permanencia en los planes Essencial y Profissional: puede cancelar en cualquier momento con "
            "30 días de aviso, sin multa.",
            "cancelar, cancelación, permanencia, multa",
        ),
    },
    "Quais são as formas de pagamento?": {
        "en": (
            "How can I pay?",
            "We accept boleto, Pix and credit card, billed monthly.",
            "payment, pay, credit card, pix, boleto, payment methods",
        ),
        "es": (
            "¿Cuáles son las formas de pago?",
            "Aceptamos boleto, Pix y tarjeta de crédito, con cobro mensual.",
            "pago, pagar, tarjeta, pix, boleto, formas de pago",
        ),
    },
    "Vocês têm período de teste?": {
        "en": (
            "Do you have a free trial?",
            "Yes: a 14-day free trial on the Essencial plan, no credit card needed.",
            "trial, free trial, free, test, try",
        ),
        "es": (
            "¿Tienen período de prueba?",
            "Sí: 14 días de prueba gratis en el plan Essencial, sin tarjeta de crédito.",
            "prueba, gratis, probar, período de prueba",
        ),
    },
    "O assistente funciona fora do horário comercial?": {
        "en": (
            "Does the assistant work outside business hours?",
            "Yes, the assistant answers 24 hours a day. Outside business hours, requests that need a person are "
            "recorded and the team picks them up in the next opening hours.",
            "24 hours, night, weekend, outside business hours",
        ),
        "es": (
            "¿El asistente funciona fuera del horario comercial?",
            "Sí, el asistente responde las 24 horas. Fuera del horario, los pedidos que necesitan una persona "
            "quedan registrados y el equipo los retoma en el siguiente horario de atención.",
            "24 horas, noche, fin de semana, fuera del horario",
        ),
    },
    "Vocês integram com o meu sistema ou CRM?": {
        "en": (
            "Do you integrate with my system or CRM?",
            "CRM integrations are available on the Empresa plan. The sales team reviews your system and "
            "confirms what is possible.",
            "integration, integrate, crm, system, api",
        ),
        "es": (
            "¿Se integran con mi sistema o CRM?",
            "Las integraciones con CRM están disponibles en el plan Empresa. El equipo comercial evalúa su "
            "sistema y confirma lo que es posible.",
            "integración, integrar, crm, sistema, api",
        ),
    },
    "Meus dados e os dos meus clientes ficam seguros?": {
        "en": (
            "Are my data and my customers' data safe?",
            "Yes. We follow Brazil's LGPD, keep only what the service needs and never ask for passwords or full "
            "card numbers on WhatsApp.",
            "security, data, privacy, lgpd, safe",
        ),
        "es": (
            "¿Mis datos y los de mis clientes están seguros?",
            "Sí. Seguimos la LGPD de Brasil, guardamos solo lo necesario para la atención y nunca pedimos "
            "contraseñas ni números completos de tarjeta por WhatsApp.",
            "seguridad, datos, privacidad, lgpd",
        ),
    },
    "Como falo com uma pessoa da equipe?": {
        "en": (
            "How do I talk to someone from the team?",
            "Just ask here: I will pass the conversation to a person from the team, who answers during business hours.",
            "agent, human, person, talk to someone",
        ),
        "es": (
            "¿Cómo hablo con una persona del equipo?",
            "Solo pídalo aquí: paso la conversación a una persona del equipo, que responde en el horario de atención.",
            "agente, humano, persona, hablar con alguien",
        ),
    },
}


def demo_snapshot(number: int = 1) -> ReleaseSnapshot:
    """The demo content with the built-in rules as an in-memory release (no database): red team and tests."""
    from institutional.builtin import builtin_snapshot

    base = builtin_snapshot()
    return ReleaseSnapshot(
        number=number,
        profile=CompanyProfileData(
            name=PROFILE["name"],
            description=PROFILE["description"],
            services=tuple(PROFILE["services"].splitlines()),
            service_hours=PROFILE["service_hours"],
            channels=tuple(PROFILE["channels"].splitlines()),
            tone_of_voice=PROFILE["tone_of_voice"],
            default_language=PROFILE["default_language"],
        ),
        faqs=tuple(
            FaqEntry(id=index, question=item["question"], answer=item["answer"], priority=item["priority"])
            for index, item in enumerate(FAQS, start=1)
        ),
        policies=tuple(
            PolicyEntry(id=index, title=item["title"], body=item["body"], priority=item["priority"])
            for index, item in enumerate(POLICIES, start=1)
        ),
        constraints=base.constraints,
        templates=base.templates,
    ).with_hash()


# What PROFILE["service_hours"] says, as the business hours the product knows (institutional/hours.py).
BUSINESS_TIME_ZONE = "America/Sao_Paulo"
BUSINESS_PERIODS: list[tuple[int, time, time]] = [(weekday, time(8, 0), time(18, 0)) for weekday in range(5)]
