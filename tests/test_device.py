"""The compute device: how it is chosen, the LLM's 'auto' dtype, and (on a machine with a GPU) UR4Rec end to end on it."""
import os

import numpy as np
import pytest
import torch

import ur4rec.components  # noqa: F401
from test_ur4rec_training import QUIET, data, ur4rec  # noqa: F401  (data is a fixture)
from ur4rec.device import CPUINFO, compute_device, cpuinfo_bf16, device_name, native_bf16, resolve_dtype
from ur4rec.errors import ConfigError
from ur4rec.train.batches import BatchMaker

GPU = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def test_binding_beats_environment_beats_cpu(monkeypatch):
    monkeypatch.delenv("UR4REC_DEVICE", raising=False)
    assert compute_device() == torch.device("cpu") and device_name() == "cpu"
    monkeypatch.setenv("UR4REC_DEVICE", "meta")
    assert compute_device() == torch.device("meta")
    assert compute_device("cpu") == torch.device("cpu")
    monkeypatch.setenv("UR4REC_DEVICE", "auto")
    assert compute_device().type == ("cuda" if torch.cuda.is_available() else "cpu")


def test_a_device_that_cannot_be_used_is_a_config_error(monkeypatch):
    with pytest.raises(ConfigError, match="not a torch device"):
        compute_device("gpu0")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ConfigError, match="sees no CUDA GPU"):
        compute_device("cuda")


def test_batches_land_on_the_chosen_device(data):  # noqa: F811
    rows = data.valid.subset(np.arange(3))
    batch = BatchMaker(data, 5, "meta")(rows.user, rows.pos, rows.candidates)
    assert batch.cand.device.type == "meta" and batch.hist.device.type == "meta"
    assert BatchMaker(data, 5)(rows.user, rows.pos, rows.candidates).cand.device.type == "cpu"


@GPU
def test_ur4rec_trains_and_scores_on_the_gpu(data, tmp_path, monkeypatch):  # noqa: F811
    monkeypatch.setenv("UR4REC_DEVICE", "cuda")
    model = ur4rec()
    model.fit(data, tmp_path / "ur", seed=0, console=QUIET)  # Base, pre-training, joint training
    assert all(p.device.type == "cuda" for p in model.model.parameters())
    scores = model.score(data, data.valid.subset(np.arange(4)))
    assert isinstance(scores, np.ndarray) and scores.shape == (4, data.n_candidates) and np.isfinite(scores).all()


def test_an_unusable_device_stops_a_run_before_its_folder_is_written(tmp_path, monkeypatch):
    from ur4rec.config import load
    from ur4rec.experiment import experiment

    monkeypatch.setenv("UR4REC_DEVICE", "gpu0")
    load(["experiments/quickstart.gin"])
    with pytest.raises(ConfigError, match="not a torch device"):
        experiment("x", runs_dir=str(tmp_path / "runs"))
    assert not (tmp_path / "runs").exists()


def test_cpu_flags_decide_native_bf16(tmp_path):
    info = tmp_path / "cpuinfo"
    info.write_text("processor : 0\nflags : fpu sse2 avx2 fma\n")
    assert not cpuinfo_bf16(info)
    info.write_text("processor : 0\nflags : fpu avx2 avx512f avx512_bf16\n")
    assert cpuinfo_bf16(info)
    info.write_text("flags : fpu amx_tile amx_bf16\n")
    assert cpuinfo_bf16(info)
    assert not cpuinfo_bf16(tmp_path / "absent")


@pytest.mark.skipif(not CPUINFO.is_file(), reason="no /proc/cpuinfo")
def test_torch_probe_and_kernel_flags_agree_on_this_cpu():
    assert native_bf16() == cpuinfo_bf16()


def test_auto_dtype_is_bf16_only_where_the_cpu_has_it():
    assert resolve_dtype("auto") == ("bfloat16" if native_bf16() else "float32")
    assert resolve_dtype("float32") == "float32" and resolve_dtype("bfloat16") == "bfloat16"


def test_the_machine_line_names_the_cpu_and_its_bf16(tmp_path):
    from ur4rec.device import cpu_model, machine_description

    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC 9B14\nflags\t\t: avx2\n")
    assert cpu_model(info) == "AMD EPYC 9B14"
    line = machine_description()
    assert f"{os.cpu_count()} cores" in line and cpu_model() in line
    assert line.endswith("bf16 in hardware: yes)" if native_bf16() else "bf16 in hardware: no)")
