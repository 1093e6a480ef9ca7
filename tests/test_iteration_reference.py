"""One training iteration of jgan's real data-parallel step against a hand-derived float64 reference.

the gan family's ``iteration`` / ``critic`` phases (``jgan.families.gan``, compiled by ``jgan.steps.compile_phases`` on a 1-device mesh,
float32) run one iteration on tiny linear networks; a NumPy float64 re-implementation of the
*algorithm* (no autodiff: every gradient below is derived by hand) must give the same
parameters, optimiser state, BatchNorm statistics and logged losses.

Networks (flax modules below):  G(z) = z W + b  (z_dim 3 -> data dim m),
D(x) = h w + c  with h = x, or h = BN(x) = gamma * xhat + beta, xhat = (x - mu) / sqrt(var + eps),
mu, var the batch mean and *biased* variance (train mode); logits l [N].

Loss gradients w.r.t. the logits (N = batch size, s = sigmoid, softplus' = s):
  non-saturating  L_D = mean softplus(-l_r) + mean softplus(l_f):  dl_r = -s(-l_r)/N,  dl_f = s(l_f)/N
                  L_G = mean softplus(-l):                         dl   = -s(-l)/N
  wasserstein     L_D = mean l_f - mean l_r:                       dl_r = -1/N,  dl_f = 1/N
                  L_G = -mean l:                                   dl   = -1/N
Chain rule through D:  dw = h^T dl,  dc = sum dl,  dh = dl w^T;  with BN: dgamma = sum_i dh_i * xhat_i,
  dbeta = sum_i dh_i, and the input gradient (standard BN backward, batch statistics depend on x):
  dx = (1 / (N sqrt(var + eps))) (N dxhat - sum_i dxhat_i - xhat sum_i dxhat_i * xhat_i),  dxhat = gamma dh.
Through G:  dW = z^T dx,  db = sum_i dx_i.

The algorithm: each D update j sees real batch j and fresh z_j; the fake batch G(z_j) is a
constant (stop_gradient: D's update does not move G); D's BatchNorm runs the real then the fake
batch, each pass updating the running averages (flax momentum 0.9: ra = 0.9 ra + 0.1 batch
stat, biased variance). Then one G update through the *updated* D in train mode (batch
statistics of the fake batch) whose running-average updates are discarded; z is fresh
(``reuse_fake=False``) or the last D update's z (``reuse_fake=True``).
Optimisers: SGD p -= lr g; RMSProp (PyTorch) v = decay v + (1 - decay) g^2, p -= lr g / (sqrt(v) + eps),
then WGAN's clip p = clip(p, -c, c).

The only thing taken from jax is the published key convention (jgan/families/gan.py): it_key =
fold_in(rng, step); D update j: kz = split(fold_in(fold_in(it_key, 0), j), 3)[0]; G update:
fold_in(it_key, 1); z = normal(key, (B, z_dim), float32).
"""
import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
import pytest

from jgan import conditioning, losses, optim, steps
from jgan.config import base_config
from jgan.families.gan import _Updates
from jgan.models.dcgan import BatchNorm
from jgan.state import TRAIN, State, TrainState, stream_key

Z_DIM, B, BN_EPS = 3, 8, 1e-5
RTOL, ATOL = 1e-5, 1e-6
STEP0 = 5  # a non-zero iteration counter: the keys fold it in


class LinearG(nn.Module):
    dim: int

    @nn.compact
    def __call__(self, z, train: bool = True):
        return nn.Dense(self.dim)(z)


class LinearD(nn.Module):
    bn: bool = False

    @nn.compact
    def __call__(self, x, train: bool = True):
        if self.bn:
            x = BatchNorm()(x, train)
        return nn.Dense(1)(x)[:, 0]


# reference name -> path in the flax trees (the reference keeps flax's shapes: w [m, 1], c [1])
G_PATHS = {"W": ("Dense_0", "kernel"), "b": ("Dense_0", "bias")}
D_PATHS = {"w": ("Dense_0", "kernel"), "c": ("Dense_0", "bias"),
           "gamma": ("BatchNorm_0", "BatchNorm_0", "scale"), "beta": ("BatchNorm_0", "BatchNorm_0", "bias")}
