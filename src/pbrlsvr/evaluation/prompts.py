"""Evaluation prompts: one template per language, written in that language.

Every template asks the model to reason step by step *in the problem's language* and to end with
that language's final-answer phrase — a phrase that :data:`pbrlsvr.rewards.answer.ANSWER_PHRASES`
lists, so the reward's extractor (which evaluation uses too) finds the answer after it. Two
task kinds:

* ``math``: ``{question}`` then the instruction ("… end with *The answer is X.*");
* ``choice`` (MMLU-ProX, A–J): ``{question}``, the options as ``A. …`` lines, then the
  instruction ("… end with *The answer is (X).*").

``shots=K`` prepends K MGSM exemplars of the same language as earlier user/assistant turns (the
exemplar question in the same template, the exemplar's worked solution as the answer).
``style="train"`` uses :func:`pbrlsvr.prompts.build_messages` instead, the prompt the training
code asks with, so a trained policy can be measured under its own prompt.

:func:`template_hash` fingerprints all of this; it is written into every report.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from pbrlsvr.data.problem import Problem
from pbrlsvr.errors import ConfigError, DataError
from pbrlsvr.evaluation.config import EvalPromptConfig
from pbrlsvr.generation.base import Message
from pbrlsvr.hashing import digest
from pbrlsvr.languages import LANGUAGES, get_language

PROMPT_VERSION = "eval-prompts-1"
"""Bumped whenever a built-in template changes (it is part of :func:`template_hash`)."""

LETTERS = "ABCDEFGHIJ"


@dataclass(frozen=True)
class LangPrompt:
    """The pieces of one language's prompts.

    Attributes:
        phrase: the final-answer phrase the response must end with (one of ``ANSWER_PHRASES``).
        math: instruction for problems with a numeric / expression answer.
        choice: instruction for multiple-choice problems (letters A–J).
        options: the label before the options list.
    """

    phrase: str
    math: str
    choice: str
    options: str


# {phrase} is filled in from `phrase`; X stands for the answer in the text the model reads.
NATIVE: dict[str, LangPrompt] = {
    "af": LangPrompt(
        "Die antwoord is",
        'Los hierdie probleem stap vir stap op. Skryf jou redenasie in Afrikaans en eindig jou antwoord met "{phrase} X.", waar X die finale antwoord is.',
        'Dink stap vir stap in Afrikaans en eindig jou antwoord met "{phrase} (X).", waar X die letter van die korrekte opsie is.',
        "Opsies:",
    ),
    "ar": LangPrompt(
        "الإجابة هي",
        'حل هذه المسألة خطوة بخطوة. اكتب استدلالك باللغة العربية واختم إجابتك بعبارة "{phrase} X"، حيث X هو الجواب النهائي.',
        'فكّر خطوة بخطوة باللغة العربية واختم إجابتك بعبارة "{phrase} (X)"، حيث X هو حرف الخيار الصحيح.',
        "الخيارات:",
    ),
    "bn": LangPrompt(
        "উত্তর হল",
        'ধাপে ধাপে এই সমস্যাটির সমাধান করুন। আপনার যুক্তি বাংলায় লিখুন এবং শেষে "{phrase} X।" লিখুন, যেখানে X হল চূড়ান্ত উত্তর।',
        'বাংলায় ধাপে ধাপে চিন্তা করুন এবং শেষে "{phrase} (X)।" লিখুন, যেখানে X হল সঠিক বিকল্পের অক্ষর।',
        "বিকল্পগুলি:",
    ),
    "cs": LangPrompt(
        "Odpověď je",
        'Vyřešte tento příklad krok za krokem. Své úvahy pište česky a zakončete je větou "{phrase} X.", kde X je konečný výsledek.',
        'Přemýšlejte krok za krokem česky a zakončete svou odpověď větou "{phrase} (X).", kde X je písmeno správné možnosti.',
        "Možnosti:",
    ),
    "de": LangPrompt(
        "Die Antwort ist",
        "Löse diese Aufgabe Schritt für Schritt. Schreibe deine Überlegungen auf Deutsch und beende deine Antwort mit „{phrase} X.“, wobei X das Endergebnis ist.",
        "Denke Schritt für Schritt auf Deutsch nach und beende deine Antwort mit „{phrase} (X).“, wobei X der Buchstabe der richtigen Option ist.",
        "Optionen:",
    ),
    "en": LangPrompt(
        "The answer is",
        'Solve this problem step by step. Write your reasoning in English and end your response with "{phrase} X.", where X is the final answer.',
        'Think step by step in English and end your response with "{phrase} (X).", where X is the letter of the correct option.',
        "Options:",
    ),
    "es": LangPrompt(
        "La respuesta es",
        'Resuelve este problema paso a paso. Escribe tu razonamiento en español y termina tu respuesta con "{phrase} X.", donde X es la respuesta final.',
        'Piensa paso a paso en español y termina tu respuesta con "{phrase} (X).", donde X es la letra de la opción correcta.',
        "Opciones:",
    ),
    "fa": LangPrompt(
        "پاسخ:",
        "این مسئله را گام به گام حل کنید. استدلال خود را به زبان فارسی بنویسید و پاسخ خود را با «{phrase} X» به پایان برسانید، که در آن X پاسخ نهایی است.",
        "گام به گام و به زبان فارسی فکر کنید و پاسخ خود را با «{phrase} (X)» به پایان برسانید، که در آن X حرف گزینهٔ درست است.",
        "گزینه‌ها:",
    ),
    "fr": LangPrompt(
        "La réponse est",
        "Résous ce problème étape par étape. Rédige ton raisonnement en français et termine ta réponse par « {phrase} X. », où X est la réponse finale.",
        "Réfléchis étape par étape en français et termine ta réponse par « {phrase} (X). », où X est la lettre de la bonne option.",
        "Options :",
    ),
    "he": LangPrompt(
        "התשובה היא",
        'פתרו את הבעיה הזו צעד אחר צעד. כתבו את הנימוקים שלכם בעברית וסיימו במשפט "{phrase} X.", כאשר X היא התשובה הסופית.',
        'חשבו צעד אחר צעד בעברית וסיימו במשפט "{phrase} (X).", כאשר X היא האות של האפשרות הנכונה.',
        "אפשרויות:",
    ),
    "hi": LangPrompt(
        "उत्तर है",
        'इस प्रश्न को चरण-दर-चरण हल करें। अपना तर्क हिंदी में लिखें और अंत में "{phrase} X।" लिखें, जहाँ X अंतिम उत्तर है।',
        'हिंदी में चरण-दर-चरण सोचें और अंत में "{phrase} (X)।" लिखें, जहाँ X सही विकल्प का अक्षर है।',
        "विकल्प:",
    ),
    "hu": LangPrompt(
        "A válasz:",
        "Oldd meg ezt a feladatot lépésről lépésre. Az érvelésedet magyarul írd, és ezzel zárd: „{phrase} X”, ahol X a végeredmény.",
        "Gondolkodj lépésről lépésre magyarul, és ezzel zárd: „{phrase} (X)”, ahol X a helyes válaszlehetőség betűjele.",
        "Válaszlehetőségek:",
    ),
    "id": LangPrompt(
        "Jawabannya adalah",
        'Selesaikan soal ini langkah demi langkah. Tuliskan penalaranmu dalam bahasa Indonesia dan akhiri dengan "{phrase} X.", di mana X adalah jawaban akhir.',
        'Berpikirlah langkah demi langkah dalam bahasa Indonesia dan akhiri dengan "{phrase} (X).", di mana X adalah huruf pilihan yang benar.',
        "Pilihan:",
    ),
    "it": LangPrompt(
        "La risposta è",
        'Risolvi questo problema passo dopo passo. Scrivi il tuo ragionamento in italiano e termina con "{phrase} X.", dove X è la risposta finale.',
        'Ragiona passo dopo passo in italiano e termina con "{phrase} (X).", dove X è la lettera dell\'opzione corretta.',
        "Opzioni:",
    ),
    "ja": LangPrompt(
        "答えは",
        "この問題をステップごとに解いてください。推論は日本語で書き、最後に「{phrase}Xです。」で締めくくってください。Xは最終的な答えです。",
        "日本語でステップごとに考え、最後に「{phrase}(X)です。」で締めくくってください。Xは正しい選択肢の文字です。",
        "選択肢：",
    ),
    "ko": LangPrompt(
        "정답은",
        '이 문제를 단계별로 풀어 주세요. 풀이 과정은 한국어로 작성하고, 마지막은 "{phrase} X입니다."로 끝내 주세요. 여기서 X는 최종 결과입니다.',
        '한국어로 단계별로 생각한 다음, 마지막은 "{phrase} (X)입니다."로 끝내 주세요. 여기서 X는 올바른 선택지의 문자입니다.',
        "선택지:",
    ),
    "mr": LangPrompt(
        "उत्तर:",
        'हा प्रश्न टप्प्याटप्प्याने सोडवा. तुमचे विश्लेषण मराठीत लिहा आणि शेवटी "{phrase} X" असे लिहा, जिथे X हे अंतिम उत्तर आहे.',
        'मराठीत टप्प्याटप्प्याने विचार करा आणि शेवटी "{phrase} (X)" असे लिहा, जिथे X हे योग्य पर्यायाचे अक्षर आहे.',
        "पर्याय:",
    ),
    "ms": LangPrompt(
        "Jawapannya ialah",
        'Selesaikan masalah ini langkah demi langkah. Tulis penaakulan anda dalam bahasa Melayu dan akhiri dengan "{phrase} X.", di mana X ialah jawapan akhir.',
        'Fikir langkah demi langkah dalam bahasa Melayu dan akhiri dengan "{phrase} (X).", di mana X ialah huruf pilihan yang betul.',
        "Pilihan:",
    ),
    "ne": LangPrompt(
        "उत्तर:",
        'यो समस्या चरणबद्ध रूपमा समाधान गर्नुहोस्। आफ्नो तर्क नेपालीमा लेख्नुहोस् र अन्त्यमा "{phrase} X" लेख्नुहोस्, जहाँ X अन्तिम उत्तर हो।',
        'नेपालीमा चरणबद्ध रूपमा सोच्नुहोस् र अन्त्यमा "{phrase} (X)" लेख्नुहोस्, जहाँ X सही विकल्पको अक्षर हो।',
        "विकल्पहरू:",
    ),
    "nl": LangPrompt(
        "Het antwoord is",
        'Los dit probleem stap voor stap op. Schrijf je redenering in het Nederlands en eindig met "{phrase} X.", waarbij X het uiteindelijke antwoord is.',
        'Denk stap voor stap na in het Nederlands en eindig met "{phrase} (X).", waarbij X de letter van de juiste optie is.',
        "Opties:",
    ),
    "pl": LangPrompt(
        "Odpowiedź to",
        'Rozwiąż to zadanie krok po kroku. Zapisz swoje rozumowanie po polsku i zakończ zdaniem "{phrase} X.", gdzie X to ostateczny wynik.',
        'Pomyśl krok po kroku po polsku i zakończ zdaniem "{phrase} (X).", gdzie X to litera poprawnej opcji.',
        "Opcje:",
    ),
    "pt": LangPrompt(
        "A resposta é",
        'Resolva este problema passo a passo. Escreva o seu raciocínio em português e termine com "{phrase} X.", onde X é a resposta final.',
        'Pense passo a passo em português e termine com "{phrase} (X).", onde X é a letra da opção correta.',
        "Opções:",
    ),
    "ru": LangPrompt(
        "Ответ:",
        "Решите эту задачу шаг за шагом. Пишите рассуждения на русском языке и закончите строкой «{phrase} X», где X — окончательный результат.",
        "Рассуждайте шаг за шагом на русском языке и закончите строкой «{phrase} (X)», где X — буква правильного варианта.",
        "Варианты:",
    ),
    "sr": LangPrompt(
        "Одговор је",
        "Решите овај задатак корак по корак. Пишите своје образложење на српском језику и завршите реченицом „{phrase} X.“, где је X коначан резултат.",
        "Размишљајте корак по корак на српском језику и завршите реченицом „{phrase} (X).“, где је X слово тачне опције.",
        "Опције:",
    ),
    "sw": LangPrompt(
        "Jibu ni",
        'Tatua tatizo hili hatua kwa hatua. Andika hoja zako kwa Kiswahili na umalizie kwa "{phrase} X.", ambapo X ni jibu la mwisho.',
        'Fikiria hatua kwa hatua kwa Kiswahili na umalizie kwa "{phrase} (X).", ambapo X ni herufi ya chaguo sahihi.',
        "Chaguo:",
    ),
    "ta": LangPrompt(
        "விடை:",
        'இந்தக் கணக்கைப் படிப்படியாகத் தீர்க்கவும். உங்கள் சிந்தனையைத் தமிழில் எழுதி, இறுதியில் "{phrase} X" என்று எழுதவும்; இங்கு X என்பது இறுதி முடிவு.',
        'தமிழில் படிப்படியாகச் சிந்தித்து, இறுதியில் "{phrase} (X)" என்று எழுதவும்; இங்கு X என்பது சரியான விருப்பத்தின் எழுத்து.',
        "விருப்பங்கள்:",
    ),
    "te": LangPrompt(
        "సమాధానం",
        'ఈ సమస్యను దశలవారీగా పరిష్కరించండి. మీ తర్కాన్ని తెలుగులో రాసి, చివరలో "{phrase} X." అని రాయండి, ఇక్కడ X తుది ఫలితం.',
        'తెలుగులో దశలవారీగా ఆలోచించి, చివరలో "{phrase} (X)." అని రాయండి, ఇక్కడ X సరైన ఎంపిక యొక్క అక్షరం.',
        "ఎంపికలు:",
    ),
    "th": LangPrompt(
        "คำตอบคือ",
        'จงแก้โจทย์นี้ทีละขั้นตอน เขียนการให้เหตุผลเป็นภาษาไทย และจบด้วย "{phrase} X" โดยที่ X คือผลลัพธ์สุดท้าย',
        'คิดทีละขั้นตอนเป็นภาษาไทย และจบด้วย "{phrase} (X)" โดยที่ X คือตัวอักษรของตัวเลือกที่ถูกต้อง',
        "ตัวเลือก:",
    ),
    "tr": LangPrompt(
        "Cevap:",
        'Bu problemi adım adım çözün. Akıl yürütmenizi Türkçe yazın ve "{phrase} X" ile bitirin; burada X nihai sonuçtur.',
        'Adım adım Türkçe düşünün ve "{phrase} (X)" ile bitirin; burada X doğru seçeneğin harfidir.',
        "Seçenekler:",
    ),
    "uk": LangPrompt(
        "Відповідь:",
        "Розв'яжіть цю задачу крок за кроком. Пишіть міркування українською мовою і завершіть рядком «{phrase} X», де X — остаточний результат.",
        "Міркуйте крок за кроком українською мовою і завершіть рядком «{phrase} (X)», де X — літера правильного варіанта.",
        "Варіанти:",
    ),
    "ur": LangPrompt(
        "جواب:",
        'اس سوال کو مرحلہ وار حل کریں۔ اپنی وضاحت اردو میں لکھیں اور آخر میں "{phrase} X" لکھیں، جہاں X حتمی نتیجہ ہے۔',
        'اردو میں مرحلہ وار سوچیں اور آخر میں "{phrase} (X)" لکھیں، جہاں X درست انتخاب کا حرف ہے۔',
        "اختیارات:",
    ),
    "vi": LangPrompt(
        "Đáp án là",
        'Hãy giải bài toán này từng bước một. Viết lập luận của bạn bằng tiếng Việt và kết thúc bằng "{phrase} X.", trong đó X là kết quả cuối cùng.',
        'Hãy suy nghĩ từng bước bằng tiếng Việt và kết thúc bằng "{phrase} (X).", trong đó X là chữ cái của lựa chọn đúng.',
        "Các lựa chọn:",
    ),
    "wo": LangPrompt(
        "Tontu bi mooy",
        'Saafal jafe jii ci anam bu tolloo. Bindal sa xalaat ci wolof te jeexalee ak "{phrase} X.", fu X di tontu bu mujj bi.',
        'Xalaatal ci anam bu tolloo ci wolof te jeexalee ak "{phrase} (X).", fu X di araf bu tànneef bu baax bi.',
        "Tànneef yi:",
    ),
    "yo": LangPrompt(
        "Ìdáhùn ni",
        'Yanjú ìṣòro yìí ní ìgbésẹ̀ kọ̀ọ̀kan. Kọ èrò rẹ ní èdè Yorùbá kí o sì parí pẹ̀lú "{phrase} X.", níbi tí X jẹ́ àbájáde ìkẹyìn.',
        'Ronú ní ìgbésẹ̀ kọ̀ọ̀kan ní èdè Yorùbá kí o sì parí pẹ̀lú "{phrase} (X).", níbi tí X jẹ́ lẹ́tà àṣàyàn tó tọ̀nà.',
        "Àwọn àṣàyàn:",
    ),
    "zh": LangPrompt(
        "答案是",
        "请逐步解答这道题。用中文写出你的推理过程，并以“{phrase} X。”结尾，其中 X 是最终结果。",
        "请用中文逐步思考，并以“{phrase} (X)。”结尾，其中 X 是正确选项的字母。",
        "选项：",
    ),
    "zu": LangPrompt(
        "Impendulo ithi",
        'Xazulula le nkinga isinyathelo ngesinyathelo. Bhala ukucabanga kwakho ngesiZulu bese uqeda ngokuthi "{phrase} X.", lapho u-X engumphumela wokugcina.',
        'Cabanga isinyathelo ngesinyathelo ngesiZulu bese uqeda ngokuthi "{phrase} (X).", lapho u-X eyinhlamvu yenketho efanele.',
        "Izinketho:",
    ),
}
"""Per-language prompt pieces for every language of :data:`pbrlsvr.languages.LANGUAGES`."""

_missing = sorted(set(LANGUAGES) - set(NATIVE))
if _missing:  # pragma: no cover - a maintenance error
    raise RuntimeError(f"evaluation prompts lack languages: {_missing}")


def _fill(template: str, **slots: str) -> str:
    """Fill ``{name}`` slots by plain replacement (questions hold LaTeX braces; no str.format)."""
    for name, value in slots.items():
        template = template.replace("{" + name + "}", value)
    return template


def format_options(options: Sequence[str]) -> str:
    """``A. first\\nB. second ...`` (at most 10 options, A–J)."""
    if len(options) > len(LETTERS):
        raise ValueError(f"at most {len(LETTERS)} options (A-J), got {len(options)}")
    return "\n".join(f"{LETTERS[i]}. {str(opt).strip()}" for i, opt in enumerate(options))


def instruction(lang: str, kind: str) -> str:
    """The native instruction of ``lang`` for ``kind`` (``math`` or ``choice``), phrase filled in."""
    p = NATIVE[get_language(lang).code]
    return _fill(p.choice if kind == "choice" else p.math, phrase=p.phrase)


def user_message(problem: Problem, kind: str, cfg: EvalPromptConfig) -> str:
    """The user turn that asks ``problem`` (``problem.meta['options']`` for multiple choice)."""
    lang = get_language(problem.lang).code
    options = problem.meta.get("options") if kind == "choice" else None
    options_text = format_options(options) if options else ""
    override = cfg.templates.get(lang, cfg.templates.get("*"))
    p = NATIVE[lang]
    if override is not None:
        return _fill(
            override,
            question=problem.question.strip(),
            options=options_text,
            phrase=p.phrase,
            language=get_language(lang).name,
        )
    if cfg.style == "train":
        if kind == "choice":
            raise ConfigError("prompt.style 'train' asks for a number; use style 'native' for choice tasks")
        try:
            from pbrlsvr.prompts import build_messages
        except ImportError as exc:  # pragma: no cover - depends on the training module
            raise ConfigError(f"prompt.style 'train' needs pbrlsvr.prompts.build_messages: {exc}") from None
        return build_messages(problem.question, lang)[-1]["content"]
    parts = [problem.question.strip()]
    if options_text:
        parts.append(f"{p.options}\n{options_text}")
    parts.append(instruction(lang, kind))
    return "\n\n".join(parts)


_HEADER = re.compile(r"^\s*[^\n:：]{1,40}[:：]\s*")


def _strip_header(text: str) -> str:
    """Drop an exemplar's "Question:" / "Step-by-Step Answer:" label."""
    m = _HEADER.match(text)
    return text[m.end() :] if m else text


