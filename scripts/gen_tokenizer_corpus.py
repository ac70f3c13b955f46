#!/usr/bin/python3
"""Writes tests/data/tokenizer/corpus.jsonl, the tokenizer parity corpus (deterministic).

One JSON string per line. Hand-written records cover the cases that break tokenizers (many
scripts, emoji ZWJ sequences and skin tones, combining marks and NFC, whitespace runs with \\r\\n,
tabs and trailing spaces, digit runs, code, contractions in all cases, special tokens inside
text); seeded random records mix all of those again. Usage:

    /usr/bin/python3 scripts/gen_tokenizer_corpus.py > tests/data/tokenizer/corpus.jsonl
"""
import json
import random

HAND_WRITTEN = [
    "Hello world! This is a plain English sentence, with punctuation; and more...",
    "I'm sure you're right: they've said we'll go, she'd agree, it's fine and he's done.",
    "DON'T SHOUT. I'M NOT. YOU'RE LOUD! WE'VE GOT IT, THEY'LL SEE, HE'D KNOW, IT'S 'S 'T",
    "Mixed case: Don'T, I'M, You'Re, We'Ve, They'Ll, He'D, It'S, 'sup, 'twas, rock'n'roll",
    "Quotes: 'single' \"double\" `back` ’curly’ “smart” «guillemets» „low“ ‹angle›",
    "Numbers: 0 1 12 123 1234 12345 123456 1234567890 3.14159 -42 +7 1e-9 0xFF 0b1010 1,000,000",
    "Dates 2024-01-31T12:34:56Z, times 09:05, phones +1 (555) 010-9999, IPs 192.168.0.1",
    "Line one\nLine two\n\nLine four after a blank line\n",
    "Windows lines\r\nsecond\r\n\r\nfourth\r\n",
    "Old Mac line\rsecond\r\rthird",
    "Tabs\tbetween\t\twords\t\t\tand trailing tabs\t\t",
    "Trailing spaces   ",
    "   Leading spaces",
    "Many     internal      spaces       here",
    " \n \n\t\n  \r\n   x",
    "\n\n\n\n",
    "    ",
    "\t",
    "a \u00a0b\u2003c\u3000d\u2009e\u202ff\u205fg\u1680h\u200ai",
    "NEL\u0085next and BOM\ufeffinside and ZWSP\u200bhere and LS\u2028PS\u2029end",
    "def foo(x, y=3):\n    \"\"\"Doc.\"\"\"\n    if x > y:\n        return x ** 2  # square\n    return [i for i in range(y)]\n",
    "int main(int argc, char** argv) {\n\tstd::vector<int> v{1, 2, 3};\n\tfor (auto& x : v) x *= 2;\n\treturn v.size() == 3 ? 0 : 1;\n}\n",
    "const f = async (a) => { await fetch(`/api/${a}?q=1&r=2`); return a?.b ?? null; };",
    "{\"key\": \"value\", \"list\": [1, 2.5, true, null], \"nested\": {\"a\": \"b\"}}",
    "SELECT id, name FROM users WHERE age >= 18 AND name LIKE '%son' ORDER BY id DESC;",
    "<div class=\"x\">Hello &amp; <b>bold</b></div> <!-- comment --> <br/>",
    "$ ls -la /usr/bin | grep -E '^-rwx' && echo \"done\" || exit 1",
    "x=1;y=2;z=x+y*3/4-5%6^7|8&9~10<<11>>12",
    "https://example.com/path/to/page?query=string&foo=bar#anchor mailto:someone@example.org",
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nHi!<|im_end|>\n<|im_start|>assistant\n",
    "<think>\nLet me think step by step.\n</think>\n\nThe answer is 42.<|im_end|>",
    "text<|im_end|>text<|im_start|>text<|endoftext|>more",
    "partial <|im_start and <|im_end| and <|endoftext are not tokens",
    "<tool_call>\n{\"name\": \"search\", \"arguments\": {\"q\": \"x\"}}\n</tool_call>",
    "  <|im_start|>  spaces around  <|im_end|>  ",
    "中文文本，包含标点符号。这是一个测试句子！我们在2024年进行了测试。",
    "日本語のテキスト：ひらがな、カタカナ、漢字を含みます。東京は晴れです。",
    "한국어 텍스트입니다. 안녕하세요! 반갑습니다.",
    "Decomposed Hangul: \u1112\u1161\u11ab\u1100\u1173\u11af and jamo \u1100\u1161 only",
    "Русский текст: Съешь же ещё этих мягких французских булок, да выпей чаю.",
    "Ελληνικά: Ξεσκεπάζω την ψυχοφθόρα βδελυγμία. Αλφάβητο αβγδεζηθ.",
    "العربية: هذا نص تجريبي باللغة العربية، مع أرقام ١٢٣٤٥ وعلامات.",
    "עברית: זהו טקסט לדוגמה בעברית עם ניקוד: שָׁלוֹם.",
    "हिन्दी: यह एक परीक्षण वाक्य है। संख्याएँ १२३ और मात्राएँ।",
    "ภาษาไทย: นี่คือประโยคทดสอบภาษาไทย ไม่มีช่องว่างระหว่างคำ",
    "Tiếng Việt: Tôi yêu tiếng Việt, những dấu thanh như ằ ẩ ẫ ấ ậ.",
    "Vietnamese decomposed: Vie\u0302\u0323t Nam and a\u0306\u0300",
    "தமிழ்: இது ஒரு சோதனை வாக்கியம். አማርኛ: ሰላም ለዓለም። ქართული: გამარჯობა",
    "Combining: e\u0301 a\u0308 o\u0303 n\u0303 c\u0327 A\u030a and reorder a\u0323\u0308 vs a\u0308\u0323",
    "Zalgo: Z\u0351\u036b\u0343a\u0352\u036bl\u0346\u036dg\u0350o\u0357\u0300 text",
    "Singletons: \u212b (Angstrom) \u2126 (Ohm) \u212a (Kelvin) \u0340 \u0341 \u0374 \u037e \u0387",
    "Ligatures and compat: ﬁ ﬂ ﬀ ① ² ½ ｆｕｌｌｗｉｄｔｈ ＡＢＣ １２３ ㈱ ™ …",
    "Emoji: 😀 😂 🥲 🤖 👍 👍🏻 👍🏽 👍🏿 ❤️ ✨ 🔥 🎉 🚀",
    "ZWJ families: 👨‍👩‍👧‍👦 👩‍💻 🧑🏾‍🚀 🏳️‍🌈 🏴‍☠️ 👁️‍🗨️ 🫶🏼",
    "Flags and keycaps: 🇫🇷 🇯🇵 🇺🇸 🇩🇪 1️⃣ #️⃣ *️⃣ 🔟",
    "Math: ∑∫∂√∞ ≠ ≤ ≥ ± × ÷ → ⇒ ∀x∈ℝ: x² ≥ 0, α+β=γ, ∇·E = ρ/ε₀",
    "Currency: $100 €50 £30 ¥1000 ₹500 ₩3000 ₿0.01 ¢ 5¤",
    "Box drawing ┌─┐│└┘ and arrows ←↑→↓ and blocks ░▒▓█",
    "Apostrophes in words: rock'n'roll, o'clock, y'all, ma'am, '90s, '''triple'''",
    "abc123def456 x1y2z3 A1B2 v2.0.1 COVID-19 H2O",
    "   \t  mixed \t whitespace \t  ",
    "end with newline and spaces  \n  ",
    "a\n",
    "\r\n",
    "'",
    "''''",
    "'s's's",
    "a",
    "",
    "Supplementary: 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 𝐛𝐨𝐥𝐝 𝟙𝟚𝟛 𠀀𠀁 𝄞 🀄",
]

