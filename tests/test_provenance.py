"""Provenance: what every result records about where and with what it ran."""

import hashlib
import socket

from accelbench.results import provenance


def test_collect_records_this_machine(tmp_path, monkeypatch):
    (tmp_path / "a.py").write_text("x = 1\n")
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    monkeypatch.setenv("XLA_FLAGS", "--xla_gpu_deterministic_ops")
    monkeypatch.delenv("CUBLAS_WORKSPACE_CONFIG", raising=False)
    record = provenance.collect(tmp_path)
    assert record.hostname_sha256 == hashlib.sha256(socket.gethostname().encode()).hexdigest()
    assert socket.gethostname() not in record.model_dump_json()  # only the hash is stored
    assert record.numerics_env["OMP_NUM_THREADS"] == "3"
    assert record.numerics_env["XLA_FLAGS"] == "--xla_gpu_deterministic_ops"
    assert "CUBLAS_WORKSPACE_CONFIG" not in record.numerics_env
    assert record.packages["torch"] and record.packages["accelbench"]
    if not record.accelerators:  # no GPU: at most the CUDA runtime torch was built with, no driver
        import torch

        expected = {"cuda_runtime": torch.version.cuda} if torch.version.cuda else {}
        assert record.accelerator_software == expected
    assert record.container["inside"] in ("yes", "no")


def test_the_container_image_is_recorded_when_the_image_says_it():
    found = provenance.container({"ACCELBENCH_IMAGE": "accelbench-gpu:0.1.0",
                                  "ACCELBENCH_IMAGE_DIGEST": "sha256:" + "a" * 64})
    assert found["image"] == "accelbench-gpu:0.1.0" and found["image_digest"] == "sha256:" + "a" * 64


def test_the_implementation_hash_follows_every_source_byte(tmp_path):
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "m.py").write_text("x = 1\n")
    before = provenance.tree_sha256(tmp_path)
    (tmp_path / "pkg" / "m.py").write_text("x = 2\n")
    assert provenance.tree_sha256(tmp_path) != before
    (tmp_path / "pkg" / "m.py").write_text("x = 1\n")
    assert provenance.tree_sha256(tmp_path) == before
    (tmp_path / "pkg" / "m.py").rename(tmp_path / "pkg" / "n.py")  # names count too
    assert provenance.tree_sha256(tmp_path) != before


class FakeNvml:
    """The few NVML calls provenance makes, answering like a 2-GPU node."""

    def nvmlInit(self):
        pass

    def nvmlShutdown(self):
        pass

    def nvmlSystemGetDriverVersion(self):
        return "550.54.15"

    def nvmlDeviceGetCount(self):
        return 2

    def nvmlDeviceGetHandleByIndex(self, index):
        return index

    def nvmlDeviceGetVbiosVersion(self, handle):
        return f"92.00.45.00.0{handle}"


def test_gpu_driver_and_firmware_are_recorded_where_nvml_answers(monkeypatch):
    import sys

    import torch

    monkeypatch.setitem(sys.modules, "pynvml", FakeNvml())
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.backends.cudnn, "version", lambda: 90100)
    monkeypatch.setattr(torch.version, "cuda", "12.4")
    assert provenance.accelerator_software() == {
        "cuda_runtime": "12.4", "cudnn": "90100", "nvidia_driver": "550.54.15",
        "gpu0_vbios": "92.00.45.00.00", "gpu1_vbios": "92.00.45.00.01",
    }
