"""Checkpoint I/O: weights-only round trip, refusal of code-carrying pickles, corruption errors,
atomic replacement, and strict / key-mapped weight loading."""

import errno
import os
import pickle
import signal
import subprocess
import sys
import textwrap

import pytest
import torch

from pointcept.engines.checkpoint import (
    CheckpointError,
    apply_key_map,
    extract_state_dict,
    load_checkpoint,
    load_weights,
    save_checkpoint,
)
from pointcept.utils.errors import DiskFullError
from pointcept.utils.seed import get_rng_state

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def small_state(value: float) -> dict:
    return dict(
        model={"w": torch.full((3,), value), "b": torch.zeros(1)},
        step=7,
        sampler=dict(epoch=1, index=2),
        rng=[get_rng_state()],
        best_metric_value=float("-inf"),
        name="run",
        shape=(1, 2),
    )


def test_round_trip_is_weights_only_loadable(tmp_path):
    path = tmp_path / "model" / "ckpt.pth"
    save_checkpoint(str(path), small_state(1.5))
    raw = torch.load(path, weights_only=True)
    assert torch.equal(raw["model"]["w"], torch.full((3,), 1.5)) and raw["step"] == 7
    loaded = load_checkpoint(str(path))
    assert loaded["sampler"] == dict(epoch=1, index=2) and loaded["shape"] == (1, 2)
    assert os.listdir(path.parent) == ["ckpt.pth"]  # no temp file left behind


def test_non_plain_state_is_rejected_before_writing(tmp_path):
    with pytest.raises(TypeError, match=r"checkpoint entry state\['extra'\]\[0\] is a object"):
        save_checkpoint(str(tmp_path / "x.pth"), dict(extra=[object()]))
    assert not os.listdir(tmp_path)