BS_PATHS = {"ra_mean": ("BatchNorm_0", "BatchNorm_0", "mean"), "ra_var": ("BatchNorm_0", "BatchNorm_0", "var")}


def nest(flat, paths):
    out = {}
    for name, path in paths.items():
        if name in flat:
            node = out
            for p in path[:-1]:
                node = node.setdefault(p, {})
            node[path[-1]] = jnp.asarray(flat[name], jnp.float32)
    return out


def flatten(tree, paths):
    out = {}
    for name, path in paths.items():
        node = tree
        for p in path:
            node = node.get(p) if isinstance(node, dict) else None
        if node is not None:
            out[name] = np.asarray(node, np.float64)
    return out


def opt_config(name, lr, decay=0.9, eps=1e-8, clip=0.0):
    return ml_collections.ConfigDict(dict(name=name, lr=lr, b1=0.5, b2=0.999, eps=eps, decay=decay,
                                          momentum=0.0, clip=clip))


# ----------------------------------------------------------------------------- float64 reference
def sigmoid(t):
    return 1.0 / (1.0 + np.exp(-t))


def softplus(t):
    return np.logaddexp(0.0, t)


D_LOSS = {  # (loss, dl_r, dl_f)
    "non_saturating": lambda lr_, lf: (softplus(-lr_).mean() + softplus(lf).mean(),
                                       -sigmoid(-lr_) / len(lr_), sigmoid(lf) / len(lf)),
    "wasserstein": lambda lr_, lf: (lf.mean() - lr_.mean(), -np.ones_like(lr_) / len(lr_),
                                    np.ones_like(lf) / len(lf)),
}
G_LOSS = {  # (loss, dl)
    "non_saturating": lambda l: (softplus(-l).mean(), -sigmoid(-l) / len(l)),
    "wasserstein": lambda l: (-l.mean(), -np.ones_like(l) / len(l)),
}


def d_forward(d, x):
    """-> (logits, cache, (batch mean, biased batch variance) or None)."""
    if "gamma" in d:
        mu, var = x.mean(0), ((x - x.mean(0)) ** 2).mean(0)
        xhat = (x - mu) / np.sqrt(var + BN_EPS)
        h = d["gamma"] * xhat + d["beta"]
        return (h @ d["w"] + d["c"])[:, 0], (h, xhat, var), (mu, var)
    return (x @ d["w"] + d["c"])[:, 0], (x, None, None), None


def d_param_grads(d, cache, dl):
    h, xhat, _ = cache
    g = {"w": h.T @ dl[:, None], "c": np.array([dl.sum()])}
    if "gamma" in d:
        dh = np.outer(dl, d["w"][:, 0])
        g["gamma"], g["beta"] = (dh * xhat).sum(0), dh.sum(0)
    return g


def d_input_grad(d, cache, dl):
    _, xhat, var = cache
    dh = np.outer(dl, d["w"][:, 0])
    if "gamma" not in d:
        return dh
    dxhat, n = dh * d["gamma"], len(dl)
    return (n * dxhat - dxhat.sum(0) - xhat * (dxhat * xhat).sum(0)) / (n * np.sqrt(var + BN_EPS))


def running(bs, stats):
    mu, var = stats
    return {"ra_mean": 0.9 * bs["ra_mean"] + 0.1 * mu, "ra_var": 0.9 * bs["ra_var"] + 0.1 * var}


def opt_step(params, grads, nu, o):
    """-> (params, nu, number of entries the clip moved)."""
    params, nu, clipped = dict(params), dict(nu), 0
    for k, g in grads.items():
        if o.name == "sgd":
            p = params[k] - o.lr * g
        else:  # rmsprop, PyTorch semantics
            nu[k] = o.decay * nu[k] + (1 - o.decay) * g ** 2
            p = params[k] - o.lr * g / (np.sqrt(nu[k]) + o.eps)
        if o.clip > 0:
            clipped += int(np.sum(np.abs(p) > o.clip))
            p = np.clip(p, -o.clip, o.clip)
        params[k] = p
    return params, nu, clipped