@lru_cache(maxsize=64)
def _exemplars(lang: str) -> tuple[Problem, ...]:
    from pbrlsvr.data import load_problems

    try:
        rows = load_problems("mgsm-exemplars", langs=[lang])
    except DataError:
        from pbrlsvr.languages import MGSM_LANGS

        raise DataError(
            f"--shots needs MGSM exemplars in {lang!r}, and they exist only for {', '.join(MGSM_LANGS)}; "
            "evaluate zero-shot (--shots 0) or choose those languages"
        ) from None
    return tuple(rows)


def few_shot_turns(lang: str, shots: int, cfg: EvalPromptConfig) -> list[Message]:
    """``shots`` MGSM exemplars of ``lang`` as alternating user/assistant messages."""
    if shots <= 0:
        return []
    rows = _exemplars(get_language(lang).code)
    if shots > len(rows):
        raise ConfigError(f"shots = {shots}, but there are only {len(rows)} MGSM exemplars per language")
    turns: list[Message] = []
    for ex in rows[:shots]:
        solution = str(ex.meta.get("solution") or _strip_header(str(ex.meta.get("answer_cot", ""))))
        question = Problem(ex.id, ex.lang, _strip_header(ex.question), None, ex.gold, ex.source)
        turns.append({"role": "user", "content": user_message(question, "math", cfg)})
        turns.append({"role": "assistant", "content": solution.strip()})
    return turns