class Evil:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
def test_pickle_carrying_code_is_refused_and_not_run(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pth"
    torch.save({"model": {"w": torch.zeros(1)}, "payload": Evil(str(marker))}, path)
    with pytest.raises(CheckpointError, match=r"refused to load .*evil\.pth"):
        load_checkpoint(str(path))
    assert not marker.exists()
    plain = tmp_path / "evil.pkl"
    plain.write_bytes(pickle.dumps({"payload": Evil(str(marker))}))
    with pytest.raises(CheckpointError, match="evil.pkl"):
        load_checkpoint(str(plain))
    assert not marker.exists()
    # the payload is live: an unsafe unpickler does run it
    pickle.loads(plain.read_bytes())
    assert marker.exists()


def test_truncated_and_garbage_files_name_the_file(tmp_path):
    path = tmp_path / "model_last.pth"
    save_checkpoint(str(path), small_state(1.0))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(
        CheckpointError, match=r"cannot read checkpoint .*model_last\.pth: corrupted or truncated"
    ):
        load_checkpoint(str(path))
    path.write_bytes(b"not a checkpoint at all")
    with pytest.raises(CheckpointError, match="model_last.pth"):
        load_checkpoint(str(path))
    torch.save([1, 2], path)
    with pytest.raises(CheckpointError, match="holds a list, expected a dict"):
        load_checkpoint(str(path))
    with pytest.raises(FileNotFoundError, match="checkpoint not found: .*missing.pth"):
        load_checkpoint(str(tmp_path / "missing.pth"))


def test_failed_rename_keeps_previous_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "model_last.pth"
    save_checkpoint(str(path), small_state(1.0))

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(str(path), small_state(2.0))
    monkeypatch.undo()
    assert torch.equal(load_checkpoint(str(path))["model"]["w"], torch.full((3,), 1.0))
    assert os.listdir(tmp_path) == ["model_last.pth"]


def test_process_killed_mid_write_keeps_previous_checkpoint(tmp_path):
    path = tmp_path / "model_last.pth"
    save_checkpoint(str(path), small_state(1.0))
    # The child starts writing a new checkpoint and is SIGKILLed after half of the bytes hit the disk.
    child = textwrap.dedent(
        f"""
        import io, os, signal, torch
        from pointcept.engines import checkpoint as ck
        real_save = torch.save
        def dying_save(obj, f):
            buf = io.BytesIO()
            real_save(obj, buf)
            data = buf.getvalue()
            f.write(data[: len(data) // 2])
            f.flush()
            os.fsync(f.fileno())
            os.kill(os.getpid(), signal.SIGKILL)
        torch.save = dying_save
        ck.save_checkpoint({str(path)!r}, dict(model=dict(w=torch.full((3,), 2.0))))
        """
    )
    proc = subprocess.run([sys.executable, "-c", child], cwd=REPO, env={**os.environ, "PYTHONPATH": REPO})
    assert proc.returncode == -signal.SIGKILL
    leftovers = [f for f in os.listdir(tmp_path) if f != "model_last.pth"]
    assert len(leftovers) == 1 and leftovers[0].endswith(".tmp")  # the half-written temp file
    assert torch.equal(load_checkpoint(str(path))["model"]["w"], torch.full((3,), 1.0))


class Tiny(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.backbone = torch.nn.Linear(2, 3)
        self.head = torch.nn.Linear(3, 1)


def test_load_weights_strict_and_key_map(caplog):
    torch.manual_seed(0)
    src, dst = Tiny(), Tiny()
    load_weights(dst, src.state_dict())
    assert torch.equal(dst.head.weight, src.head.weight)

    partial = {k: v for k, v in src.state_dict().items() if k.startswith("backbone.")}
    with pytest.raises(
        ValueError, match=r"strict weight loading failed: 2 missing key\(s\) \['head.bias', 'head.weight'\]"
    ):
        load_weights(Tiny(), partial)
    missing, unexpected = load_weights(Tiny(), {**partial, "extra.w": torch.zeros(1)}, strict=False)
    assert missing == ["head.bias", "head.weight"] and unexpected == ["extra.w"]
    assert "unexpected keys (1): ['extra.w']" in caplog.text

    # a DOS-style checkpoint: teacher.backbone.* -> backbone.*, everything else dropped
    teacher = {"teacher.backbone." + k[len("backbone.") :]: v + 1 for k, v in partial.items()}
    teacher["student.head.weight"] = torch.zeros(5)
    fresh = Tiny()
    head_before = fresh.head.weight.clone()
    load_weights(fresh, teacher, key_map={"teacher.backbone.": "backbone."})
    assert torch.equal(fresh.backbone.weight, src.backbone.weight + 1)
    assert torch.equal(fresh.head.weight, head_before)
    with pytest.raises(ValueError, match="strict weight loading failed: 1 missing key"):
        load_weights(
            Tiny(),
            {"teacher.backbone.weight": partial["backbone.weight"]},
            key_map={"teacher.backbone.": "backbone."},
        )
    with pytest.raises(ValueError, match="matched no checkpoint key"):
        load_weights(Tiny(), teacher, key_map={"nothing.": "backbone."})
    with pytest.raises(
        ValueError, match=r"shape mismatch when loading weights: head.weight: checkpoint \(2, 3\)"
    ):
        load_weights(Tiny(), {**src.state_dict(), "head.weight": torch.zeros(2, 3)})


def test_key_map_longest_prefix_and_ddp_prefix():
    sd = {"a.x": 1, "a.b.y": 2, "c.z": 3}
    assert apply_key_map(sd, {"a.": "p.", "a.b.": "q."}) == {"p.x": 1, "q.y": 2}
    assert extract_state_dict({"module.w": 1, "module.v": 2}) == {"w": 1, "v": 2}
    assert extract_state_dict({"model": {"w": 1}, "step": 3}) == {"w": 1}


class _FullDisk:
    """A file object whose writes fail with ENOSPC once ``room`` bytes have been written."""

    def __init__(self, f, room: int):
        self.f, self.room = f, room

    def write(self, data) -> int:
        if len(data) > self.room:
            raise OSError(errno.ENOSPC, "No space left on device")
        self.room -= len(data)
        return self.f.write(data)

    def __getattr__(self, name):
        return getattr(self.f, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.f.close()


@pytest.mark.parametrize("room", [0, 600])
def test_disk_full_names_the_file_and_keeps_the_previous_checkpoint(tmp_path, monkeypatch, room):
    path = tmp_path / "model" / "model_last.pth"
    save_checkpoint(str(path), small_state(1.0))
    before = path.read_bytes()
    real_fdopen = os.fdopen
    monkeypatch.setattr(os, "fdopen", lambda fd, mode: _FullDisk(real_fdopen(fd, mode), room))
    with pytest.raises(DiskFullError) as info:
        save_checkpoint(str(path), small_state(2.0))
    assert str(info.value) == f"disk full while writing {path} (the previous checkpoint there is unchanged)"
    assert info.value.errno == errno.ENOSPC and "unexpected pos" not in str(info.value)
    monkeypatch.undo()
    assert path.read_bytes() == before and os.listdir(path.parent) == ["model_last.pth"]  # no temp file left
    assert torch.equal(load_checkpoint(str(path))["model"]["w"], torch.full((3,), 1.0))


def test_a_text_file_is_not_a_checkpoint(tmp_path):
    path = tmp_path / "weights.txt"
    path.write_text("e" * 100)
    with pytest.raises(
        CheckpointError, match=r"weights.txt is not a PyTorch checkpoint \(it starts with b'eeee'"
    ):
        load_checkpoint(str(path))
    path.write_bytes(b"")
    with pytest.raises(CheckpointError, match="weights.txt is not a PyTorch checkpoint"):
        load_checkpoint(str(path))
