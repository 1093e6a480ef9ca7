"""The evaluation protocol: IS as Salimans et al. define it, a reference cache keyed by the
extractor's weights, the 'paper' protocol (8-bit samples, whole training split, provenance),
the undersampled-FID warning, final/best summaries and the auto-trained MNIST classifier."""
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from PIL import Image

from jgan import viz
from jgan.config import base_config
from jgan.data import sources
from jgan.eval import classifier
from jgan.eval import evaluate as E
from jgan.eval import inception
from jgan.outputs import eval_record, eval_summary


def _salimans_is(logits, splits):
    """openai/improved-gan inception_score/model.py, from the softmax of ``logits`` on:
    contiguous splits, KL summed over classes, mean over the split, exp; mean and np.std."""
    e = np.exp(logits - logits.max(1, keepdims=True))
    preds = e / e.sum(1, keepdims=True)
    scores = []
    for i in range(splits):
        part = preds[(i * preds.shape[0] // splits):((i + 1) * preds.shape[0] // splits), :]
        kl = part * (np.log(part) - np.log(np.expand_dims(np.mean(part, 0), 0)))
        scores.append(np.exp(np.mean(np.sum(kl, 1))))
    return np.mean(scores), np.std(scores)


def test_inception_score_is_softmax_of_pool3_times_w_without_the_bias(monkeypatch):
    rng = np.random.default_rng(0)
    w = rng.standard_normal((16, 12)).astype(np.float32)
    b = 3.0 * rng.standard_normal(12).astype(np.float32)  # a large bias: it must not count
    variables = {"params": {"fc": {"kernel": w, "bias": b}}}
    proj = rng.standard_normal((5 * 5 * 3, 16))

    def fake_network(v, images, value_range=None):  # what the real network returns: fc with bias
        pool3 = np.maximum(np.asarray(images, np.float64).reshape(len(images), -1) @ proj, 0)
        return pool3.astype(np.float32), (pool3 @ w + b).astype(np.float32)

    monkeypatch.setattr(inception, "load_fid_inception_weights", lambda path=None: variables)
    monkeypatch.setattr(inception, "inception_outputs", fake_network)
    cfg = base_config()
    cfg.eval.extractor = "inception"
    images = rng.uniform(-1, 1, (103, 5, 5, 3)).astype(np.float32)  # 103: uneven splits
    feats, logits = E.Extractor(cfg)(images)
    pool3 = np.maximum(images.astype(np.float64).reshape(103, -1) @ proj, 0).astype(np.float32)
    np.testing.assert_allclose(feats, pool3, rtol=1e-6)
    ref = _salimans_is(pool3.astype(np.float64) @ w.astype(np.float64), 10)
    got = E.feature_metrics(["is"], feats, feats, logits, seed=0)
    np.testing.assert_allclose((got["is"], got["is_std"]), ref, rtol=1e-9)
    with_bias = _salimans_is(pool3.astype(np.float64) @ w + b, 10)
    assert abs(with_bias[0] - ref[0]) > 1e-3  # the bias would have changed the number


@pytest.fixture(scope="module")
def clf_dir(tmp_path_factory):
    """An untrained (randomly initialised) MNIST classifier saved as train_classifier saves one."""
    d = tmp_path_factory.mktemp("clf")
    model = classifier.MnistClassifier()
    variables = model.init(jax.random.PRNGKey(0), jnp.zeros((2, 28, 28, 1)))
    classifier.save_classifier(str(d), variables)
    return d, variables


def _mnist_cfg(clf, num_real=40):
    cfg = base_config()
    cfg.eval.classifier_workdir = str(clf)
    cfg.eval.num_real = num_real
    cfg.eval.metrics = ("fid", "is")
    return cfg


def test_reference_cache_is_recomputed_when_the_extractor_weights_change(tmp_path, clf_dir):
    clf, variables = clf_dir
    alt = tmp_path / "clf_alt"
    altered = jax.tree.map(lambda a: a, variables)
    altered["params"]["Dense_0"]["kernel"] = 2.0 * variables["params"]["Dense_0"]["kernel"]
    classifier.save_classifier(str(alt), altered)
    work = str(tmp_path / "run")
    f1, _ = E.real_features(_mnist_cfg(clf), E.Extractor(_mnist_cfg(clf)), work)
    f2, _ = E.real_features(_mnist_cfg(alt), E.Extractor(_mnist_cfg(alt)), work)
    assert len(os.listdir(os.path.join(work, "eval_cache"))) == 2
    # the recomputed features are those of the altered network on the same 40 digits
    src = sources.mnist_subset_split("train", 500)
    idx = np.random.default_rng(0).permutation(len(src))[:40]
    x = src.x[idx].astype(np.float32) / 127.5 - 1.0
    _, expected = classifier.classifier_outputs(classifier.MnistClassifier(), altered, x)
    np.testing.assert_allclose(f2, expected, rtol=1e-5, atol=1e-6)
    assert not np.allclose(f1, f2)
    # same weights again: the cached file is read, nothing new is written
    f1b, _ = E.real_features(_mnist_cfg(clf), E.Extractor(_mnist_cfg(clf)), work)
    np.testing.assert_array_equal(f1, f1b)
    assert len(os.listdir(os.path.join(work, "eval_cache"))) == 2


def test_weights_digest_is_sha256_of_the_leaves():
    import hashlib
    tree = {"b": np.arange(3, dtype=np.float32), "a": {"k": np.ones((2, 2), np.float32)}}
    h = hashlib.sha256()
    for path, a in (("['a']['k']", tree["a"]["k"]), ("['b']", tree["b"])):  # sorted by path
        h.update(f"{path}|{a.dtype.str}|{a.shape}|".encode())
        h.update(a.tobytes())
    assert E.weights_digest(tree) == h.hexdigest()
    tree["b"] = tree["b"] + 1e-7
    assert E.weights_digest(tree) != h.hexdigest()


def test_8bit_quantisation_equals_a_png_written_and_read_back(tmp_path):
    x = np.random.default_rng(1).uniform(-1.1, 1.1, (4, 7, 9, 3)).astype(np.float32)
    x[0, 0, 0] = (-1.0, 1.0, 0.0)
    q = E.quantize_8bit(x)
    for i in range(len(x)):
        path = str(tmp_path / f"{i}.png")
        viz.save_image_grid(x[i:i + 1], path, ncols=1)  # how jgan saves samples (2-pixel frame)
        back = np.asarray(Image.open(path)).astype(np.float32)[2:9, 2:11] / 127.5 - 1.0
        np.testing.assert_array_equal(q[i], back)


def test_paper_protocol_quantises_uses_the_whole_train_split_and_records_provenance(tmp_path, clf_dir):
    clf, variables = clf_dir
    cfg = _mnist_cfg(clf)
    cfg.eval.protocol = "paper"
    assert E.num_generated(cfg) == 50_000
    samples = np.random.default_rng(2).uniform(-1, 1, (60, 28, 28, 1)).astype(np.float32)
    out = E.evaluate_samples(cfg, samples, str(tmp_path))
    # IS of the classifier's predictions on the samples after a PNG round trip
    u8 = np.clip(np.round((samples + 1) * 127.5), 0, 255).astype(np.uint8)
    logits, _ = classifier.classifier_outputs(classifier.MnistClassifier(), variables,
                                              u8.astype(np.float32) / 127.5 - 1.0)
    np.testing.assert_allclose((out["is"], out["is_std"]), _salimans_is(logits.astype(np.float64), 10),
                               rtol=1e-6)
    p = out["provenance"]
    assert p["protocol"] == "paper" and p["quantized_8bit"] is True and p["generated_count"] == 60
    assert p["reference"] == "mnist_subset" and p["reference_split"] == "train"
    assert p["reference_count"] == 4500  # the whole training split, not eval.num_real
    assert p["extractor"] == "mnist_classifier" and p["extractor_sha256"] == E.weights_digest(variables)
    assert "none" in p["resizer"]
    rec = eval_record(out)
    assert rec["eval_provenance"] == p and "eval/provenance" not in rec and rec["eval/is"] == out["is"]


def test_undersampled_frechet_distance_warns_in_one_line(capsys):
    rng = np.random.default_rng(3)
    E.feature_metrics(["fid"], rng.standard_normal((30, 8)), rng.standard_normal((30, 8)), None, 0)
    assert capsys.readouterr().err == ""
    E.feature_metrics(["fid"], rng.standard_normal((30, 40)), rng.standard_normal((20, 40)), None, 0)
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("warning:") and "40 feature dimensions" in err[0]


def test_eval_summary_reports_final_best_and_direction():
    records = [{"step": 1, "d_loss": 1.0},
               {"step": 2, "eval/fid": 30.0, "eval/is": 2.0, "eval/kid_std": 0.1,
                "eval_provenance": {"protocol": "quick"}},
               {"step": 4, "eval/fid": 10.0, "eval/is": 1.5, "eval/kid_std": 0.3},
               {"step": 6, "eval/fid": 20.0, "eval/is": 1.8, "eval/kid_std": 0.2,
                "eval_provenance": {"protocol": "quick", "generated_count": 7}}]
    s = eval_summary(records)
    assert s["fid"] == {"final": 20.0, "final_step": 6, "evaluations": 3, "best": 10.0, "best_step": 4,
                        "better": "lower", "provenance": {"protocol": "quick", "generated_count": 7}}
    assert (s["is"]["best"], s["is"]["best_step"], s["is"]["better"]) == (2.0, 2, "higher")
    assert "best" not in s["kid_std"] and "better" not in s["kid_std"]


def test_mnist_classifier_trains_itself_once_into_the_cache(tmp_path, monkeypatch):
    tiny = classifier.mnist_classifier_config("quick")
    tiny.train.steps, tiny.train.batch_size = 3, 16
    monkeypatch.setenv("JGAN_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(classifier, "mnist_classifier_config", lambda variant=None: tiny)
    cfg = base_config()
    assert cfg.eval.classifier_workdir == ""  # the default: the project cache
    _, auto = E.load_mnist_classifier(cfg)
    (entry,) = os.listdir(tmp_path / "cache")  # the temporary directory is gone
    assert entry == f"classifier_mnist-{classifier.recipe_digest(tiny)}"
    # the explicit way (experiments/classifier_mnist.py's train_classifier) gives the same weights
    classifier.train_classifier(tiny, str(tmp_path / "explicit"))
    _, explicit = classifier.load_classifier(str(tmp_path / "explicit"))
    jax.tree.map(np.testing.assert_array_equal, auto, explicit)
    # found in the cache the second time: no training
    monkeypatch.setattr(classifier, "train_classifier", lambda *a: pytest.fail("retrained"))
    _, again = E.load_mnist_classifier(cfg)
    jax.tree.map(np.testing.assert_array_equal, auto, again)


def test_unknown_protocol_is_a_config_error_naming_the_field():
    from jgan.config import ConfigError, validate
    cfg = base_config()
    cfg.eval.protocol = "papers"
    with pytest.raises(ConfigError, match=r"config.eval.protocol='papers' is not one of 'quick', 'paper'"):
        validate(cfg)


def test_eval_report_prints_units_floor_and_training_columns(capsys):
    result = {"fid": 12.5, "kid": 0.0123, "modes/modes": 7.0,
              "provenance": {"protocol": "paper", "generated_count": 50000, "extractor": "x",
                             "quantized_8bit": True}}  # no digest, no resizer, no reference
    floor = {"fid": 0.5, "kid": -0.0001, "heldout_count": 500, "heldout_split": "test"}
    summary = {"fid": {"final": 13.0, "final_step": 100, "best": 11.0, "best_step": 50, "better": "lower",
                       "provenance": {"protocol": "quick"}}}
    rec = E.eval_report("run", 100, result, floor, summary)
    out = capsys.readouterr().out.splitlines()
    assert "  KID: raw unbiased MMD^2 (not x10^3)" in out
    assert any("from protocol quick, this evaluation from 'paper'" in line for line in out)
    fid_row = next(line.split() for line in out if line.split()[:1] == ["fid"])
    assert fid_row == ["fid", "12.5", "0.5", "lower", "13", "(100)", "11", "(50)"]
    kid_row = next(line.split() for line in out if line.split()[:1] == ["kid"])
    assert kid_row == ["kid", "0.0123", "-0.0001", "lower", "-", "-"]
    assert rec["fid"] == 12.5 and rec["heldout_real"] == floor and rec["training"] == summary
    assert rec["provenance"] == result["provenance"] and rec["units"]["kid"] == "raw MMD^2 (not x10^3)"
