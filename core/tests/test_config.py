"""Configuration parsing and validation: YAML scalars, did-you-mean, types, layering."""
import pytest

from segctl.config import Option, Schema, parse_cli_args
from segctl.errors import ConfigError

SCHEMA = Schema([
    Option("epochs", 100, "int", "epochs"), Option("lr0", 0.01, "float", "lr"),
    Option("exist_ok", False, "bool", "reuse"), Option("classes", None, "int|list", "classes", nullable=True),
    Option("cache", False, "bool|str", "cache", choices=("ram", "disk")), Option("name", None, "str", "n", nullable=True),
    Option("device", None, "str|int", "device", nullable=True),
])


def test_forms_of_arguments():
    args = parse_cli_args(["epochs=3", "--lr0", "1e-3", "--exist-ok", "classes=[0,2]", "name=run1", "device=0,1"],
                          SCHEMA.bool_keys())
    assert SCHEMA.validate(args) == {"epochs": 3, "lr0": 0.001, "exist_ok": True, "classes": [0, 2],
                                     "name": "run1", "device": "0,1"}
    assert parse_cli_args(["exist_ok"], SCHEMA.bool_keys()) == {"exist_ok": True}
    assert parse_cli_args(["--no-exist-ok"], SCHEMA.bool_keys()) == {"exist_ok": False}
    assert SCHEMA.validate(parse_cli_args(["classes=1,3"]))["classes"] == [1, 3]


def test_never_evaluates_code():
    args = parse_cli_args(["name=__import__('os').system('echo hi')"])
    assert SCHEMA.validate(args)["name"] == "__import__('os').system('echo hi')"


def test_unknown_key_suggests():
    with pytest.raises(ConfigError) as e:
        SCHEMA.validate({"epoch": 3})
    assert "did you mean 'epochs'" in str(e.value) and "epochs" in e.value.hint


def test_wrong_type_names_key_value_type():
    with pytest.raises(ConfigError) as e:
        SCHEMA.validate(parse_cli_args(["epochs=abc"]))
    msg = str(e.value)
    assert "'epochs'" in msg and "'abc'" in msg and "int" in msg
    with pytest.raises(ConfigError, match="ram, disk"):
        SCHEMA.validate({"cache": "gpu"})
    with pytest.raises(ConfigError, match="did you mean 'disk'"):  # a misspelt choice gets a suggestion
        SCHEMA.validate({"cache": "dsk"})
    with pytest.raises(ConfigError):
        SCHEMA.validate({"exist_ok": 3})


def test_layers_defaults_file_cli(tmp_path):
    f = tmp_path / "my.yaml"
    f.write_text("epochs: 7\nlr0: 0.5\n")
    cfg = SCHEMA.resolve({"cfg": str(f), "lr0": 0.25})
    assert cfg["epochs"] == 7 and cfg["lr0"] == 0.25 and cfg["exist_ok"] is False
    f.write_text("epochz: 7\n")
    with pytest.raises(ConfigError, match="epochs"):
        SCHEMA.resolve({"cfg": str(f)})