def reference(r, reals, z_d, z_g, loss, d_opt, g_opt, reuse_fake, g_update=True):
    """``r``: {'G', 'D', 'bs', 'G_nu', 'D_nu'} float64; ``reals`` [k, B, m]; ``z_d`` [k, B, z]."""
    r = dict(r)
    r["clipped"], metrics = 0, {}
    for x, z in zip(reals, z_d):
        g, d = r["G"], r["D"]
        fake = z @ g["W"] + g["b"]  # a constant of D's update: G is not moved
        l_r, c_r, st_r = d_forward(d, x)
        l_f, c_f, st_f = d_forward(d, fake)
        if st_r is not None:  # real pass, then fake pass, both update the running averages
            r["bs"] = running(running(r["bs"], st_r), st_f)
        loss_d, dl_r, dl_f = D_LOSS[loss](l_r, l_f)
        gr, gf = d_param_grads(d, c_r, dl_r), d_param_grads(d, c_f, dl_f)
        grads = {k: gr[k] + gf[k] for k in gr}
        r["D"], r["D_nu"], n = opt_step(d, grads, r["D_nu"], d_opt)
        r["clipped"] += n
        metrics = {"d_loss": loss_d, "d_real_logit": l_r.mean(), "d_fake_logit": l_f.mean()}
        if loss == "non_saturating":  # D(x) = sigmoid(logit): the mean probabilities of 'real'
            metrics.update(d_real_prob=(1 / (1 + np.exp(-l_r))).mean(), d_fake_prob=(1 / (1 + np.exp(-l_f))).mean())
        else:  # the critic's Wasserstein estimate E f(x) - E f(G(z)) = -(D loss)
            metrics["wasserstein_estimate"] = l_r.mean() - l_f.mean()
    if not g_update:
        return r, metrics
    g, d = r["G"], r["D"]  # D after this iteration's updates
    z = z_d[-1] if reuse_fake else z_g
    fake = z @ g["W"] + g["b"]
    l, cache, _ = d_forward(d, fake)  # train mode; its running-average update is discarded
    metrics["g_loss"], dl = G_LOSS[loss](l)
    dx = d_input_grad(d, cache, dl)
    r["G"], r["G_nu"], _ = opt_step(g, {"W": z.T @ dx, "b": dx.sum(0)}, r["G_nu"], g_opt)
    return r, metrics


# ----------------------------------------------------------------------------- jgan side
def d_latents(rng, step, j):
    it_key = jax.random.fold_in(rng, step)
    kz, _, _ = jax.random.split(jax.random.fold_in(jax.random.fold_in(it_key, 0), j), 3)
    return np.asarray(jax.random.normal(kz, (B, Z_DIM), jnp.float32), np.float64)


def g_latents(rng, step):
    key = jax.random.fold_in(jax.random.fold_in(rng, step), 1)
    return np.asarray(jax.random.normal(key, (B, Z_DIM), jnp.float32), np.float64)


def f32(tree):  # the reference starts from exactly jgan's float32 values
    return {k: np.asarray(np.asarray(v, np.float32), np.float64) for k, v in tree.items()}


