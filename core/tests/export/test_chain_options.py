"""Chain resolution, option validation and metadata encoding: pure Python, no torch."""
import pytest

from segctl.errors import MissingDependencyError, PluginError, UsageError
from segctl.export.chain import find_exporter, resolve_chain
from segctl.export.metadata import from_props, to_props
from segctl.export.options import validate, check_available
from segctl.specs import ExporterSpec


def spec(name, after=(), options=("imgsz", "half"), requires=(), install="", aliases=()):
    return ExporterSpec(name=name, target="x:y", after=after, options=options, requires=requires,
                        install=install, aliases=aliases)


def test_chain_orders_dependencies_first_once():
    specs = [spec("tflite", after=("saved_model",)), spec("saved_model", after=("onnx",)), spec("onnx"),
             spec("edgetpu", after=("tflite", "onnx"))]
    assert [s.name for s in resolve_chain("edgetpu", specs)] == ["onnx", "saved_model", "tflite", "edgetpu"]
    assert [s.name for s in resolve_chain("onnx", specs)] == ["onnx"]


def test_chain_alias_and_case():
    assert find_exporter("TS", [spec("torchscript", aliases=("ts",))]).name == "torchscript"


def test_chain_cycle_is_named():
    specs = [spec("a", after=("b",)), spec("b", after=("c",)), spec("c", after=("a",))]
    with pytest.raises(PluginError, match="cycle: a -> b -> c -> a"):
        resolve_chain("a", specs)


def test_chain_missing_format_names_it():
    with pytest.raises(PluginError, match="'tflite'.*builds on 'saved_model', which is not registered"):
        resolve_chain("tflite", [spec("tflite", after=("saved_model",))])


def test_unknown_format_lists_registered():
    with pytest.raises(UsageError, match="registered formats: onnx, torchscript"):
        find_exporter("onxx", [spec("onnx"), spec("torchscript")])


def test_unsupported_option_names_supported_ones():
    with pytest.raises(UsageError, match="does not support option 'simplify'") as e:
        validate(spec("torchscript", options=("imgsz", "optimize")), {"simplify": False})
    assert "imgsz, optimize" in e.value.hint


def test_unknown_option_did_you_mean():
    with pytest.raises(UsageError, match="did you mean 'imgsz'"):
        validate(spec("onnx"), {"imgs": 320})


def test_option_at_default_is_accepted_and_values_typed():
    out = validate(spec("onnx", options=("imgsz", "batch", "dynamic")), {"simplify": True, "imgsz": "320,256",
                                                                      "dynamic": "true", "batch": "2"})
    assert out["imgsz"] == [320, 256] and out["dynamic"] is True and out["batch"] == 2
    assert out["verify"] == "fail" and out["half"] is False


@pytest.mark.parametrize("args", [{"imgsz": 0}, {"imgsz": [1, 2, 3]}, {"batch": "x"}, {"half": "maybe"},
                                  {"half": True, "int8": True}, {"verify": "sometimes"}])
def test_bad_values(args):
    with pytest.raises(UsageError):
        validate(spec("x", options=("imgsz", "batch", "half", "int8")), args)


def test_missing_dependency_gives_install_command():
    s = spec("openvino", requires=("surely_not_installed_mod",), install="pip install segctl[openvino]")
    with pytest.raises(MissingDependencyError) as e:
        check_available(s)
    assert e.value.hint == "pip install segctl[openvino]" and e.value.exit_code == 3


def test_props_round_trip_and_reference_style():
    meta = {"names": {0: "a", 1: 'b "q"'}, "stride": 32, "imgsz": [64, 96], "task": "segment", "nms": False,
            "parity": {"passed": True, "max_abs_diff": 1e-5}}
    props = to_props(meta)
    assert props["names"] == '{0: "a", 1: "b \\"q\\""}'
    back = from_props(props)
    assert back["names"] == meta["names"] and back["parity"] == meta["parity"] and back["nc"] == 2
    ref = from_props({"names": "{0: 'circle', 1: 'ring'}", "stride": "32", "imgsz": "[640, 640]", "task": "segment"})
    assert ref["names"] == {0: "circle", 1: "ring"} and ref["stride"] == 32 and ref["imgsz"] == [640, 640]
