"""Regenerate the torch checkpoint fixtures used by tests/test_inception.py.

NOT a test and not run in CI: it needs PyTorch, which jgan does not depend on.
Run it from a separate virtual environment that has torch + numpy, e.g.

    python3 -m venv /tmp/torchvenv && /tmp/torchvenv/bin/pip install torch numpy
    /tmp/torchvenv/bin/python tests/data/make_torch_fixtures.py

It writes, next to this file:
  torch_fixture_zip.pth     torch.save(obj) in the zip format (default)
  torch_fixture_legacy.pth  torch.save(obj, _use_new_zipfile_serialization=False)
  torch_fixture_expected.npz  the values of every tensor, as computed by torch
    (key "a/b" for obj["a"]["b"]; bfloat16 stored as its uint16 bit pattern
    under "<key>.bf16bits").

The object covers: several dtypes (float32/64/16, bfloat16, int64/32/16/8,
uint8, bool; plus uint16 and float8_e4m3fn, which torch saves as an
UntypedStorage rebuilt by _rebuild_tensor_v3, in the zip file only), a 0-d tensor, an empty tensor, a transposed (non-contiguous)
view, an offset slice view, a strided view, two tensors sharing one storage,
an nn.Parameter, nested containers, and a real BatchNorm/Conv state dict
(OrderedDict with _metadata and int64 num_batches_tracked).
"""

import collections
import os

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))


def build(legacy=False):
    g = torch.Generator().manual_seed(1234)
    base = torch.randn(4, 6, generator=g)
    shared = torch.arange(20, dtype=torch.float64)
    obj = collections.OrderedDict()
    obj["f32"] = torch.randn(2, 3, generator=g)
    obj["f64"] = torch.randn(3, dtype=torch.float64, generator=g)
    obj["f16"] = torch.randn(5, generator=g).to(torch.float16)
    obj["bf16"] = torch.randn(2, 2, generator=g).to(torch.bfloat16)
    obj["i64"] = torch.tensor([-(2**40), 0, 7, 2**62], dtype=torch.int64)
    obj["i32"] = torch.tensor([[-3, 4], [5, -(2**31)]], dtype=torch.int32)
    obj["i16"] = torch.tensor([-300, 300], dtype=torch.int16)
    obj["i8"] = torch.tensor([-128, 127, 0], dtype=torch.int8)
    obj["u8"] = torch.tensor([0, 1, 255], dtype=torch.uint8)
    obj["bool"] = torch.tensor([True, False, True])
    if not legacy:  # newer dtypes: UntypedStorage + _rebuild_tensor_v3 (zip format only)
        obj["u16"] = torch.tensor([0, 1, 65535], dtype=torch.uint16)
        obj["f8"] = torch.tensor([0.5, -2.0, 448.0]).to(torch.float8_e4m3fn)
    obj["scalar"] = torch.tensor(3.5)
    obj["empty"] = torch.zeros(0, 3)
    obj["transposed"] = base.t()  # non-contiguous, stride (1, 6)
    obj["offset_view"] = base[1:, 2:]  # storage offset 8, stride (6, 1)
    obj["strided"] = base[::2, ::3]  # stride (12, 3)
    obj["shared_a"] = shared[2:10]  # both share `shared`'s storage
    obj["shared_b"] = shared.view(4, 5)[1:3, 1:]
    obj["param"] = torch.nn.Parameter(torch.randn(3, generator=g))
    obj["nested"] = {"list": [torch.ones(2, dtype=torch.int64), 5, "text"], "tuple": (torch.full((1,), -1.0),)}
    torch.manual_seed(0)
    block = torch.nn.Sequential(torch.nn.Conv2d(2, 3, 3, bias=False), torch.nn.BatchNorm2d(3, eps=1e-3))
    with torch.no_grad():
        block[1].running_mean.uniform_(-1, 1)
        block[1].running_var.uniform_(0.5, 2)
    obj["state_dict"] = block.state_dict()
    return obj


def flatten(obj, prefix=""):
    out = {}
    if isinstance(obj, dict):
        for k, v in obj.items():
            out.update(flatten(v, f"{prefix}{k}/"))
    elif isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            out.update(flatten(v, f"{prefix}{i}/"))
    elif isinstance(obj, torch.Tensor):
        key = prefix[:-1]
        t = obj.detach()
        if t.dtype == torch.bfloat16:
            out[key + ".bf16bits"] = t.view(torch.int16).numpy().view(np.uint16).copy()
        elif t.dtype == torch.float8_e4m3fn:
            out[key + ".f8e4m3bits"] = t.view(torch.uint8).numpy().copy()
        else:
            out[key] = t.numpy().copy()
    return out


def main():
    obj = build()
    zip_path = os.path.join(HERE, "torch_fixture_zip.pth")
    legacy_path = os.path.join(HERE, "torch_fixture_legacy.pth")
    torch.save(obj, zip_path)
    torch.save(build(legacy=True), legacy_path, _use_new_zipfile_serialization=False)
    # The legacy object is the zip object minus u16/f8 (same seeds => same values).
    np.savez(os.path.join(HERE, "torch_fixture_expected.npz"), **flatten(obj))
    # Sanity: torch reads back what it wrote.
    for p in (zip_path, legacy_path):
        back = torch.load(p, weights_only=True)
        assert torch.equal(back["transposed"], obj["transposed"])
        print(p, os.path.getsize(p), "bytes")


if __name__ == "__main__":
    main()
