from types import SimpleNamespace

from segctl_loggers import plugin
from segctl_loggers.csv_logger import read_rows


def test_rows_append_and_header_grows(tmp_path, monkeypatch):
    monkeypatch.setenv("SEGCTL_TENSORBOARD", "0")
    trainer = SimpleNamespace(save_dir=tmp_path, rank=-1, epoch=0)
    plugin.segctl_on_fit_epoch_end(trainer, {"epoch": 1, "train/box_loss": 1.5})
    plugin.segctl_on_fit_epoch_end(trainer, {"epoch": 2, "train/box_loss": 1.25, "metrics/mAP50(M)": 0.5})
    rows = read_rows(str(tmp_path / "results.csv"))
    assert [r["epoch"] for r in rows] == ["1", "2"]
    assert rows[1]["metrics/mAP50(M)"] == "0.5" and rows[0]["metrics/mAP50(M)"] == ""


def test_non_main_rank_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("SEGCTL_TENSORBOARD", "0")
    plugin.segctl_on_fit_epoch_end(SimpleNamespace(save_dir=tmp_path, rank=1, epoch=0), {"epoch": 1})
    assert not (tmp_path / "results.csv").exists()