POOLS = {
    "latin": "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZéèêëàâäôöûüçñßøåæœ",
    "digits": "0123456789٠١٢٣٤٥٦٧٨٩०१२३४५६७८९",
    "space": " " * 12 + "\t\n\r\u00a0\u3000\u2003",
    "punct": "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~¡¿«»—–…·•",
    "cjk": "的一是不了人我在有他这中大来上国个到说们为子和你地出道也时年得就那要下以生会自着去之过家学对可她里后小么心多天而能好都然没日于起还发成事只作当想看文无开手十用主行方又如前所本见经头面公同三已老从动两长知民样现分将外但身些与高意进把法此实回二理美点月明",
    "hangul": "가나다라마바사아자차카타파하한국어글",
    "cyrillic": "абвгдеёжзийклмнопрстуфхцчшщъыьэюяАБВГД",
    "arabic": "ابتثجحخدذرزسشصضطظعغفقكلمنهوي",
    "devanagari": "कखगघङचछजझञटठडढणतथदधनपफबभमयरलवशषसहािीुूेैोौं्",
    "combining": "\u0300\u0301\u0302\u0303\u0308\u0323\u0327\u0331\u036f",
    "emoji": ["😀", "👍🏽", "👨‍👩‍👧", "🏳️‍🌈", "🇯🇵", "❤️", "🤖", "1️⃣", "🧑🏿‍💻", "✋🏻"],
    "special": ["<|im_start|>", "<|im_end|>", "<|endoftext|>", "<think>", "</think>"],
    "contraction": ["'s", "'t", "'re", "'ve", "'m", "'ll", "'d", "'S", "'T", "'RE", "'Ve", "'LL"],
}


def random_record(rng):
    parts = []
    for _ in range(rng.randint(1, 30)):
        pool = rng.choice(list(POOLS))
        items = POOLS[pool]
        if pool in ("emoji", "special", "contraction"):
            parts.append(rng.choice(items))
        else:
            parts.append("".join(rng.choice(items) for _ in range(rng.randint(1, 8))))
    return "".join(parts)


def main():
    rng = random.Random(20240531)
    records = list(HAND_WRITTEN)
    while sum(len(r) for r in records) < 24000:
        records.append(random_record(rng))
    for r in records:
        print(json.dumps(r, ensure_ascii=False))


if __name__ == "__main__":
    main()