def setup(*, seed, dim, bn, loss, d_opt, g_opt, reuse_fake, d_scale=0.5, nu_scale=(0.0, 0.0)):
    """-> (step functions, replicated jgan state, float64 reference state, rng)."""
    rs = np.random.default_rng(seed)
    r = {"G": f32({"W": rs.normal(0, 0.7, (Z_DIM, dim)), "b": rs.normal(0, 0.5, dim)}),
         "D": f32({"w": rs.uniform(-d_scale, d_scale, (dim, 1)), "c": rs.uniform(-d_scale, d_scale, 1)}),
         "bs": {}}
    if bn:
        r["D"].update(f32({"gamma": rs.uniform(0.5, 1.5, dim), "beta": rs.normal(0, 0.3, dim)}))
        r["bs"] = f32({"ra_mean": rs.normal(0, 0.5, dim), "ra_var": rs.uniform(0.5, 2.0, dim)})
    # optimiser state: RMSProp's nu starts from random positive values (a run in progress)
    for net, scale in zip("GD", nu_scale):
        r[f"{net}_nu"] = f32({k: scale * rs.uniform(0.5, 2.0, np.shape(v)) for k, v in r[net].items()})
    g_model, d_model = LinearG(dim), LinearD(bn)

    def train_state(model, params, tx, nu, batch_stats):
        ts = TrainState.create(apply_fn=model.apply, params=params, tx=tx, batch_stats=batch_stats)
        if optax.tree_utils.tree_get(ts.opt_state, "nu") is not None:
            ts = ts.replace(opt_state=optax.tree_utils.tree_set(ts.opt_state, nu=nu))
        return ts

    g_ts = train_state(g_model, nest(r["G"], G_PATHS), optim.make_optimizer(g_opt),
                       nest(r["G_nu"], G_PATHS), {})
    d_ts = train_state(d_model, nest(r["D"], D_PATHS), optim.make_optimizer(d_opt),
                       nest(r["D_nu"], D_PATHS), nest(r["bs"], BS_PATHS))
    rng = stream_key(seed, TRAIN)
    state = State(step=jnp.int32(STEP0), rng=rng, nets={"g": g_ts, "d": d_ts}, ema={}, aux={})
    cfg = base_config()
    cfg.model.z_dim, cfg.train.reuse_fake = Z_DIM, reuse_fake
    updates = _Updates(g_model, d_model, losses.get_objective(loss), conditioning.Conditioning(), cfg)
    fns = steps.compile_phases({"iteration": updates.iteration, "critic": updates.critic},
                               steps.make_mesh(jax.devices()[:1]), donate=False)
    return fns, fns.replicate(state), r, rng


def run(fns, fn, state, reals, d_offset):
    state, metrics = fns[fn](state, fns.shard_batch({"x": reals}), jnp.int32(d_offset))
    return jax.device_get(state), {k: float(v) for k, v in jax.device_get(metrics).items()}


def assert_matches(state, metrics, r, ref_metrics, nu=False):
    close = lambda a, b, what: np.testing.assert_allclose(a, b, rtol=RTOL, atol=ATOL, err_msg=what)  # noqa: E731
    got = {"G": flatten(state.nets["g"].params, G_PATHS), "D": flatten(state.nets["d"].params, D_PATHS),
           "bs": flatten(state.nets["d"].batch_stats, BS_PATHS)}
    if nu:
        got["G_nu"] = flatten(optax.tree_utils.tree_get(state.nets["g"].opt_state, "nu"), G_PATHS)
        got["D_nu"] = flatten(optax.tree_utils.tree_get(state.nets["d"].opt_state, "nu"), D_PATHS)
    for part, leaves in got.items():
        assert leaves.keys() == r[part].keys(), part
        for k, v in leaves.items():
            close(v, r[part][k], f"{part}.{k}")
    assert ref_metrics.keys() <= metrics.keys()
    for k, v in ref_metrics.items():
        close(metrics[k], v, f"metric {k}")


def reals_for(seed, k, dim, loc=0.8):
    return np.random.default_rng(seed + 100).normal(loc, 1.0, (k, B, dim)).astype(np.float32)


# ----------------------------------------------------------------------------- the tests
@pytest.mark.parametrize("reuse_fake", [False, True], ids=["fresh_z", "reuse_fake"])
@pytest.mark.parametrize("k", [1, 2])
def test_non_saturating_sgd(k, reuse_fake):
    """k SGD updates of D (non-saturating loss, fake samples constant) then one G update
    through the updated D, on fresh z or the last D update's z and fake batch."""
    sgd = opt_config("sgd", 0.1)
    fns, state, r, rng = setup(seed=k + 2 * reuse_fake, dim=2, bn=False, loss="non_saturating",
                               d_opt=sgd, g_opt=sgd, reuse_fake=reuse_fake)
    x = reals_for(k, k, 2)
    out, metrics = run(fns, "iteration", state, x, 0)
    z_d = [d_latents(rng, STEP0, j) for j in range(k)]
    ref, ref_metrics = reference(r, x.astype(np.float64), z_d, g_latents(rng, STEP0), "non_saturating",
                                 sgd, sgd, reuse_fake)
    assert_matches(out, metrics, ref, ref_metrics)
    assert int(out.step) == STEP0 + 1


WGAN_C = 0.05
RMS_D = opt_config("rmsprop", 0.01, decay=0.9, clip=WGAN_C)
RMS_G = opt_config("rmsprop", 0.01, decay=0.9)
WGAN = dict(dim=4, bn=False, loss="wasserstein", d_opt=RMS_D, g_opt=RMS_G, reuse_fake=False,
            d_scale=WGAN_C, nu_scale=(1e-3, 0.05))


