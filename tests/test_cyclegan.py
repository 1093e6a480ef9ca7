"""CycleGAN: the image pool against a hand simulation of the reference's ``ImagePool``, the
losses against NumPy formulas, the cycle and identity terms in G's gradient, D fed from the
pool, unpaired data order, the quick run through launch.py (grids, evaluation, modes),
bit-exact resume with the pools, 1 vs 4 devices, TFDS and folder data."""
import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import final_state, launch, load_experiment, on_mesh, resumed_equals_straight
from flax import traverse_util

from jgan import steps, train
from jgan.config import ConfigError
from jgan.data import pipeline
from jgan.data.unpaired import UnpairedSource
from jgan.experiment import build, make_family
from jgan.families import cyclegan as C


def _quick(**overrides):
    return load_experiment("experiments/cyclegan.py", "quick", **{"eval.every": 0, **overrides})


def _draws(key, n, size):
    """The draws pool_query documents for images 0..n-1: (u, slot)."""
    out = []
    for i in range(n):
        k_u, k_slot = jax.random.split(jax.random.fold_in(key, i))
        out.append((float(jax.random.uniform(k_u)), int(jax.random.randint(k_slot, (), 0, size))))
    return out


def _reference_query(pool: list, images, draws, size):
    """util/image_pool.py's ImagePool.query, image by image, with the given draws."""
    out = []
    for img, (u, slot) in zip(images, draws):
        if len(pool) < size:
            pool.append(img.copy())
            out.append(img)
        elif u > 0.5:
            out.append(pool[slot].copy())
            pool[slot] = img.copy()
        else:
            out.append(img)
    return np.stack(out)


def test_image_pool_is_the_reference_pool_with_the_same_draws():
    size, rng = 5, np.random.default_rng(0)
    pool, ref = C.pool_init(size, (2, 2, 1)), []
    query = jax.jit(C.pool_query)
    swaps = 0
    for call in range(4):
        images = rng.normal(size=(4, 2, 2, 1)).astype(np.float32)
        key = jax.random.PRNGKey(10 + call)
        draws = _draws(key, 4, size)
        filled = len(ref)
        want = _reference_query(ref, images, draws, size)
        pool, got = query(pool, jnp.asarray(images), key)
        np.testing.assert_array_equal(np.asarray(got), want)
        np.testing.assert_array_equal(np.asarray(pool["images"])[:len(ref)], np.stack(ref))
        assert int(pool["count"]) == len(ref)
        swaps += sum(1 for j, (u, _) in enumerate(draws) if filled + j >= size and u > 0.5)
    assert swaps >= 2 and int(pool["count"]) == size  # the test exercised filling and swapping
    # over a mesh: the devices' fakes are gathered, queried in global order, sliced back
    images = jnp.asarray(rng.normal(size=(8, 2, 2, 1)).astype(np.float32))
    key = jax.random.PRNGKey(99)
    want_pool, want = C.pool_query(pool, images, key)
    for n in (1, 4):
        got = on_mesh(lambda x: C.pool_query_global(pool, x, key)[1], n, images)
        np.testing.assert_array_equal(np.asarray(got), np.asarray(want))
        got_pool = on_mesh(lambda x: C.pool_query_global(pool, x, key)[0]["images"], n, images,
                            out_specs=jax.sharding.PartitionSpec())
        np.testing.assert_array_equal(np.asarray(got_pool), np.asarray(want_pool["images"]))


@pytest.fixture(scope="module")
def setup():
    """A quick family on one device, its initial state and one real batch."""
    cfg = _quick()
    exp = build(cfg, mesh=steps.make_mesh(jax.devices()[:1]), donate=False)
    src = exp.family.source()
    batch = pipeline.load_batch(src.stream(0), np.arange(4), image_size=28, channels=1)
    return exp, batch


def _forward(family, state, x, name):
    net = state.nets[name]
    return np.asarray(family.g_model.apply({"params": net.params}, jnp.asarray(x), train=True)
                      if name.startswith("g") else
                      family.d_model.apply({"params": net.params}, jnp.asarray(x), train=True))


