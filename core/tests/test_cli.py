"""The CLI end to end: rich output, exit codes, did-you-mean, light start-up."""
import json
import os
import subprocess
import sys

import pytest
from fakedist import make_dist


def test_help_and_plugins(segctl_cli):
    code, out, _ = segctl_cli("--help")
    assert code == 0 and "segment" in out and "export" in out
    code, out, _ = segctl_cli("plugins", "--json")
    data = json.loads(out)
    names = {p["name"] for p in data["plugins"]}
    assert {"segment", "yolov8", "dataset-yolo"} <= names
    assert all(p["status"] == "ok" for p in data["plugins"] if p["name"] in names)


def test_wrong_type_exit_2(segctl_cli):
    code, out, err = segctl_cli("segment", "train", "epochs=abc")
    assert code == 2
    assert "epochs" in err and "abc" in err and "Traceback" not in err + out


def test_unknown_key_did_you_mean_exit_2(segctl_cli):
    code, _, err = segctl_cli("segment", "train", "epoch=3")
    assert code == 2 and "did you mean 'epochs'" in err


def test_unknown_mode(segctl_cli):
    code, _, err = segctl_cli("segment", "trian")
    assert code == 2


def test_cfg_prints_defaults(segctl_cli):
    code, out, _ = segctl_cli("cfg", "segment", "--mode", "train")
    assert code == 0 and "epochs: 100" in out and "lr0: 0.01" in out


def test_debug_shows_traceback(segctl_cli):
    code, _, err = segctl_cli("--debug", "segment", "train", "epoch=3")
    assert code == 2 and "Traceback" in err


def _run(args, env=None):
    code = ("import sys; from segctl.cli.main import main; rc = main(sys.argv[1:]); "
            "print('TORCH_LOADED' if 'torch' in sys.modules else 'NO_TORCH', file=sys.stderr); sys.exit(rc)")
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=120)


@pytest.mark.parametrize("args", [["--help"], ["plugins"], ["export", "formats"], ["cfg"]])
def test_light_commands_do_not_import_torch(args):
    p = _run(args)
    assert p.returncode == 0, p.stderr
    assert "NO_TORCH" in p.stderr


def test_import_segctl_is_light():
    p = subprocess.run([sys.executable, "-c", "import segctl, sys; from segctl import YOLO; "
                        "print(sorted(m for m in ('torch','numpy','cv2','typer') if m in sys.modules))"],
                       capture_output=True, text=True, timeout=60)
    assert p.stdout.strip() == "[]", p.stdout + p.stderr


def test_broken_plugin_leaves_cli_working(tmp_path):
    make_dist(tmp_path, "segctl-brokenthing", "9.9", {"brokenthing": "brokenthing_mod"},
              {"brokenthing_mod": "import not_a_real_module_qq\n"})
    env = {"PYTHONPATH": str(tmp_path)}
    p = _run(["--help"], env)
    assert p.returncode == 0 and "segment" in p.stdout
    p = _run(["plugins", "--json"], env)
    rec = next(x for x in json.loads(p.stdout)["plugins"] if x["name"] == "brokenthing")
    assert rec["status"] == "failed" and "not_a_real_module_qq" in rec["error"] and rec["version"] == "9.9"
    p = _run(["--strict-plugins", "plugins"], env)
    assert p.returncode == 4 and "brokenthing" in p.stderr
    p = _run(["-p", "no:brokenthing", "--strict-plugins", "plugins"], env)
    assert p.returncode == 0


def test_cfg_file_layer_is_validated(segctl_cli, tmp_path):
    f = tmp_path / "my.yaml"
    f.write_text("epochs: 3\nepoch: 5\n")
    code, _, err = segctl_cli("segment", "train", f"cfg={f}")
    assert code == 2 and "did you mean 'epochs'" in err