def build_conversation(problem: Problem, kind: str, cfg: EvalPromptConfig, shots: int = 0) -> list[Message]:
    """System message (if any), few-shot turns, then the problem's user turn."""
    if shots and kind == "choice":
        raise ConfigError(
            "--shots uses the MGSM math exemplars; multiple-choice tasks are evaluated zero-shot (--shots 0)"
        )
    messages: list[Message] = []
    if cfg.system:
        messages.append({"role": "system", "content": cfg.system})
    messages.extend(few_shot_turns(problem.lang, shots, cfg))
    messages.append({"role": "user", "content": user_message(problem, kind, cfg)})
    return messages


def template_hash(cfg: EvalPromptConfig, shots: int = 0) -> str:
    """Fingerprint of every template a run can use (all languages, so adding one keeps the hash)."""
    payload: dict[str, object] = {
        "version": PROMPT_VERSION,
        "style": cfg.style,
        "system": cfg.system,
        "overrides": cfg.templates,
        "native": {k: [v.phrase, v.math, v.choice, v.options] for k, v in sorted(NATIVE.items())},
        "shots": shots,
    }
    if cfg.style == "train":
        try:
            from pbrlsvr import prompts as train_prompts

            payload["train"] = [train_prompts.INSTRUCTION, train_prompts.FINAL_PHRASES]
        except (ImportError, AttributeError):  # pragma: no cover
            payload["train"] = None
    if shots:
        from pbrlsvr.rewards.fidelity import load_exemplars

        payload["exemplars"] = digest(load_exemplars())
    return digest(payload)
