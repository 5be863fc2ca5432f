"""Texts for the tokenization check (>= 50 with the specials and chats added by ``build``) and the
held-out passage for perplexity."""

from __future__ import annotations

from collections.abc import Callable

BASE_TEXTS: tuple[str, ...] = (
    "Hello world",
    " Hello world",
    "hello  world   with   runs   of   spaces",
    "The quick brown fox jumps over the lazy dog.",
    "It's, isn't, they're, we've, I'm, you'll, he'd — CAN'T, WON'T.",
    "  leading and trailing spaces  ",
    "\n\nnewlines\n\n\nand\r\nwindows line ends\r\n",
    "\ttabs\tand\t\tmore tabs",
    "Numbers: 0 1 12 123 1234 12345 123456 1234567 3.14159 -2.5e-10 1,000,000",
    "Dates 2024-06-01T12:34:56Z and phone +1 (555) 010-0199",
    "def fib(n):\n    return n if n < 2 else fib(n - 1) + fib(n - 2)\n",
    "for (int i = 0; i < n; ++i) { sum += a[i] * b[i]; }",
    "const f = async (x) => { await fetch(`/api/${x}`); };",
    "SELECT name, COUNT(*) FROM users WHERE age >= 18 GROUP BY name;",
    "<div class=\"main\"><p>Hello &amp; welcome</p></div>",
    "{\"key\": [1, 2, 3], \"nested\": {\"a\": null, \"b\": true}}",
    "    indented code block\n        more indented\n",
    "import numpy as np\n\nx = np.zeros((3, 4), dtype=np.float32)\n",
    "Ünïcödé: naïve café, façade, jalapeño, Zürich, São Paulo",
    "Ελληνικά: Γειά σου Κόσμε",
    "Русский текст: Привет, мир!",
    "中文：你好，世界！我们今天学习机器学习。",
    "日本語：こんにちは世界。カタカナとひらがな。",
    "한국어: 안녕하세요 세계",
    "العربية: مرحبا بالعالم",
    "हिन्दी: नमस्ते दुनिया",
    "Emoji: 🤖🎉👍🏽 👨‍👩‍👧 ❤️ 🇫🇷",
    "Math: ∑ᵢ xᵢ² ≤ ∞, ∀x ∈ ℝ, √2 ≈ 1.414, π r²",
    "Mixed: a1b2c3 ABCdef GHIjkl mnoPQR",
    "CamelCaseIdentifier snake_case_identifier kebab-case-identifier SCREAMING_CASE",
    "URL https://example.com/path?query=1&x=y#frag and email a.b@example.org",
    "Punctuation!!! ??? ... --- ___ *** ### @@@ $$$ %%% ^^^ &&& ((())) [[[]]] {{{}}}",
    "'single' \"double\" `back` «guillemets» „low“ ‘curly’",
    "a",
    " ",
    "  ",
    "\n",
    "x\u00a0y\u2009z\u200bw",
    "The year 1999 and 2000; version v1.2.3-rc.4+build.5",
    "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt.",
    "Q: What is 2+2?\nA: 4.",
    "- item one\n- item two\n  - nested item\n1. first\n2. second",
    "| col a | col b |\n|-------|-------|\n| 1     | 2     |",
    "$ git commit -m \"fix: handle empty input\" && git push origin main",
    "Ceci n'est pas une pipe. L'été dernier, j'ai vu l'océan.",
    "Der Überfluss führt zu Größenwahn; Straße, Maß, weiß.",
    "ALL CAPS SENTENCE WITH NUMBERS 42 AND SYMBOLS #1!",
    "trailing newline\n",
)

