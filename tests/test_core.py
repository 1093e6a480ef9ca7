"""The family core's layering and the defects fixed with it."""
import ast
import os
import subprocess
import sys

import jax
import pytest
from conftest import ROOT, load_experiment

from jgan.experiment import make_family


def _jgan_imports(path: str, module: str) -> set[str]:
    """The jgan modules ``module`` imports at its top level (not inside functions)."""
    tree = ast.parse(open(path).read())
    out = set()
    for node in tree.body:
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.startswith("jgan")}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0 and node.module.startswith("jgan"):
            out.add(node.module)
            out |= {f"{node.module}.{a.name}" for a in node.names}
    return out


def test_module_imports_form_no_cycle():
    modules = {}
    for dirpath, _, files in os.walk(os.path.join(ROOT, "jgan")):
        for f in files:
            if f.endswith(".py"):
                rel = os.path.relpath(os.path.join(dirpath, f), ROOT)[:-3].replace(os.sep, ".")
                modules[rel.removesuffix(".__init__")] = os.path.join(dirpath, f)
    graph = {m: {i for i in _jgan_imports(p, m) if i in modules and i != m} for m, p in modules.items()}
    assert graph["jgan.families.gan"] and graph["jgan.train"]  # the parser sees imports
    state = {}

    def visit(m, stack):
        state[m] = "open"
        for n in graph[m]:
            if state.get(n) == "open":
                raise AssertionError(f"import cycle: {' -> '.join(stack + [m, n])}")
            if n not in state:
                visit(n, stack + [m])
        state[m] = "done"

    for m in graph:
        if m not in state:
            visit(m, [])


def test_importing_the_config_imports_no_training_code():
    code = ("import sys, jgan.config; heavy = [m for m in sys.modules if m.split('.')[0] in "
            "('jax', 'flax', 'optax', 'orbax', 'grain', 'tensorflow_datasets') or m in "
            "('jgan.train', 'jgan.steps', 'jgan.families.gan')]; print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_pacgan_with_five_packs_initialises():
    # the old initialisation used a fixed batch of 12 rows, which packs of 5 cannot split
    cfg = load_experiment("experiments/pacgan.py", "grid25,pack=5")
    state = jax.eval_shape(make_family(cfg).init_state)
    assert state.nets["d"].params["inner"]["Maxout_0"]["Dense_0"]["kernel"].shape[0] == 2 * 5  # 5 points of 2-d


def test_evaluation_network_is_chosen_by_the_config_not_the_image_shape():
    from jgan.eval.evaluate import extractor_kind
    cfg = load_experiment("experiments/dcgan.py", "quick")
    assert extractor_kind(cfg) == "classifier"  # the MNIST subset
    cfg.data.source, cfg.data.name = "tfds", "mnist"  # 28x28 grey, but not jgan's MNIST digits
    assert extractor_kind(cfg) == "inception"
    cfg.eval.extractor = "classifier"
    assert extractor_kind(cfg) == "classifier"


def test_unknown_family_is_a_clear_error():
    from jgan.config import ConfigError
    cfg = load_experiment("experiments/gan.py", "quick")
    cfg.family = "cyclegan2"
    with pytest.raises(ConfigError, match=r"config.family='cyclegan2' is not one of"):
        make_family(cfg)


def test_eval_summary_reports_final_and_best_with_their_steps():
    from jgan.outputs import eval_summary
    records = [{"step": 10, "d_loss": 1.0},
               {"step": 100, "eval/fid": 9.0, "eval/accuracy": 0.5, "eval/copy_input/l1": 0.3},
               {"step": 200, "eval/fid": 4.0, "eval/accuracy": 0.8, "eval/copy_input/l1": 0.3},
               {"step": 300, "eval/fid": 6.0, "eval/accuracy": 0.7, "eval/copy_input/l1": 0.3}]
    s = eval_summary(records)
    assert s["fid"] == {"final": 6.0, "final_step": 300, "evaluations": 3, "best": 4.0, "best_step": 200,
                        "better": "lower"}
    assert s["accuracy"]["best"] == 0.8 and s["accuracy"]["best_step"] == 200 and s["accuracy"]["final"] == 0.7
    assert "best" not in s["copy_input/l1"] and set(s) == {"fid", "accuracy", "copy_input/l1"}


def test_grids_carry_their_step_in_tensorboard_and_a_png_caption(tmp_path):
    import numpy as np
    from PIL import Image

    from jgan.outputs import Outputs
    from jgan.viz import save_image_grid
    out = Outputs(str(tmp_path), 0, True, title="exp")
    images = np.zeros((4, 8, 8, 1), np.float32)
    out.save_grid("ema_step_0000012.png", lambda path: save_image_grid(images, path), 12)
    out.close()
    img = Image.open(tmp_path / "samples" / "ema_step_0000012.png")
    assert img.text["Title"] == "exp step 12"
    # the TensorBoard event file holds the grid as an image summary at step 12
    import glob
    import struct

    from tensorboardX.proto import event_pb2
    (path,) = glob.glob(str(tmp_path / "tensorboard" / "events.out.tfevents.*"))
    data, images = open(path, "rb").read(), []
    while data:  # TFRecord framing: length, crc, payload, crc
        (length,) = struct.unpack("<Q", data[:8])
        event = event_pb2.Event.FromString(data[12:12 + length])
        data = data[12 + length + 4:]
        images += [(event.step, v.tag, v.image.height, v.image.width) for v in event.summary.value
                   if v.HasField("image")]
    assert images == [(12, "samples/ema", 22, 22)]  # a 2 x 2 grid of 8 px tiles, 2 px padding