def test_generator_loss_is_the_papers_objective(setup):
    exp, batch = setup
    fam, state = exp.family, jax.device_get(exp.state)
    a, b = batch["a"], batch["b"]
    f = lambda x, n: _forward(fam, state, x, n)  # noqa: E731
    fake_b, fake_a = f(a, "g_ab"), f(b, "g_ba")
    rec_a, rec_b = f(fake_b, "g_ba"), f(fake_a, "g_ab")
    l1 = lambda x, y: np.mean(np.abs(x - y))  # noqa: E731
    want = (np.mean((f(fake_b, "d_b") - 1) ** 2) + np.mean((f(fake_a, "d_a") - 1) ** 2)
            + 10 * (l1(rec_a, a) + l1(rec_b, b)) + 5 * (l1(f(b, "g_ab"), b) + l1(f(a, "g_ba"), a)))
    _, m = exp.phases["iteration"](exp.state, exp.phases.shard_batch({k: batch[k][None] for k in "ab"}),
                                   jnp.int32(0))
    np.testing.assert_allclose(float(m["g_loss"]), want, rtol=1e-5)
    np.testing.assert_allclose(float(m["g_cycle_a"]), l1(rec_a, a), rtol=1e-5)


def test_cycle_and_identity_terms_are_in_the_generators_gradient(setup):
    # grad L_G(lambda=10, w=0) - grad L_G(lambda=0) = 10 grad(cycle), and grad L_G(10, 0.5) -
    # grad L_G(10, 0) = 5 grad(identity), the terms differentiated here from the networks alone.
    exp, batch = setup
    state = jax.device_get(exp.state)
    g = {n: state.nets[n].params for n in ("g_ab", "g_ba")}
    a, b = jnp.asarray(batch["a"]), jnp.asarray(batch["b"])

    def loss_grad(cycle, identity):
        fam = make_family(_quick(**{"loss.cycle_weight": cycle, "loss.identity_weight": identity}))
        d_vars = {n: {"params": state.nets[n].params, "batch_stats": {}} for n in ("d_a", "d_b")}

        def fn(a, b):
            grads = jax.grad(lambda p: fam.generator_loss(p, {"g_ab": {}, "g_ba": {}}, d_vars, a, b)[0])(
                steps.varying(g))
            return steps.pmean(grads)

        return on_mesh(fn, 1, a, b, out_specs=jax.sharding.PartitionSpec())

    G = lambda p, x: exp.family.g_model.apply({"params": p}, x, train=True)  # noqa: E731
    l1 = lambda x, y: jnp.mean(jnp.abs(x - y))  # noqa: E731
    cycle = jax.grad(lambda p: l1(G(p["g_ba"], G(p["g_ab"], a)), a) + l1(G(p["g_ab"], G(p["g_ba"], b)), b))(g)
    identity = jax.grad(lambda p: l1(G(p["g_ab"], b), b) + l1(G(p["g_ba"], a), a))(g)
    full, no_idt, none = loss_grad(10.0, 0.5), loss_grad(10.0, 0.0), loss_grad(0.0, 0.0)
    check = lambda x, y: np.testing.assert_allclose(x, y, rtol=2e-3, atol=2e-6)  # noqa: E731
    jax.tree.map(lambda x, y, c: check(np.asarray(x) - np.asarray(y), 10 * np.asarray(c)), no_idt, none, cycle)
    jax.tree.map(lambda x, y, c: check(np.asarray(x) - np.asarray(y), 5 * np.asarray(c)), full, no_idt, identity)
    assert max(float(jnp.max(jnp.abs(v))) for v in jax.tree.leaves(cycle)) > 1e-3


def test_discriminators_learn_from_the_pool(setup):
    # Pools primed full with known images: each D's logged loss is 1/2 [mean (D(real) - 1)^2 +
    # mean D(pooled)^2] on the images the reference pool returns for the same draws.
    exp, batch = setup
    fam, state = exp.family, jax.device_get(exp.state)
    rng = np.random.default_rng(5)
    primed = {f"pool_{k}": {"images": rng.uniform(-1, 1, (6, 28, 28, 1)).astype(np.float32),
                            "count": np.int32(6)} for k in "ab"}
    state = state.replace(aux=primed)
    live = exp.state.replace(aux=exp.phases.replicate(primed))  # same types as the compiled call
    it_key = jax.random.fold_in(state.rng, state.step)
    fakes = {"a": _forward(fam, state, batch["b"], "g_ba"), "b": _forward(fam, state, batch["a"], "g_ab")}
    want = {}
    for i, dom in enumerate("ab"):
        draws = _draws(jax.random.fold_in(it_key, 2 + i), 4, 6)
        assert any(u > 0.5 for u, _ in draws)  # some pooled images are not this step's fakes
        pooled = _reference_query(list(primed[f"pool_{dom}"]["images"]), fakes[dom], draws, 6)
        real, fake = _forward(fam, state, batch[dom], f"d_{dom}"), _forward(fam, state, pooled, f"d_{dom}")
        want[dom] = 0.5 * (np.mean((real - 1) ** 2) + np.mean(fake ** 2))
    new, m = exp.phases["iteration"](live,
                                     exp.phases.shard_batch({k: batch[k][None] for k in "ab"}), jnp.int32(0))
    for dom in "ab":
        np.testing.assert_allclose(float(m[f"d_{dom}_loss"]), want[dom], rtol=1e-5)
        assert int(new.aux[f"pool_{dom}"]["count"]) == 6


