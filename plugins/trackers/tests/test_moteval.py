"""MOT metrics through motmetrics: a perfect result scores 100 %, an identity swap is one IDSW."""
import pytest

from segctl.errors import DataError

pytest.importorskip("motmetrics", reason="motmetrics (segctl-trackers[eval]) not installed")

from segctl_trackers.moteval import evaluate, main  # noqa: E402

GT = "".join(f"{f},1,{10 + 5 * f},20,30,30,1,0,1\n{f},2,{200 - 5 * f},20,30,30,1,0,1\n" for f in range(1, 21))


def test_perfect_and_swapped(tmp_path, capsys):
    gt = tmp_path / "gt.txt"
    gt.write_text(GT)
    m = evaluate(gt, gt)
    assert m["mota"] == 1.0 and m["idf1"] == 1.0 and m["num_switches"] == 0
    swapped = "".join(line if int(line.split(",")[0]) <= 10 else
                      line.replace(",1,", ",X,", 1).replace(",2,", ",1,", 1).replace(",X,", ",2,", 1)
                      for line in GT.splitlines(keepends=True))
    p = tmp_path / "pred.txt"
    p.write_text(swapped)
    m = evaluate(gt, p)
    assert m["num_switches"] == 2 and m["mota"] == pytest.approx(1 - 2 / 40) and m["idf1"] < 1
    assert main([str(gt), str(p)]) == 0 and "IDSW" in capsys.readouterr().out


def test_malformed_row_names_file_and_line(tmp_path):
    p = tmp_path / "bad.txt"
    p.write_text("1,1,0,0,10,10,1,0,1\n2,one,0,0,10,10\n")
    with pytest.raises(DataError, match=r"bad.txt:2"):
        evaluate(p, p)
