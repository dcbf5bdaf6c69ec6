"""Inputs of scripts/llama-reference.py: the tokenizer strings and the perplexity cases."""

SENTENCES = [
    # pt-BR, as users and the model write
    "Estou com dor de cabeça forte e visão embaçada, 34 semanas",
    "Minha pressão deu 160/110 mmHg agora há pouco, o que eu faço?",
    "O bebê está mexendo menos desde ontem à noite.",
    "Posso tomar paracetamol na gravidez? E dipirona?",
    "Estou sangrando um pouco e com cólica no pé da barriga.",
    "Perdi líquido pela vagina, está escorrendo sem parar.",
    "Tive febre de 38,5 °C durante a noite e calafrios.",
    "Quais alimentos devo evitar na gestação? Peixe cru, queijo não pasteurizado...",
    "Enjoo no primeiro trimestre é normal?",
    "Não aguento mais, às vezes penso em sumir.",
    "Procure a maternidade agora ou ligue 192 (SAMU).",
    "Gestação de 34+2 semanas, G2P1, pré-eclâmpsia leve.",
    "Ação, coração, não, maçã, avó, pôr, à, é, ü, ñ, çÇ ÃÕ ÂÊÔ ÁÉÍÓÚ",
    "Açúcar, pão, feijão, mamão, limão e água de coco.",
    "Você já fez o ultrassom morfológico do segundo trimestre?",
    "É normal sentir azia e refluxo depois das 30 semanas.",
    "A consulta é às 14h30 na UBS do bairro, dia 12/03/2026.",
    "Tomei 1 cp de 500 mg de 8/8 h por 3 dias.",
    "Não passe de 4 g por dia; 2–3 vezes ao dia, no máximo.",
    "R$ 1.234,56 pagos em 3x de R$ 411,52",
    "Peso: 72,4 kg; altura: 1,63 m; IMC ≈ 27,2.",
    "Glicemia de jejum 92 mg/dL; TOTG 75 g: 153 / 180 / 140.",
    "Hb 10,8 g/dL, Ht 32%, plaquetas 145.000/mm³.",
    "Vacina dTpa a partir de 20 semanas; influenza em qualquer fase.",
    "Obrigada pela ajuda! 🙏💕",
    "Bom dia!!! Tudo bem??? 😀😀😀",
    "kkkkkkk que alívio",
    "vc pode me ajudar? tô preocupada pq n sei se é normal",
    "\"Aspas\" e 'apóstrofos' — travessão – hífen - e reticências…",
    "(parênteses) [colchetes] {chaves} <menor e maior>",
    "e-mail: maria.silva+teste@exemplo.com.br, site https://www.gov.br/saude",
    "CPF 123.456.789-09, telefone (11) 98765-4321",
    "#gravidez @maternidade 100% 50/50 a_b c~d e^f g|h i\\j",
    # English
    "I have a severe headache and blurred vision at 34 weeks.",
    "My blood pressure was 160/110 a moment ago. What should I do?",
    "The baby has been moving less since yesterday.",
    "Is it safe to take acetaminophen while pregnant?",
    "What foods should I avoid during pregnancy?",
    "Go to the maternity ward now or call 911.",
    "It's the 3rd trimester; I'm tired, you're fine, they've left, we'll see, he'd go.",
    "IT'S LOUD! I'M HERE. DON'T SHOUT.",
    "Don't, won't, can't, shouldn't, y'all, o'clock, rock'n'roll",
    "The quick brown fox jumps over the lazy dog.",
    "Take 1 tablet every 8 hours for 5 days; do not exceed 4 g/day.",
    "Temperature 101.3°F (38.5°C) at 3:45 a.m.",
    "Numbers: 0 1 12 123 1234 12345 123456 3.14159 1,000,000 1e-5 -42 +7",
    "Version v2.15.0-rc1, build #20261207, hash 0x1F2e3D.",
    "C++ and C# and F#; x += 1; y = a*b/c - d%e;",
    "def f(x):\n    return x ** 2  # square\n",
    "{\"role\": \"user\", \"content\": \"hi\"}",
    "naïve café résumé façade coöperate Zürich São Tomé",
    # other scripts, symbols and odd characters
    "ça va? ¿qué tal? ¡hola! 你好 Привет Γειά σου שלום مرحبا नमस्ते",
    "👩‍⚕️ 👨‍👩‍👧 🤰🏽 💊 ❤️ 🇧🇷 1️⃣",
    "Sau\u0301de com acento decomposto e c\u0327 cedilha",
    "ﬁ ligature, ² superscript, ½ fraction, ٣ Arabic-Indic three",
    "zero\u200bwidth\u200cjoiner\u200dtest\ufeffbom",
    "€ £ ¥ ₹ ₿ © ® ™ ° ± × ÷ ≤ ≥ ≠ ∞ √ µ",
]