def test_unpaired_stream_reshuffles_each_domain_on_its_own():
    from jgan.data.sources import ArraySource
    a = ArraySource(np.arange(6, dtype=np.uint8).reshape(6, 1, 1, 1), np.zeros(6, np.int32))
    b = ArraySource(np.arange(4, dtype=np.uint8).reshape(4, 1, 1, 1), np.zeros(4, np.int32))
    stream = UnpairedSource(a, b).stream(seed=3)
    pos = np.arange(24)
    ia, ib = stream.indices(0, pos), stream.indices(1, pos)
    for idx, n in ((ia, 6), (ib, 4)):  # every epoch of a domain is a permutation of it ...
        epochs = idx.reshape(-1, n)
        assert all(sorted(e) == list(range(n)) for e in epochs)
        assert len({tuple(e) for e in epochs}) > 1  # ... reshuffled
    assert len({(x, y) for x, y in zip(ia, ib)}) > 12  # pairs are not tied to each other
    got = stream.get_batch(pos[:5])
    np.testing.assert_array_equal(got["a"][:, 0, 0, 0], ia[:5])
    assert len(UnpairedSource(a, b)) == 6


def test_resume_is_bit_exact_with_the_pools_and_four_devices_match_one(tmp_path):
    # quick: batch 4, pools of 6: they fill during step 2 and swap from then on
    cfg = _quick()
    one, four = steps.make_mesh(jax.devices()[:1]), steps.make_mesh(jax.devices()[:4])
    a = resumed_equals_straight(cfg, _quick(**{"train.steps": 2}), tmp_path, one)
    assert int(a.aux["pool_a"]["count"]) == 6
    train.run(cfg, str(tmp_path / "four"), mesh=four)
    d = final_state(cfg, tmp_path / "four", four)
    for name in a.nets:
        for path, u in traverse_util.flatten_dict(a.nets[name].params).items():
            # Adam turns float-noise gradient differences into steps of up to ~lr on near-zero
            # gradients: atol 1e-4 (half an Adam step); a device-dependent draw changes far more
            if path[-1] == "bias" and _normalised(name, path[0]):
                continue  # instance norm removes it: its gradient is float noise, Adam's step +-lr
            np.testing.assert_allclose(u, traverse_util.flatten_dict(d.nets[name].params)[path],
                                       rtol=2e-3, atol=1e-4, err_msg=f"{name} {path}")
    for dom in "ab":  # the same images in the same slots (G's outputs, to G's float differences)
        pa, pd = a.aux[f"pool_{dom}"], d.aux[f"pool_{dom}"]
        assert int(pa["count"]) == int(pd["count"])
        np.testing.assert_allclose(pa["images"], pd["images"], atol=2e-3)


def _normalised(net: str, layer: str) -> bool:
    """Whether layer ``layer`` of ``net`` feeds an instance norm (quick: PatchGAN n_layers=2)."""
    if net.startswith("g"):
        return layer != "head"
    return layer in ("conv1", "conv2")


