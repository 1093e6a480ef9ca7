"""InfoGAN — Chen et al., "InfoGAN: Interpretable Representation Learning by Information
Maximizing Generative Adversarial Nets", 2016.

MNIST with the paper's latent code: 62 noise variables, one 10-way categorical code and two
continuous codes ~ U(-1, 1), appended to G's input (``model.conditioning='infogan'``). The
recognition network Q shares D's body (Dense(128)-BN-LReLU-Dense(10 + 2) on D's features); the
mutual-information lower bound L_I (categorical cross-entropy + unit-variance Gaussian NLL of
the continuous codes) is maximised by G and Q with lambda = ``loss.aux_weight`` = 1 (the
paper's value for discrete codes). As the authors' run (openai/InfoGAN
``launchers/run_mnist_exp.py``): Adam, lr 2e-4 for D (and Q), 1e-3 for G, beta1 0.5; batch
128; 50 epochs of 100 updates = 5,000 iterations; a fresh latent batch for the G update (the
reference samples z inside each session run). Networks as the paper's appendix Table 1: G =
FC 1024 - FC 7x7x128 - upconv 64 - upconv 1, D = conv 64 - conv 128 - FC 1024 - heads, BatchNorm
as there (the 28x28 DCGAN pair with ``model.*.fc = 1024``). Departures: z ~ N(0, I) rather than
U(-1, 1); LeakyReLU 0.2 in D (the paper says 0.1, its code 0.01); tanh output on [-1, 1]
rather than a Bernoulli mean on [0, 1]; 4,500 training digits (the embedded subset).

Measured (seed 0, jgan's classifier on 2,000 samples): code purity 0.868 with every digit the
majority of one code value (``code_digits`` 10); the codes that share digits are 4 / 7 / 9.
The paper reports about 5% error (purity ~0.95). This experiment's earlier default (the
DCGAN pair without the FC-1024 layers, batch 64, 3,000 iterations, the D update's fake batch
reused by G) reached 0.36; which of the four changes matters most was not isolated. In this
run Q decodes the code almost perfectly from iteration ~500 on (cross-entropy 0.03, then
0.005), so what the code means is settled early.

``--mode sample`` writes the traversal grids (rows = latent seeds, columns = the code's
values): ``traversal_categorical_*.png`` and ``traversal_continuous{0,1}_*.png`` (-2..2, as
the paper's Figure 2). Evaluation reports ``code_purity``: how consistently each categorical
value maps to one digit (jgan's MNIST classifier).

    python launch.py --config experiments/infogan.py
    python launch.py --config experiments/infogan.py --workdir runs/infogan --mode sample
    python launch.py --config experiments/infogan.py:quick       # seconds, for tests
"""
from jgan.config import base_config


def get_config(variant: str | None = None):
    c = base_config()
    c.name, c.variant = "infogan", variant or ""
    c.model.conditioning = "infogan"
    c.model.num_classes = 10       # categorical code
    c.model.info_continuous = 2
    c.model.z_dim = 62             # noise; G's input is 62 + 10 + 2 = 74
    c.model.generator.name = c.model.discriminator.name = "dcgan28"
    c.loss.name = "non_saturating"
    c.loss.aux_weight = 1.0
    for net in ("g", "d"):
        c.optim[net].name = "adam"
        c.optim[net].b1, c.optim[net].b2 = 0.5, 0.999
    c.optim.d.lr, c.optim.g.lr = 2e-4, 1e-3
    c.model.generator.fc = c.model.discriminator.fc = 1024
    c.train.batch_size = 128
    c.train.reuse_fake = False
    c.train.steps = 5000
    c.train.num_samples = 100
    c.train.log_every = 50
    c.train.sample_every = 500
    c.train.checkpoint_every = 1000
    c.eval.metrics = ()
    c.eval.num_samples = 2000

    if variant == "quick":
        c.model.generator.width = c.model.discriminator.width = 8
        c.model.generator.fc = c.model.discriminator.fc = 0
        c.train.reuse_fake = True
        c.train.batch_size = 20
        c.train.steps = 6
        c.train.num_samples = 20
        c.train.log_every = c.train.sample_every = c.train.checkpoint_every = 3
        c.eval.num_samples = 200
    elif variant:
        raise ValueError(f"unknown variant {variant!r} of experiments/infogan.py: use quick")
    return c