HELD_OUT = (
    "The history of the bicycle begins in the early nineteenth century, when inventors in Europe built "
    "two-wheeled machines that riders pushed along with their feet. Pedals attached to the front wheel came "
    "later, and the chain drive that turns the rear wheel arrived near the end of the century, together with "
    "pneumatic tyres. These changes made cycling faster, safer and more comfortable, and bicycles soon became "
    "a common way to travel to work. Today engineers still study the stability of a moving bicycle: the "
    "geometry of the front fork, the mass of the wheels and the way a rider leans all help to keep it upright. "
    "In many cities, dedicated lanes and shared bicycle schemes have made short trips easier, cheaper and "
    "cleaner than driving a car, and a well maintained bicycle can last for decades with only simple repairs.\n\n"
    "Bread is one of the oldest prepared foods. A simple loaf needs only flour, water, salt and yeast, yet the "
    "result depends on time and temperature as much as on the ingredients. When the dough rests, the yeast "
    "ferments sugars from the flour and releases carbon dioxide, which is trapped by a network of gluten "
    "proteins. Kneading strengthens that network, so the dough can rise without tearing. Bakers who want a "
    "deeper flavour let the dough ferment slowly in a cool place overnight. In the oven, the water in the dough "
    "turns to steam, the gas bubbles expand, and the crust browns as sugars and proteins react at high heat. A "
    "loaf is done when it sounds hollow when tapped on the bottom, and it should cool before it is sliced.\n\n"
    "Teacher: Why does the Moon show phases?\n"
    "Student: Because the Earth's shadow covers part of it?\n"
    "Teacher: That is a common idea, but the shadow only matters during an eclipse. The Moon is always half lit "
    "by the Sun. As it orbits the Earth over about twenty-nine days, we see different amounts of the lit half. "
    "When the Moon is between the Earth and the Sun, the lit side faces away from us and we call it a new moon. "
    "A week later we see half of the lit side, and at full moon the whole lit face points towards the Earth.\n\n"
    "To count the words in a text file with Python, open the file, read its contents and split them on "
    "whitespace. The function below returns a dictionary that maps each word to the number of times it "
    "appears, ignoring case and punctuation at the ends of words:\n\n"
    "def count_words(path):\n"
    "    counts = {}\n"
    "    with open(path, encoding='utf-8') as handle:\n"
    "        for word in handle.read().split():\n"
    "            key = word.strip('.,;:!?\"()').lower()\n"
    "            if key:\n"
    "                counts[key] = counts.get(key, 0) + 1\n"
    "    return counts\n\n"
    "Rivers shape the land they cross. Fast water in the mountains cuts narrow valleys and carries stones and "
    "sand downstream. Where the ground flattens, the river slows, drops its load and begins to wind from side "
    "to side in wide curves called meanders. Over many years a meander can be cut off to form a small lake. "
    "Near the sea the river spreads its sediment into a delta, a fan of new land that farmers have used for "
    "thousands of years because the soil there is rich and easy to work."
)

CONVERSATIONS: tuple[tuple[tuple[str, str], ...], ...] = (
    (("user", "What is the capital of France?"), ("assistant", "The capital of France is Paris.")),
    (
        ("system", "You are a concise assistant."),
        ("user", "Write a Python function that reverses a string."),
        ("assistant", "def reverse(s):\n    return s[::-1]"),
        ("user", "Now in one line of JavaScript."),
    ),
    (("user", "Traduis « bonjour » en japonais 🇯🇵"), ("assistant", "こんにちは (konnichiwa).")),
    (("user", "List three primes."), ("assistant", "2, 3, 5."), ("user", "And the next three?")),
)


def build(special_tokens: list[str], render: Callable[[list[dict[str, str]]], str] | None) -> list[tuple[str, bool]]:
    """(text, is_rendered_chat) pairs: the base texts, texts around special tokens, chat renders."""
    out = [(t, False) for t in BASE_TEXTS]
    for tok in special_tokens:
        out.append((f"{tok}Hello{tok} world {tok}\n", False))
        out.append((f"before {tok} after", False))
    if render is not None:
        for conv in CONVERSATIONS:
            messages = [{"role": r, "content": c} for r, c in conv]
            try:
                out.append((render(messages), True))
            except Exception:  # a template that rejects e.g. a system role: skip that conversation
                continue
    return out
