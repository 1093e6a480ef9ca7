"""Evaluation wired into training and --mode eval; PacGAN packing."""
import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from conftest import launch

from jgan.models import make_discriminator
from jgan.models.packing import pack_samples
from jgan.config import base_config


def test_pack_samples_concatenates_consecutive_samples():
    x = jnp.arange(6 * 2 * 2 * 3, dtype=jnp.float32).reshape(6, 2, 2, 3)
    p = pack_samples(x, 2)
    assert p.shape == (3, 2, 2, 6)
    np.testing.assert_array_equal(p[1], jnp.concatenate([x[2], x[3]], axis=-1))
    v = jnp.arange(12.0).reshape(6, 2)
    np.testing.assert_array_equal(pack_samples(v, 3), [[0, 1, 2, 3, 4, 5], [6, 7, 8, 9, 10, 11]])
    with pytest.raises(ValueError):
        pack_samples(v, 4)


def test_packed_discriminator_gives_one_logit_per_pack():
    cfg = base_config().model.discriminator
    cfg.name, cfg.hidden, cfg.pieces = "mlp", (8,), 2
    d = make_discriminator(cfg, (2,), pack=4)
    x = jnp.ones((12, 2))
    variables = d.init(jax.random.PRNGKey(0), x, train=False)
    assert d.apply(variables, x, train=False).shape == (3,)
    assert variables["params"]["inner"]["Maxout_0"]["Dense_0"]["kernel"].shape == (8, 16)  # 4 x 2 inputs


def test_pacgan_quick_trains_evaluates_and_eval_mode(tmp_path):
    r = launch("--config", "experiments/pacgan.py:quick", "--workdir", str(tmp_path), "--config.model.pack=2")
    assert r.returncode == 0, r.stderr[-2000:]
    records = [json.loads(l) for l in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    evals = [r for r in records if "eval/modes/modes" in r]
    assert [r["step"] for r in evals] == [3, 6]
    assert 0 <= evals[-1]["eval/modes/modes"] <= 25 and 0 <= evals[-1]["eval/modes/high_quality"] <= 100
    assert (tmp_path / "plots" / "eval.png").exists()
    r = launch("--config", "experiments/pacgan.py:quick", "--workdir", str(tmp_path), "--config.model.pack=2",
               "--mode", "eval")
    assert r.returncode == 0, r.stderr[-2000:]
    result = json.loads((tmp_path / "eval.json").read_text())
    assert result["step"] == 6
    # Same checkpoint, same fixed evaluation noise: the numbers logged at step 6.
    for k in ("modes", "high_quality", "reverse_kl"):
        assert result[f"modes/{k}"] == pytest.approx(evals[-1][f"eval/modes/{k}"])
    assert "reverse_kl" in r.stdout


def test_mnist_eval_with_the_jgan_classifier(tmp_path, mnist_classifier_dir):
    clf = mnist_classifier_dir
    run = tmp_path / "dcgan"
    r = launch("--config", "experiments/dcgan.py:quick", "--workdir", str(run), "--config.eval.every=6",
               "--config.eval.num_samples=300", "--config.eval.num_real=400",
               f"--config.eval.classifier_workdir={clf}")
    assert r.returncode == 0, r.stderr[-2000:]
    last = [json.loads(l) for l in (run / "metrics.jsonl").read_text().splitlines()][-1]
    for k in ("eval/fid", "eval/kid", "eval/precision", "eval/recall", "eval/density", "eval/coverage", "eval/is"):
        assert np.isfinite(last[k]), k
    assert last["eval/fid"] > 0 and 1 <= last["eval/is"] <= 10
    (cache,) = os.listdir(run / "eval_cache")
    assert cache.startswith("mnist_subset_train_mnist_classifier_400_") and cache.endswith(".npz")
    prov = last["eval_provenance"]
    assert (prov["protocol"], prov["generated_count"], prov["reference_count"]) == ("quick", 300, 400)
    summary = json.loads((run / "eval_summary.json").read_text())
    assert summary["fid"]["better"] == "lower" and summary["fid"]["final"] == last["eval/fid"]

    # --mode eval: each number beside that of held-out real digits against the same reference
    r = launch("--config", "experiments/dcgan.py:quick", "--workdir", str(run), "--mode", "eval",
               "--config.eval.num_samples=300", "--config.eval.num_real=400",
               f"--config.eval.classifier_workdir={clf}")
    assert r.returncode == 0, r.stderr[-2000:]
    result = json.loads((run / "eval.json").read_text())
    assert result["fid"] == pytest.approx(last["eval/fid"], rel=1e-6)  # same checkpoint, same noise
    floor = result["heldout_real"]
    assert floor["heldout_count"] == 300 and floor["heldout_split"] == "test"
    # independently: the classifier's features of the first 300 held-out digits vs the cached reference
    from jgan.data import sources
    from jgan.eval import classifier, metrics
    model, variables = classifier.load_classifier(clf)
    held = sources.mnist_subset_split("test", 500).x[:300].astype(np.float32) / 127.5 - 1.0
    _, feats = classifier.classifier_outputs(model, variables, held)
    with np.load(run / "eval_cache" / cache) as f:
        reference = f["features"]
    assert floor["fid"] == pytest.approx(metrics.fid(reference, feats), rel=1e-6)
    assert floor["fid"] < result["fid"]
    assert "KID: raw unbiased MMD^2 (not x10^3)" in r.stdout and "held-out real" in r.stdout
    assert result["training"]["fid"]["best_step"] == 6 and result["provenance"] == prov


def test_missing_classifier_is_a_one_line_error(tmp_path):
    r = launch("--config", "experiments/dcgan.py:quick", "--workdir", str(tmp_path / "w"), "--config.eval.every=3",
               f"--config.eval.classifier_workdir={tmp_path / 'nothing'}")
    assert r.returncode != 0
    lines = [l for l in r.stderr.splitlines() if l.startswith("error:")]
    assert len(lines) == 1 and "classifier_mnist.py" in lines[0], r.stderr[-2000:]


def test_a_classifier_that_cannot_read_the_data_size_is_one_error_before_training(mnist_classifier_dir):
    """Digits resized to 8 px cannot be read by the 28 px classifier: check_evaluator says so
    (naming the fields) instead of a flax shape traceback at the first evaluation."""
    from conftest import load_experiment

    from jgan.eval import evaluate as E
    ok = load_experiment("experiments/progan.py", "quick", **{"eval.classifier_workdir": mnist_classifier_dir})
    E.check_evaluator(ok)  # 28 px: fine
    small = load_experiment("experiments/progan.py", "quick", **{"eval.classifier_workdir": mnist_classifier_dir,
                                                                 "data.image_size": 8})
    with pytest.raises(E.EvalError, match=r"data\.image_size=8.*eval\.metrics=\(\)"):
        E.check_evaluator(small)
    small.eval.metrics = ()
    E.check_evaluator(small)  # nothing to extract: no error