def test_wgan_rmsprop_clip_n_critic():
    """n_critic = 3 RMSProp + clip critic updates and one RMSProp G update in one iteration phase;
    RMSProp's squared-gradient averages are compared as well."""
    n_critic = 3
    fns, state, r, rng = setup(seed=7, **WGAN)
    x = reals_for(7, n_critic, 4)
    out, metrics = run(fns, "iteration", state, x, 0)
    z_d = [d_latents(rng, STEP0, j) for j in range(n_critic)]
    ref, ref_metrics = reference(r, x.astype(np.float64), z_d, g_latents(rng, STEP0), "wasserstein",
                                 RMS_D, RMS_G, reuse_fake=False)
    assert ref["clipped"] > 0, "the clip must bind for the test to check it"
    assert_matches(out, metrics, ref, ref_metrics, nu=True)
    assert max(np.abs(v).max() for v in jax.tree.leaves(out.nets["d"].params)) <= WGAN_C


def test_wgan_critic_chunk_then_iteration():
    """The warm-up schedule's shape: a critic-phase chunk of k critic updates (indices 0..k-1),
    then an iteration phase with k more (indices k..2k-1) and the G update = the reference's 2k
    critic updates of one iteration, then one G update."""
    k = 3
    fns, state, r, rng = setup(seed=8, **WGAN)
    x = reals_for(8, 2 * k, 4)
    mid, mid_metrics = run(fns, "critic", state, x[:k], 0)
    assert int(mid.step) == STEP0  # a D-only chunk does not end the iteration
    z_d = [d_latents(rng, STEP0, j) for j in range(2 * k)]
    ref_mid, ref_mid_metrics = reference(r, x[:k].astype(np.float64), z_d[:k], None, "wasserstein",
                                         RMS_D, RMS_G, reuse_fake=False, g_update=False)
    assert_matches(mid, mid_metrics, ref_mid, ref_mid_metrics, nu=True)
    out, metrics = run(fns, "iteration", mid, x[k:], k)
    ref, ref_metrics = reference(r, x.astype(np.float64), z_d, g_latents(rng, STEP0), "wasserstein",
                                 RMS_D, RMS_G, reuse_fake=False)
    assert ref["clipped"] > 0, "the clip must bind for the test to check it"
    assert_matches(out, metrics, ref, ref_metrics, nu=True)
    assert int(out.step) == STEP0 + 1


@pytest.mark.parametrize("reuse_fake", [False, True], ids=["fresh_z", "reuse_fake"])
def test_d_batchnorm_statistics_not_updated_by_g_update(reuse_fake):
    """D = Dense(BN(x)): after one iteration phase D's running averages are those of the D update's
    real then fake passes (biased batch variance, momentum 0.9) and the G update's forward
    through D (train mode: batch statistics, gradients through them) leaves them alone."""
    sgd = opt_config("sgd", 0.1)
    fns, state, r, rng = setup(seed=11 + reuse_fake, dim=4, bn=True, loss="non_saturating",
                               d_opt=sgd, g_opt=sgd, reuse_fake=reuse_fake)
    x = reals_for(11, 1, 4, loc=1.5)
    out, metrics = run(fns, "iteration", state, x, 0)
    z_d, z_g = [d_latents(rng, STEP0, 0)], g_latents(rng, STEP0)
    ref, ref_metrics = reference(r, x.astype(np.float64), z_d, z_g, "non_saturating", sgd, sgd, reuse_fake)
    assert_matches(out, metrics, ref, ref_metrics)
    # The statistics G's forward would have added are distinguishable from the right ones.
    z = z_d[-1] if reuse_fake else z_g
    _, _, st_g = d_forward(ref["D"], z @ r["G"]["W"] + r["G"]["b"])
    wrong = running(ref["bs"], st_g)
    assert not np.allclose(np.asarray(out.nets["d"].batch_stats["BatchNorm_0"]["BatchNorm_0"]["mean"]),
                           wrong["ra_mean"], rtol=RTOL, atol=1e-3)