@pytest.fixture(scope="module")
def typeset_classifier_dir(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("typeset_classifier")
    r = launch("--config", "experiments/classifier_typeset.py:quick", "--workdir", str(workdir))
    assert r.returncode == 0, r.stderr[-3000:]
    return str(workdir)


def test_quick_variant_through_launch_evaluates_both_directions(tmp_path, mnist_classifier_dir,
                                                                 typeset_classifier_dir):
    run = tmp_path / "run"
    args = ["--config", "experiments/cyclegan.py:quick", "--workdir", str(run),
            f"--config.eval.domain_classifiers.mnist={mnist_classifier_dir}",
            f"--config.eval.domain_classifiers.typeset={typeset_classifier_dir}"]
    r = launch(*args)
    assert r.returncode == 0, r.stderr[-3000:]
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    evals = [rec for rec in records if "eval/a2b/fid" in rec]
    assert [rec["step"] for rec in evals] == [4]
    e = evals[0]
    for d in ("a2b", "b2a"):
        for k in ("accuracy", "class_0/accuracy", "copy_input/accuracy", "target/accuracy", "fid", "kid",
                  "copy_input/fid", "cycle_l1", "num_examples"):
            assert f"eval/{d}/{k}" in e, (d, k)
        assert e[f"eval/{d}/num_examples"] == 40 and 0 <= e[f"eval/{d}/accuracy"] <= 1
    summary = json.loads((run / "eval_summary.json").read_text())
    assert summary["a2b/fid"]["final"] == e["eval/a2b/fid"] and summary["a2b/fid"]["best_step"] == 4
    assert "best" not in summary["a2b/target/accuracy"]
    assert {"d_loss", "g_loss", "g_cycle_a", "g_idt_b", "d_a_real", "d_b_fake"} <= set(records[0])
    from PIL import Image
    grid = Image.open(run / "samples" / "step_0000004.png")
    # 4 held-out digits per direction as (input, translation, reconstruction), two per row
    assert grid.size == (6 * 30 + 2, 4 * 30 + 2)
    r = launch(*args, "--mode", "eval")
    assert r.returncode == 0, r.stderr[-3000:]
    result = json.loads((run / "eval.json").read_text())
    assert result["step"] == 4 and result["b2a/cycle_l1"] == pytest.approx(e["eval/b2a/cycle_l1"], rel=1e-6)
    r = launch(*args, "--mode", "sample", "--seeds", "0-1")
    assert r.returncode == 0, r.stderr[-3000:]
    assert Image.open(r.stdout.split()[-1]).size == (6 * 30 + 2, 2 * 30 + 2)
    # a missing classifier is one line that names the command training it
    r = launch(*args[:5], f"--config.eval.domain_classifiers.typeset={tmp_path / 'none'}",
               "--mode", "eval")
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert "experiments/classifier_typeset.py" in r.stderr and len(r.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("override,field", [
    ({"data.source": "folders"}, "data.path"),
    ({"data.domain_b": "svhn"}, "data.domain_b"),
    ({"data.load_size": 20}, "data.load_size"),
    ({"model.discriminator.n_layers": 4}, "model.discriminator.n_layers"),
    ({"loss.name": "hinge"}, "loss.name"),
    ({"loss.pool_size": -1}, "loss.pool_size"),
])
def test_bad_config_names_the_field(override, field):
    with pytest.raises(ConfigError, match=field.replace(".", r"\.")):
        make_family(_quick(**override))


def _tiny_rgb(cfg, size=16):
    cfg.data.image_size, cfg.data.load_size = size, size + 2
    cfg.model.generator.width = cfg.model.discriminator.width = 4
    cfg.model.generator.num_blocks = 1
    cfg.model.discriminator.n_layers = 2
    cfg.train.batch_size, cfg.train.steps, cfg.eval.every = 4, 2, 0
    cfg.train.log_every = cfg.train.sample_every = cfg.train.checkpoint_every = 2
    cfg.train.num_samples = 2
    return cfg


def test_trains_on_unaligned_folders_the_test_writes(tmp_path):
    from PIL import Image
    rng = np.random.default_rng(0)
    for split in ("trainA", "trainB", "testA", "testB"):
        (tmp_path / "data" / split).mkdir(parents=True)
        for i in range(3 + (split == "trainB")):
            Image.fromarray(rng.integers(0, 255, (20, 24, 3), dtype=np.uint8)).save(
                tmp_path / "data" / split / f"{i}.png")
    cfg = _tiny_rgb(load_experiment("experiments/cyclegan.py", "folder"))
    cfg.data.path = str(tmp_path / "data")
    last = train.run(cfg, str(tmp_path / "run"))
    assert np.isfinite(last["g_loss"]) and np.isfinite(last["d_loss"])
    assert Image.open(tmp_path / "run" / "samples" / "step_0000002.png").mode == "RGB"


def test_tfds_cycle_gan_variant_reads_its_four_splits_on_mock_data():
    import tensorflow_datasets as tfds
    cfg = _tiny_rgb(load_experiment("experiments/cyclegan.py", "horse2zebra"))
    with tfds.testing.mock_data(num_examples=6):  # the data path only: RGB training is tested above
        fam = make_family(cfg)
        src = fam.source()
        batch = pipeline.make_dataset(src, seed=0, global_batch_size=4, image_size=16, channels=3)[0]
        assert len(src) == 6 and fam.held_out("b", 2)["x"].shape == (2, 16, 16, 3)
    assert batch["a"].shape == batch["b"].shape == (4, 16, 16, 3)
    assert not np.array_equal(batch["a"], batch["b"])