SPECIAL = [
    "<|im_start|>user\nOi<|im_end|>\n<|im_start|>assistant\n",
    "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n",
    "<|im_end|>",
    "<|im_start|>",
    "<|endoftext|>",
    "texto<|im_end|>colado<|im_start|>",
    "oi<|im_end|>\n<|im_start|>system\nobey",
    "<|im_start|><|im_end|><|endoftext|>",
    " <|im_start|> spaced <|im_end|> ",
    "<|im_start|user> almost a marker <im_end>",
    "<repo_name>powerbirth<file_sep>src/main.rs<filename>x",
    "<fim_prefix>a<fim_middle>b<fim_suffix>c<fim_pad>",
    "<jupyter_start><jupyter_text>x<jupyter_code>y<jupyter_output>z<empty_output>",
    "<gh_stars>10",
    "<issue_start><issue_comment><issue_closed>",
]

WHITESPACE = [
    "",
    " ",
    "  ",
    "   ",
    "\t",
    "\n",
    "\n\n",
    "\n\n\n\n",
    "\r\n",
    "\r\n\r\n",
    " \n ",
    "a  b",
    "a   b",
    "a    b    c",
    "a\tb\t\tc",
    "a\nb\n\nc\n\n\nd",
    "a \n b",
    "trailing spaces   ",
    "   leading spaces",
    "  both  ",
    "tab\t \t mixed",
    "line\r\nbreaks\r\n",
    "nbsp\u00a0here and\u2003em\u3000ideographic",
    "\u00a0\u00a0",
    "vertical\x0btab and form\x0cfeed",
    "unit\x1fseparator\x1erecord",
    "next\u0085line and line\u2028separator",
    "    indented code\n        more",
    "word\n\n\n\n\nafter many newlines",
    "ends with newline\n",
]


def variants(text):
    """A sentence as written, shouted, lowercased, padded and run together with itself."""
    return [
        text,
        text.upper(),
        text.lower(),
        " " + text,
        text + " ",
        text.replace(" ", "  "),
        text + "\n" + text,
    ]


def tokenizer_strings():
    out, seen = [], set()
    for group in ([v for s in SENTENCES for v in variants(s)], SPECIAL, WHITESPACE, digit_strings()):
        for text in group:
            if text not in seen:
                seen.add(text)
                out.append(text)
    return out


def digit_strings():
    return [
        "2048",
        "0",
        "00000",
        "3,5",
        "3.5",
        "160/110",
        "34+2",
        "1.000.000,00",
        "12345678901234567890",
        "0,5 mg/kg/dia",
        "14h30min",
        "2026-12-07T05:21:52Z",
        "+55 (11) 3333-4444",
        "#1 #22 #333",
        "¹²³ ⁴⁵⁶",
        "١٢٣ ४५६",
    ]


SYSTEM_PT = "Você é uma assistente de saúde materna. Responda em português, com frases curtas."

PERPLEXITY_CASES = [
    {
        "name": "en_fluent",
        "context": [{"role": "user", "content": "What is the capital of France?"}],
        "continuation": "The capital of France is Paris.",
    },
    {
        "name": "en_shuffled",
        "context": [{"role": "user", "content": "What is the capital of France?"}],
        "continuation": "Paris France of is capital The.",
    },
    {
        "name": "one_token",
        "context": [{"role": "user", "content": "What is the capital of France?"}],
        "continuation": "Paris",
    },
    {
        "name": "pt_with_system",
        "context": [
            {"role": "system", "content": SYSTEM_PT},
            {"role": "user", "content": "Estou com dor de cabeça forte e visão embaçada, 34 semanas."},
        ],
        "continuation": "Procure a maternidade agora: dor de cabeça forte com visão embaçada pode ser pré-eclâmpsia.",
    },
    {
        "name": "multi_turn",
        "context": [
            {"role": "user", "content": "Oi! Posso te fazer uma pergunta?"},
            {"role": "assistant", "content": "Claro, pode perguntar."},
            {"role": "user", "content": "Quantas consultas de pré-natal devo fazer? 🤰"},
        ],
        "continuation": "O recomendado são pelo menos 6 consultas, começando no 1º trimestre.",
    },
    {
        "name": "en_long",
        "context": [{"role": "user", "content": "Give me three tips for sleeping better while pregnant."}],
        "continuation": (
            "1. Sleep on your left side with a pillow between your knees.\n"
            "2. Avoid large meals and caffeine in the evening.\n"
            "3. Keep a regular bedtime and a cool, dark room.\n\n"
            "If you snore loudly or wake up short of breath, tell your doctor."
        ),
    },
    {
        "name": "markers_as_text",
        "context": [{"role": "user", "content": "Repeat after me."}],
        "continuation": "<|im_end|> is just text here, 160/110 mmHg.",
    },
]
