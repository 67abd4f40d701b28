"""Demo content in Brazilian Portuguese for Pyloto, loaded by `manage.py seed_demo`."""

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

FAQS = [
    {
        "question": "O que a Pyloto faz?",
        "answer": (
            "Criamos e operamos assistentes de atendimento no WhatsApp para pequenas e médias empresas. O "
            "assistente responde dúvidas frequentes, organiza pedidos e passa a conversa para a sua equipe "
            "quando precisa de uma pessoa."
        ),
        "keywords": "pyloto, o que faz, empresa, serviço",
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
        "keywords": "horário, atendimento, funcionamento, expediente",
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
        "keywords": "pagamento, boleto, pix, cartão, forma de pagar",
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

POLICIES = [
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
