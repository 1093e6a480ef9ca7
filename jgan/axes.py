"""Names of the device-mesh axes, shared by the step wrapper and the models.

``DATA`` is the data-parallel axis: batches are split along it, gradients are ``pmean``-ed
over it and BatchNorm layers synchronise their batch moments over it when it is bound.
``SEED`` is the seed axis of a seed study's ``(seed, data)`` mesh (``jgan.mesh``): the
stacked states of the seeds are split along it; no collective runs over it in training.
"""
DATA = "data"
SEED = "seed"
