#!/usr/bin/env python3
"""Generate PyTorch reference fixtures for ember-core's OpInfo tests.

PyTorch is ember's numerical reference (DESIGN.md, "Correctness references"). This script runs
every op of the table below in PyTorch and stores inputs, outputs and gradients as safetensors
files under `tests/fixtures/ops/<op>.safetensors`. The Rust tests
(`crates/ember-core/tests/opinfo.rs`) read those files, so CI never needs PyTorch.

Set up the environment once, from the repository root:

    python3 -m venv .venv-torch
    .venv-torch/bin/pip install torch numpy safetensors

then regenerate every fixture (or only some ops) with

    .venv-torch/bin/python tools/gen_op_fixtures.py            # all ops
    .venv-torch/bin/python tools/gen_op_fixtures.py add matmul # only these
    .venv-torch/bin/python tools/gen_op_fixtures.py --list     # op names and case counts

File format (one file per op):

* tensors `<case>.in.<i>`: the inputs of a case, in call order;
* `<case>.out` (or `<case>.out.<j>` for ops with several outputs): PyTorch's result, contiguous;
* for differentiable float cases, `<case>.cot` (`<case>.cot.<j>`): a random cotangent, and
  `<case>.grad.<i>`: the gradient of `sum(out * cot)` with respect to input `i`, for every input
  marked differentiable;
* `__metadata__`: `{"op": name, "format": "1", "cases": JSON}` where the JSON is a list of
  `{"name", "kwargs", "diff": [bool per input], "n_out": null | int, "error": bool}`.
  `error: true` marks a bad input that PyTorch rejects (the script checks that it does); ember
  must return `Err` for it. `n_out` is the number of outputs of a multi-output op.

Inputs come from a generator seeded by the op's name, so adding or editing one op leaves the
fixtures of every other op byte-for-byte unchanged.

Adding an op is a few lines: `unary("exp", torch.exp)`, `binary("add", torch.add)`, or
`op("name", fn, cases, errors)` with a function that builds cases from a `Cases` factory.
"""

import argparse
import json
import math
import os
import struct
import sys
import warnings
import zlib

import torch
import torch.nn.functional as F
from safetensors.torch import load

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT_DIR = os.path.join(ROOT, "tests", "fixtures", "ops")

DTYPES = {
    "f32": torch.float32,
    "f64": torch.float64,
    "f16": torch.float16,
    "bf16": torch.bfloat16,
    "i64": torch.int64,
    "i32": torch.int32,
    "u8": torch.uint8,
    "bool": torch.bool,
}
FLOATS = ["f32", "f64", "f16", "bf16"]
INTS = ["i64", "i32", "u8"]
ALL = FLOATS + INTS + ["bool"]

# Value domains: (float sampler, integer range [lo, hi)). Chosen so that differentiable cases stay
# away from singularities and kinks (log at 0, tan at pi/2, relu at 0) where finite differences and
# one-sided derivatives disagree.
DOMAINS = {
    "normal": (lambda g, s: torch.randn(s, generator=g, dtype=torch.float64), (-5, 6)),
    "pos": (lambda g, s: torch.rand(s, generator=g, dtype=torch.float64) * 2.8 + 0.2, (1, 6)),
    "nonzero": (
        lambda g, s: (torch.rand(s, generator=g, dtype=torch.float64) * 1.5 + 0.5)
        * (torch.randint(0, 2, s, generator=g) * 2 - 1),
        (1, 6),
    ),
    "small": (lambda g, s: torch.rand(s, generator=g, dtype=torch.float64) * 2.4 - 1.2, (-1, 2)),
    "unit": (lambda g, s: torch.rand(s, generator=g, dtype=torch.float64) * 1.8 - 0.9, (0, 2)),
    # multiples of 0.5 in [-3, 3]: exact ties for round, equal elements for comparisons
    "ties": (lambda g, s: torch.randint(-6, 7, s, generator=g).double() / 2, (-3, 4)),
    # integers for exponents (so negative bases have real powers)
    "int": (lambda g, s: torch.randint(-3, 4, s, generator=g).double(), (0, 4)),
}

# NaN, infinities, signed zeros, ties and tiny values: for NaN propagation and edge semantics.
SPECIAL = [float("nan"), float("inf"), float("-inf"), 0.0, -0.0, 1.0, -1.0, 0.5, -2.5, 1e-3, 3.0, -40.0]


class Case:
    def __init__(self, name, inputs, kwargs, grad=True, error=False, optional=False, smooth=True):
        assert "." not in name, name
        self.name, self.inputs, self.kwargs = name, inputs, kwargs
        self.grad, self.error, self.optional, self.smooth = grad, error, optional, smooth


class Cases:
    """Builds the inputs of one op's cases from a generator seeded by the op's name."""

    def __init__(self, op_name):
        self.g = torch.Generator().manual_seed(zlib.crc32(op_name.encode()))
        self.cases = []

    def t(self, shape, dtype="f32", dom="normal"):
        """A random tensor of `shape` and `dtype` (a key of DTYPES) from domain `dom`."""
        shape = tuple(shape)
        dt = DTYPES[dtype]
        fsample, (lo, hi) = DOMAINS[dom]
        if dt == torch.bool:
            return torch.randint(0, 2, shape, generator=self.g).bool()
        if not dt.is_floating_point:
            if dt == torch.uint8:
                lo = max(lo, 0)
                hi = max(hi, lo + 2)
            v = torch.randint(lo, hi, shape, generator=self.g)
            if dom == "nonzero":
                v = v * (torch.randint(0, 2, shape, generator=self.g) * 2 - 1) if dt != torch.uint8 else v
            return v.to(dt)
        return fsample(self.g, shape).to(dt)

    def special(self, dtype="f32"):
        return torch.tensor(SPECIAL, dtype=torch.float64).to(DTYPES[dtype])

    def case(self, name, inputs, grad=True, optional=False, smooth=True, **kwargs):
        """A forward (and, for float inputs of differentiable ops, gradient) case. `optional`: skip
        it when PyTorch rejects it (dtype sweeps). `smooth=False`: some input sits on a kink or
        jump of the op (ties, integers for floor), so finite-difference checks do not apply."""
        self.cases.append(Case(name, list(inputs), kwargs, grad=grad, optional=optional, smooth=smooth))

    def error(self, name, inputs, **kwargs):
        """A bad input that PyTorch must reject (and so must ember)."""
        self.cases.append(Case(name, list(inputs), kwargs, grad=False, error=True))


class Op:
    def __init__(self, name, fn, build, differentiable=True, multi=False):
        self.name, self.fn, self.build = name, fn, build
        self.differentiable, self.multi = differentiable, multi


OPS = {}


def op(name, fn, build, differentiable=True, multi=False):
    """Declare an op: `fn(*inputs, **kwargs)` runs it in PyTorch; `build(c)` adds its cases."""
    assert name not in OPS, name
    OPS[name] = Op(name, fn, build, differentiable, multi)


# ----------------------------------------------------------------------------- case families


def unary(name, fn, dom="normal", kwargs=({},), dtypes=ALL, special=SPECIAL, kinks=None, errors=(), differentiable=True):
    """An elementwise unary op: every dtype PyTorch accepts, 3-D, 0-dim, empty, special values
    (`special`: the list to use, or None), and `kinks`: points where the op is not smooth, to
    check the one-sided gradient PyTorch picks there (once per kwargs set)."""
    smooth = dom != "ties"

    def build(c):
        for k, kw in enumerate(kwargs):
            sfx = f"_k{k}" if len(kwargs) > 1 else ""
            for dt in dtypes:
                c.case(f"{dt}{sfx}", [c.t((3, 4), dt, dom)], optional=True, smooth=smooth, **kw)
        c.case("f64_3d", [c.t((2, 3, 4), "f64", dom)], smooth=smooth, **kwargs[0])
        if not smooth:
            c.case("f64_smooth", [c.t((2, 3, 4), "f64", "normal")], **kwargs[0])
        c.case("f32_0d", [c.t((), "f32", dom)], smooth=smooth, **kwargs[0])
        c.case("f32_empty", [c.t((0, 3), "f32", dom)], **kwargs[0])
        if special:
            c.case("f32_special", [torch.tensor(special, dtype=torch.float32)], grad=False, **kwargs[0])
            c.case("f64_special", [torch.tensor(special, dtype=torch.float64)], grad=False, **kwargs[0])
        if kinks:
            for k, kw in enumerate(kwargs):
                c.case(f"f64_kinks_k{k}", [torch.tensor(kinks, dtype=torch.float64)], smooth=False, **kw)
        for e in errors:
            e(c)

    op(name, fn, build, differentiable)


def bad_dtype(dtype, **kwargs):
    return lambda c: c.error(f"bad_{dtype}", [c.t((3,), dtype)], **kwargs)


def binary(name, fn, doms=("normal", "normal"), dtypes=ALL, special=True, extra=(), errors=(), differentiable=True):
    """An elementwise binary op: dtypes, broadcasting, type promotion, 0-dim, empty, NaN/inf."""
    da, db = doms

    def build(c):
        for dt in dtypes:
            c.case(dt, [c.t((3, 4), dt, da), c.t((3, 4), dt, db)], optional=True)
        c.case("bcast_col_row", [c.t((3, 1), "f32", da), c.t((1, 4), "f32", db)])
        c.case("bcast_rank", [c.t((2, 3, 4), "f64", da), c.t((4,), "f64", db)])
        c.case("bcast_rank_rev", [c.t((3, 1), "f64", da), c.t((2, 1, 4), "f64", db)])
        c.case("scalar_tensor", [c.t((), "f32", da), c.t((3, 4), "f32", db)])
        c.case("f32_0d", [c.t((), "f32", da), c.t((), "f32", db)])
        c.case("f32_empty", [c.t((0, 4), "f32", da), c.t((4,), "f32", db)])
        for a, b in [("f32", "f64"), ("i64", "f32"), ("i32", "i64"), ("u8", "i64"), ("bool", "f32"), ("f16", "bf16"), ("i64", "f16")]:
            c.case(f"mix_{a}_{b}", [c.t((3, 4), a, da), c.t((4,), b, db)], optional=True)
        if special:
            s = c.special("f32")
            c.case("f32_special", [s, s.flip(0)], grad=False)
        for e in extra:
            e(c)
        c.error("bad_shape", [c.t((3, 4), "f32", da), c.t((5,), "f32", db)])
        for e in errors:
            e(c)

    op(name, fn, build, differentiable)


def scalar_op(name, fn, dom="normal", scalars=(2.5, -1, 3), dtypes=ALL, differentiable=True):
    """A tensor-scalar op `fn(x, other=v)` over every dtype. Scalars are Python ints or floats with
    a fractional part: ember takes an f64 and treats an integral value as an integer scalar."""

    def build(c):
        for v in scalars:
            tag = str(v).replace("-", "m").replace(".", "p")
            for dt in dtypes:
                c.case(f"{dt}_{tag}", [c.t((3, 4), dt, dom)], optional=True, other=v)
        c.case("f32_0d", [c.t((), "f32", dom)], other=scalars[0])
        c.case("f32_empty", [c.t((0, 3), "f32", dom)], other=scalars[0])
        c.case("f32_special", [c.special("f32")], grad=False, other=scalars[0])

    op(name, fn, build, differentiable)


def none_if_empty(dims):
    return None if dims is None or len(dims) == 0 else list(dims)


def reduction(name, fn, dtypes=ALL, kwsets=None, errors=(), extra=(), dom="normal", empty=True, differentiable=True):
    """A reduction over `dims` with `keepdim`: all dims, one, several, negative, 0-dim, empty."""
    kwsets = kwsets or [{}]

    def build(c):
        for k, kw in enumerate(kwsets):
            sfx = f"_k{k}" if len(kwsets) > 1 else ""
            for dt in dtypes:
                c.case(f"{dt}_all{sfx}", [c.t((2, 3, 4), dt, dom)], optional=True, dims=[], keepdim=False, **kw)
            c.case(f"f32_d1{sfx}", [c.t((2, 3, 4), "f32", dom)], dims=[1], keepdim=False, **kw)
            c.case(f"f64_dm1_keep{sfx}", [c.t((2, 3, 4), "f64", dom)], dims=[-1], keepdim=True, **kw)
            c.case(f"f64_d02{sfx}", [c.t((2, 3, 4), "f64", dom)], dims=[0, 2], keepdim=False, **kw)
            c.case(f"f32_d20_keep{sfx}", [c.t((2, 3, 4), "f32", dom)], dims=[2, 0], keepdim=True, **kw)
            for dt in dtypes:
                if dt not in ("f32", "f64"):
                    c.case(f"{dt}_d1{sfx}", [c.t((3, 5), dt, dom)], optional=True, dims=[1], keepdim=False, **kw)
            c.case(f"f32_0d{sfx}", [c.t((), "f32", dom)], dims=[], keepdim=False, **kw)
            c.case(f"f32_0d_dim0{sfx}", [c.t((), "f32", dom)], dims=[0], keepdim=True, **kw)
            if empty:
                c.case(f"f32_empty_keep{sfx}", [c.t((0, 3), "f32", dom)], dims=[1], keepdim=False, **kw)
                # optional: reductions without an identity (inf-norm) reject an empty reduced dim
                c.case(f"f32_empty_red{sfx}", [c.t((0, 3), "f32", dom)], optional=True, dims=[0], keepdim=False, **kw)
        for e in extra:
            e(c)
        c.error("bad_dim", [c.t((2, 3), "f32", dom)], dims=[2], keepdim=False, **kwsets[0])
        for e in errors:
            e(c)

    op(name, fn, build, differentiable)


def view(name, fn, kwsets, errors, shape=(2, 3, 4), dtypes=("f32", "f64", "f16", "i64", "bool"), zero_d=None, empty=None):
    """A view op: each kwargs set on a 3-D input, several dtypes, plus 0-dim / empty cases."""

    def build(c):
        for k, kw in enumerate(kwsets):
            c.case(f"f64_k{k}", [c.t(shape, "f64")], **kw)
        for dt in dtypes:
            c.case(dt, [c.t(shape, dt)], **kwsets[0])
        if zero_d is not None:
            c.case("f64_0d", [c.t((), "f64")], **zero_d)
        if empty is not None:
            sh, kw = empty
            c.case("f32_empty", [c.t(sh, "f32")], **kw)
        for e in errors:  # kwargs for the default shape, or (shape, kwargs)
            sh, kw = e if isinstance(e, tuple) else (shape, e)
            c.error(f"bad_{len(c.cases)}", [c.t(sh, "f32")], **kw)

    op(name, fn, build)


# ----------------------------------------------------------------------------- unary ops


def softplus(x, beta=1.0, threshold=20.0):
    return F.softplus(x, beta=beta, threshold=threshold)


# points where common activations have kinks (0) and where clamp's bounds sit
KINKS = [-1.0, -0.5, 0.0, 0.5, 0.7, 1.0, 2.0]
# PyTorch's vectorized f32 GELU returns NaN at +inf (f64 and the math give inf): leave inf out
SPECIAL_NO_INF = [v for v in SPECIAL if v != float("inf")]

unary("neg", torch.neg, errors=[bad_dtype("bool")])
unary("abs", torch.abs, kinks=KINKS, errors=[bad_dtype("bool")])
unary("sign", torch.sign, kinks=KINKS)
unary("exp", torch.exp)
unary("exp2", torch.exp2)
unary("log", torch.log, dom="pos")
unary("log2", torch.log2, dom="pos")
unary("log1p", torch.log1p, dom="pos")
unary("expm1", torch.expm1)
unary("sqrt", torch.sqrt, dom="pos")
unary("rsqrt", torch.rsqrt, dom="pos")
unary("square", torch.square)
unary("reciprocal", torch.reciprocal, dom="nonzero")
unary("sin", torch.sin)
unary("cos", torch.cos)
unary("tan", torch.tan, dom="small")
unary("tanh", torch.tanh)
unary("sigmoid", torch.sigmoid)
unary("relu", torch.relu, kinks=KINKS, errors=[bad_dtype("bool")])
# PyTorch's nn.functional activations reject integer tensors
unary("leaky_relu", lambda x, negative_slope: F.leaky_relu(x, negative_slope),
      kwargs=({"negative_slope": 0.01}, {"negative_slope": 0.3}), kinks=KINKS,
      errors=[bad_dtype("i64", negative_slope=0.01)])
unary("elu", lambda x, alpha: F.elu(x, alpha), kwargs=({"alpha": 1.0}, {"alpha": 0.5}), kinks=KINKS,
      errors=[bad_dtype("i64", alpha=1.0)])
unary("gelu", F.gelu, special=SPECIAL_NO_INF, errors=[bad_dtype("i64")])
unary("gelu_tanh", lambda x: F.gelu(x, approximate="tanh"), errors=[bad_dtype("i64")])
unary("silu", F.silu, errors=[bad_dtype("i64")])
unary("softplus", softplus, kwargs=({"beta": 1.0, "threshold": 20.0}, {"beta": 2.0, "threshold": 1.0}),
      kinks=[-1.0, 0.0, 0.5, 1.0, 2.0], errors=[bad_dtype("i64", beta=1.0, threshold=20.0)])
unary("erf", torch.erf)
unary("floor", torch.floor, dom="ties", errors=[bad_dtype("bool")])
unary("ceil", torch.ceil, dom="ties", errors=[bad_dtype("bool")])
unary("round", torch.round, dom="ties", errors=[bad_dtype("bool")])
# an integral float bound would make PyTorch promote integer tensors to float; ember takes f64
# bounds and keeps integer dtypes for integral ones, so integral bounds are written as ints
unary("clamp", lambda x, min=None, max=None: torch.clamp(x, min, max),
      kwargs=({"min": -0.5, "max": 0.7}, {"min": -1, "max": None}, {"min": None, "max": 2}, {"min": 0.5, "max": -0.5}),
      kinks=KINKS,
      errors=[lambda c: c.error("no_bounds", [c.t((3,))], min=None, max=None)])
unary("pow_scalar", lambda x, exponent: torch.pow(x, exponent), dom="pos",
      kwargs=({"exponent": 2}, {"exponent": 3}, {"exponent": 0.5}, {"exponent": -1.5}, {"exponent": 0}),
      errors=[lambda c: c.error("int_neg_exp", [c.t((3,), "i64", "pos")], exponent=-2)])
unary("logical_not", torch.logical_not, dom="ties", differentiable=False)
unary("isnan", torch.isnan, differentiable=False)
unary("isinf", torch.isinf, differentiable=False)
unary("isfinite", torch.isfinite, differentiable=False)

# ----------------------------------------------------------------------------- binary ops


def maximum_ties(c):
    a = c.t((3, 4), "f64", "ties")
    b = torch.where(torch.rand((3, 4), generator=c.g) < 0.5, a, c.t((3, 4), "f64", "ties"))
    c.case("f64_ties", [a, b], smooth=False)


def int_pow_exps(c):
    c.case("i64_pos_exp", [c.t((3, 4), "i64", "normal"), c.t((3, 4), "i64", "int")])


def int_div_by_zero(c):
    c.error("int_zero_divisor", [c.t((3,), "i64"), torch.zeros(3, dtype=torch.int64)])


def bool_sub(c):
    c.error("bool_bool", [c.t((3,), "bool"), c.t((3,), "bool")])


binary("add", torch.add)
binary("sub", torch.sub, errors=[bool_sub])
binary("mul", torch.mul)
binary("div", torch.div, doms=("normal", "nonzero"))
binary("rem", torch.remainder, doms=("normal", "nonzero"), errors=[int_div_by_zero])
binary("pow", torch.pow, doms=("pos", "normal"), extra=[int_pow_exps])
binary("maximum", torch.maximum, extra=[maximum_ties])
binary("minimum", torch.minimum, extra=[maximum_ties])

for _name, _fn in [("eq", torch.eq), ("ne", torch.ne), ("lt", torch.lt), ("le", torch.le), ("gt", torch.gt), ("ge", torch.ge)]:
    binary(_name, _fn, doms=("ties", "ties"), differentiable=False)
for _name, _fn in [("logical_and", torch.logical_and), ("logical_or", torch.logical_or), ("logical_xor", torch.logical_xor)]:
    binary(_name, _fn, doms=("ties", "ties"), differentiable=False)

# tensor-scalar forms: PyTorch's Python-scalar semantics (an int scalar keeps integer dtypes)
scalar_op("add_scalar", lambda x, other: x + other)
scalar_op("sub_scalar", lambda x, other: x - other, dtypes=FLOATS + INTS)
scalar_op("rsub_scalar", lambda x, other: other - x, dtypes=FLOATS + INTS)
scalar_op("mul_scalar", lambda x, other: x * other)
scalar_op("div_scalar", lambda x, other: x / other)
scalar_op("rem_scalar", lambda x, other: torch.remainder(x, other), dtypes=FLOATS + INTS)


def with_scalar(f):
    """`f(x, scalar)` for PyTorch binary ops without a scalar overload (maximum, minimum): the
    scalar becomes a 0-dim tensor of x's dtype (or the default float dtype for a float scalar
    with an integer tensor), which is how a Python scalar promotes."""

    def g(x, other):
        dt = x.dtype if x.is_floating_point() or isinstance(other, int) else torch.float32
        return f(x, torch.tensor(other, dtype=dt))

    return g


scalar_op("maximum_scalar", with_scalar(torch.maximum), dtypes=FLOATS + INTS, scalars=(2.5, -1, 3, 0.5))
scalar_op("minimum_scalar", with_scalar(torch.minimum), dtypes=FLOATS + INTS, scalars=(2.5, -1, 3, 0.5))
for _name, _fn in [("eq_scalar", torch.eq), ("ne_scalar", torch.ne), ("lt_scalar", torch.lt), ("le_scalar", torch.le),
                   ("gt_scalar", torch.gt), ("ge_scalar", torch.ge)]:
    scalar_op(_name, lambda x, other, _fn=_fn: _fn(x, other), dom="ties", scalars=(0.5, -1, 2), differentiable=False)


# ----------------------------------------------------------------------------- selection, casts


def where_cases(c):
    for dt in ALL:
        c.case(dt, [c.t((3, 4), "bool"), c.t((3, 4), dt), c.t((3, 4), dt)], optional=True)
    c.case("bcast", [c.t((3, 1), "bool"), c.t((1, 4), "f64"), c.t((2, 1, 1), "f64")])
    c.case("mix_f32_f64", [c.t((3, 4), "bool"), c.t((3, 4), "f32"), c.t((4,), "f64")])
    c.case("scalar_other", [c.t((3, 4), "bool"), c.t((3, 4), "f32"), c.t((), "f32")])
    c.case("f32_0d", [c.t((), "bool"), c.t((), "f32"), c.t((), "f32")])
    c.case("f32_empty", [c.t((0, 4), "bool"), c.t((0, 4), "f32"), c.t((4,), "f32")])
    c.error("cond_not_bool", [c.t((3,), "i64"), c.t((3,)), c.t((3,))])
    c.error("bad_shape", [c.t((3,), "bool"), c.t((3,)), c.t((4,))])


op("where", lambda cond, a, b: torch.where(cond, a, b), where_cases)


def masked_fill_cases(c):
    for dt in ALL:
        c.case(dt, [c.t((3, 4), dt), c.t((3, 4), "bool")], optional=True, value=1 if dt in INTS + ["bool"] else -2.5)
    c.case("bcast_mask", [c.t((2, 3, 4), "f64"), c.t((3, 1), "bool")], value=0.75)
    c.case("mask_bigger", [c.t((3,), "f64"), c.t((2, 3), "bool")], value=0.75)
    c.case("inf_value", [c.t((3, 4), "f32"), c.t((3, 4), "bool")], value=float("-inf"))
    c.case("f32_0d", [c.t((), "f32"), c.t((), "bool")], value=3.0)
    c.case("f32_empty", [c.t((0, 4), "f32"), c.t((0, 4), "bool")], value=3.0)
    c.error("mask_not_bool", [c.t((3,)), c.t((3,), "i64")], value=1.0)
    c.error("mask_bad_shape", [c.t((3,)), c.t((4,), "bool")], value=1.0)


op("masked_fill", lambda x, mask, value: x.masked_fill(mask, value), masked_fill_cases)


def to_dtype_cases(c):
    for src in ALL:
        for dst in ALL:
            if src == dst:
                continue
            # negative floats to u8 are undefined behaviour in C++ (PyTorch wraps, ember saturates)
            dom = "pos" if dst == "u8" and src in FLOATS else "ties"
            c.case(f"{src}_to_{dst}", [c.t((3, 4), src, dom)], dtype=dst)
    c.case("f32_big_to_f16", [c.t((3, 4), "f32") * 3e4], dtype="f16")
    c.case("f64_to_bf16_rounding", [c.t((3, 4), "f64")], dtype="bf16")
    c.case("f64_to_f64", [c.t((3, 4), "f64")], dtype="f64")
    c.case("u8_wraps", [torch.tensor([-1.5, -300.0, 300.0, 255.9])], grad=False, dtype="u8")
    c.case("i64_to_u8_wraps", [torch.tensor([-1, 256, 511, -255])], dtype="u8")
    c.case("f32_0d", [c.t((), "f32")], dtype="f64")
    c.case("f32_empty", [c.t((0, 4), "f32")], dtype="i64")
    c.case("special_to_f16", [c.special("f32")], grad=False, dtype="f16")
    c.case("special_to_bool", [c.special("f64")], grad=False, dtype="bool")


op("to_dtype", lambda x, dtype: x.to(DTYPES[dtype]), to_dtype_cases)

# ----------------------------------------------------------------------------- reductions

red = lambda f: (lambda x, dims, keepdim, **kw: f(x, dim=none_if_empty(dims), keepdim=keepdim, **kw))

reduction("sum", red(torch.sum))
reduction("mean", red(torch.mean), dtypes=FLOATS, errors=[bad_dtype("i64", dims=[], keepdim=False)])


def ties(c):  # equal extremes share the gradient
    c.case("f64_ties", [c.t((3, 4), "f64", "ties")], smooth=False, dims=[1], keepdim=False)
    c.case("f64_ties_all", [torch.tensor([[1.0, 3.0], [3.0, 3.0]], dtype=torch.float64)], smooth=False, dims=[], keepdim=False)


reduction("amax", red(torch.amax), empty=False, extra=[ties],
          errors=[lambda c: c.error("empty_dim", [c.t((0, 3))], dims=[0], keepdim=False)])
reduction("amin", red(torch.amin), empty=False, extra=[ties],
          errors=[lambda c: c.error("empty_dim", [c.t((0, 3))], dims=[0], keepdim=False)])
reduction("all", red(torch.all), dom="ties", differentiable=False)
reduction("any", red(torch.any), dom="ties", differentiable=False)
reduction("var", red(torch.var), dtypes=FLOATS, kwsets=[{"correction": 1}, {"correction": 0}, {"correction": 2}],
          errors=[bad_dtype("i64", dims=[], keepdim=False, correction=1)])
def constant_rows(c):  # std == 0: PyTorch defines the gradient as 0 there
    c.case("f64_constant", [torch.tensor([[2.0, 2.0, 2.0], [1.0, 2.0, 4.0]], dtype=torch.float64)], smooth=False,
           dims=[1], keepdim=False, correction=1)


reduction("std", red(torch.std), dtypes=FLOATS, kwsets=[{"correction": 1}, {"correction": 0}], extra=[constant_rows],
          errors=[bad_dtype("i64", dims=[], keepdim=False, correction=1)])
reduction("logsumexp", lambda x, dims, keepdim: torch.logsumexp(x, dim=list(dims) or list(range(x.dim())), keepdim=keepdim),
          dtypes=FLOATS)
reduction("norm", lambda x, dims, keepdim, p: torch.linalg.vector_norm(x, p, dim=none_if_empty(dims), keepdim=keepdim),
          dtypes=FLOATS, kwsets=[{"p": 2}, {"p": 1}, {"p": float("inf")}, {"p": 3}], dom="nonzero",
          errors=[bad_dtype("i64", dims=[], keepdim=False, p=2)])


def prod_cases(c):
    for dt in ALL:
        c.case(f"{dt}_all", [c.t((2, 3), dt, "small" if dt in FLOATS else "normal")], optional=True, dim=None, keepdim=False)
    c.case("f64_d1", [c.t((2, 3, 4), "f64")], dim=1, keepdim=False)
    c.case("f32_dm1_keep", [c.t((2, 3, 4), "f32")], dim=-1, keepdim=True)
    z = c.t((3, 4), "f64")
    z[0, 1] = 0.0  # one zero in a row
    z[1, 0] = 0.0  # two zeros in a row
    z[1, 2] = 0.0
    c.case("f64_zeros", [z], dim=1, keepdim=False)
    c.case("f32_0d", [c.t((), "f32")], dim=None, keepdim=False)
    c.case("f32_empty", [c.t((0, 3), "f32")], dim=0, keepdim=False)
    c.error("bad_dim", [c.t((2, 3))], dim=2, keepdim=False)


op("prod", lambda x, dim, keepdim: torch.prod(x) if dim is None else torch.prod(x, dim, keepdim=keepdim), prod_cases)

# ----------------------------------------------------------------------------- matrix products


def matmul(a, b, ta=False, tb=False):
    return (a.mT if ta else a) @ (b.mT if tb else b)


def matmul_cases(c):
    for dt in FLOATS + ["i64", "i32"]:
        c.case(f"{dt}_2d", [c.t((3, 4), dt), c.t((4, 5), dt)], optional=True)
    c.case("1d_1d", [c.t((4,), "f64"), c.t((4,), "f64")])
    c.case("2d_1d", [c.t((3, 4), "f64"), c.t((4,), "f64")])
    c.case("1d_2d", [c.t((4,), "f64"), c.t((4, 5), "f64")])
    c.case("1d_3d", [c.t((4,), "f32"), c.t((2, 4, 5), "f32")])
    c.case("3d_1d", [c.t((2, 3, 4), "f32"), c.t((4,), "f32")])
    c.case("batched", [c.t((2, 3, 4), "f64"), c.t((2, 4, 5), "f64")])
    c.case("bcast_batch", [c.t((2, 1, 3, 4), "f64"), c.t((3, 4, 2), "f64")])
    c.case("bcast_2d_3d", [c.t((3, 4), "f32"), c.t((2, 4, 5), "f32")])
    c.case("trans_a", [c.t((4, 3), "f64"), c.t((4, 5), "f64")], ta=True)
    c.case("trans_b", [c.t((3, 4), "f64"), c.t((5, 4), "f64")], tb=True)
    c.case("trans_ab_batched", [c.t((2, 4, 3), "f32"), c.t((2, 5, 4), "f32")], ta=True, tb=True)
    c.case("empty_m", [c.t((0, 3), "f32"), c.t((3, 4), "f32")])
    c.case("empty_k", [c.t((3, 0), "f32"), c.t((0, 4), "f32")])
    c.error("inner_mismatch", [c.t((3, 4)), c.t((5, 2))])
    c.error("zero_dim", [c.t(()), c.t((3,))])
    c.error("dtype_mismatch", [c.t((3, 4), "f32"), c.t((4, 2), "f64")])
    c.error("bool", [c.t((3, 4), "bool"), c.t((4, 2), "bool")])


op("matmul", matmul, matmul_cases)


def mm_cases(c):
    for dt in FLOATS:
        c.case(dt, [c.t((3, 4), dt), c.t((4, 5), dt)])
    c.case("empty", [c.t((0, 4)), c.t((4, 2))])
    c.error("three_d", [c.t((2, 3, 4)), c.t((4, 5))])
    c.error("inner_mismatch", [c.t((3, 4)), c.t((3, 4))])


op("mm", torch.mm, mm_cases)


def bmm_cases(c):
    for dt in FLOATS:
        c.case(dt, [c.t((2, 3, 4), dt), c.t((2, 4, 5), dt)])
    c.case("empty_batch", [c.t((0, 3, 4)), c.t((0, 4, 5))])
    c.error("batch_mismatch", [c.t((2, 3, 4)), c.t((3, 4, 5))])
    c.error("two_d", [c.t((3, 4)), c.t((4, 5))])


op("bmm", torch.bmm, bmm_cases)


def outer_cases(c):
    for dt in FLOATS + INTS:
        c.case(dt, [c.t((3,), dt), c.t((4,), dt)], optional=True)
    c.case("mix_i64_f32", [c.t((3,), "i64"), c.t((4,), "f32")])
    c.case("empty", [c.t((0,)), c.t((4,))])
    c.error("two_d", [c.t((3, 1)), c.t((4,))])


op("outer", torch.outer, outer_cases)

# ----------------------------------------------------------------------------- views


def slice_fn(x, dim, start, end, step):
    idx = [slice(None)] * x.dim()
    idx[dim] = slice(start, end, step)
    return x[tuple(idx)]


view("reshape", lambda x, shape: x.reshape(shape),
     [{"shape": [4, -1]}, {"shape": [24]}, {"shape": [2, 12, 1]}, {"shape": [-1, 3, 2]}],
     [{"shape": [5, 5]}, {"shape": [-1, -1]}, ((0, 3), {"shape": [3, 0, -1]})], zero_d={"shape": [1, 1]},
     empty=((0, 3), {"shape": [3, 0, 2]}))
view("permute", lambda x, dims: x.permute(dims), [{"dims": [2, 0, 1]}, {"dims": [-1, 0, 1]}, {"dims": [0, 1, 2]}],
     [{"dims": [0, 1]}, {"dims": [0, 0, 1]}], zero_d={"dims": []}, empty=((0, 3), {"dims": [1, 0]}))
view("transpose", lambda x, dim0, dim1: x.transpose(dim0, dim1),
     [{"dim0": 0, "dim1": 2}, {"dim0": -1, "dim1": -2}, {"dim0": 1, "dim1": 1}],
     [{"dim0": 0, "dim1": 3}], zero_d={"dim0": 0, "dim1": -1}, empty=((0, 3), {"dim0": 0, "dim1": 1}))
view("narrow", lambda x, dim, start, length: x.narrow(dim, start, length),
     [{"dim": 1, "start": 1, "length": 2}, {"dim": -1, "start": 0, "length": 4}, {"dim": 2, "start": 3, "length": 0}],
     [{"dim": 1, "start": 2, "length": 2}, {"dim": 3, "start": 0, "length": 1}],
     empty=((0, 3), {"dim": 1, "start": 1, "length": 1}))
view("slice", slice_fn,
     [{"dim": 2, "start": 0, "end": None, "step": 2}, {"dim": 1, "start": -2, "end": None, "step": 1},
      {"dim": 2, "start": 1, "end": 100, "step": 3}, {"dim": 0, "start": 1, "end": 1, "step": 1},
      {"dim": -1, "start": -3, "end": -1, "step": 1}],
     [{"dim": 3, "start": 0, "end": None, "step": 1}])
view("select", lambda x, dim, index: x.select(dim, index),
     [{"dim": 1, "index": 2}, {"dim": -1, "index": -1}, {"dim": 0, "index": 0}],
     [{"dim": 1, "index": 3}, {"dim": 1, "index": -4}, {"dim": 3, "index": 0}])
view("expand", lambda x, shape: x.expand(shape), [{"shape": [2, 3, 4]}, {"shape": [5, 2, 3, 4]}, {"shape": [-1, 3, -1]}],
     [{"shape": [2, 3, 5]}, {"shape": [3, 4]}], shape=(2, 1, 4), zero_d={"shape": [3, 2]},
     empty=((0, 1), {"shape": [0, 4]}))
view("squeeze", lambda x, dim: x.squeeze() if dim is None else x.squeeze(dim),
     [{"dim": 1}, {"dim": None}, {"dim": 0}, {"dim": -1}], [{"dim": 4}], shape=(2, 1, 3, 1),
     zero_d={"dim": 0}, empty=((0, 1), {"dim": 1}))
view("unsqueeze", lambda x, dim: x.unsqueeze(dim), [{"dim": 0}, {"dim": 3}, {"dim": -1}, {"dim": -4}],
     [{"dim": 4}, {"dim": -5}], zero_d={"dim": 0}, empty=((0, 3), {"dim": 1}))
view("flatten", lambda x, start, end: x.flatten(start, end),
     [{"start": 0, "end": -1}, {"start": 1, "end": 2}, {"start": 0, "end": 1}, {"start": 1, "end": 1}],
     [{"start": 2, "end": 1}, {"start": 0, "end": 3}], zero_d={"start": 0, "end": -1}, empty=((2, 0, 3), {"start": 0, "end": 1}))
view("unflatten", lambda x, dim, sizes: x.unflatten(dim, sizes),
     [{"dim": 2, "sizes": [2, 2]}, {"dim": -1, "sizes": [-1, 1]}, {"dim": 1, "sizes": [3, 1]}],
     [{"dim": 2, "sizes": [3, 2]}, {"dim": 3, "sizes": [1]}])

# ----------------------------------------------------------------------------- joining and splitting


def cat_cases(c):
    for dt in ALL:
        c.case(dt, [c.t((2, 3), dt), c.t((2, 1), dt), c.t((2, 2), dt)], optional=True, dim=1)
    c.case("dim0", [c.t((2, 3, 4), "f64"), c.t((1, 3, 4), "f64")], dim=0)
    c.case("dim_neg", [c.t((2, 3, 4), "f64"), c.t((2, 3, 2), "f64")], dim=-1)
    c.case("mix_i64_f32", [c.t((2, 3), "i64"), c.t((2, 3), "f32")], dim=0)
    c.case("mix_f32_f64", [c.t((2, 3), "f32"), c.t((1, 3), "f64")], dim=0)
    c.case("one", [c.t((2, 3), "f64")], dim=0)
    c.case("with_empty", [c.t((2, 0, 4), "f32"), c.t((2, 3, 4), "f32")], dim=1)
    c.error("shape_mismatch", [c.t((2, 3)), c.t((3, 3))], dim=1)
    c.error("rank_mismatch", [c.t((2, 3)), c.t((2, 3, 1))], dim=0)
    c.error("bad_dim", [c.t((2, 3)), c.t((2, 3))], dim=2)
    c.error("no_inputs", [], dim=0)


op("cat", lambda *xs, dim: torch.cat(list(xs), dim), cat_cases)


def stack_cases(c):
    for dt in ALL:
        c.case(dt, [c.t((2, 3), dt), c.t((2, 3), dt)], optional=True, dim=0)
    c.case("dim_mid", [c.t((2, 3), "f64"), c.t((2, 3), "f64"), c.t((2, 3), "f64")], dim=1)
    c.case("dim_last", [c.t((2, 3), "f64"), c.t((2, 3), "f64")], dim=-1)
    c.case("mix_i64_f32", [c.t((2, 3), "i64"), c.t((2, 3), "f32")], dim=0)
    c.case("f32_0d", [c.t((), "f32"), c.t((), "f32")], dim=0)
    c.case("f32_empty", [c.t((0, 3), "f32"), c.t((0, 3), "f32")], dim=1)
    c.error("shape_mismatch", [c.t((2, 3)), c.t((3, 2))], dim=0)
    c.error("bad_dim", [c.t((2, 3)), c.t((2, 3))], dim=3)
    c.error("no_inputs", [], dim=0)


op("stack", lambda *xs, dim: torch.stack(list(xs), dim), stack_cases)


def split_cases(c):
    c.case("f32_size2", [c.t((5, 3), "f32")], size=2, dim=0)
    c.case("f64_size_last", [c.t((2, 3, 7), "f64")], size=3, dim=-1)
    c.case("f64_sizes", [c.t((2, 6), "f64")], size=[1, 3, 2], dim=1)
    c.case("i64_size1", [c.t((3, 2), "i64")], size=1, dim=0)
    c.case("bool_even", [c.t((4, 2), "bool")], size=2, dim=0)
    c.case("f32_bigger", [c.t((3, 2), "f32")], size=5, dim=0)
    c.error("bad_dim", [c.t((3, 2))], size=1, dim=2)
    c.error("zero_size", [c.t((3, 2))], size=0, dim=0)
    c.error("sizes_sum", [c.t((3, 2))], size=[1, 1], dim=0)


op("split", lambda x, size, dim: torch.split(x, size, dim), split_cases, multi=True)


def chunk_cases(c):
    c.case("f32_even", [c.t((6, 2), "f32")], chunks=3, dim=0)
    c.case("f64_uneven", [c.t((2, 7), "f64")], chunks=3, dim=1)
    c.case("f64_fewer", [c.t((2, 6), "f64")], chunks=4, dim=-1)
    c.case("f64_more_than_size", [c.t((2, 2), "f64")], chunks=5, dim=0)
    c.case("i64", [c.t((5,), "i64")], chunks=2, dim=0)
    c.error("zero_chunks", [c.t((3, 2))], chunks=0, dim=0)
    c.error("bad_dim", [c.t((3, 2))], chunks=2, dim=-3)


op("chunk", lambda x, chunks, dim: torch.chunk(x, chunks, dim), chunk_cases, multi=True)

# ----------------------------------------------------------------------------- running


def contiguous_copy(t):
    return t.detach().contiguous().clone()


def run_op(o):
    """Run every case of `o`; returns (tensors, case metadata, skipped optional cases)."""
    c = Cases(o.name)
    o.build(c)
    tensors, meta, skipped = {}, [], []
    names = set()
    for case in c.cases:
        assert case.name not in names, f"{o.name}: duplicate case {case.name}"
        names.add(case.name)
        if case.error:
            try:
                o.fn(*case.inputs, **case.kwargs)
            except Exception:
                pass
            else:
                raise AssertionError(f"{o.name}/{case.name}: PyTorch accepted an input listed as an error case")
            for i, t in enumerate(case.inputs):
                tensors[f"{case.name}.in.{i}"] = contiguous_copy(t)
            meta.append({"name": case.name, "kwargs": case.kwargs, "diff": [False] * len(case.inputs), "n_out": None,
                         "error": True, "smooth": False})
            continue
        diff = [o.differentiable and case.grad and t.is_floating_point() for t in case.inputs]
        leaves = [t.detach().clone().requires_grad_(d) for t, d in zip(case.inputs, diff)]
        try:
            out = o.fn(*leaves, **case.kwargs)
        except Exception as e:
            if case.optional:
                skipped.append(f"{case.name} ({str(e).splitlines()[0][:70]})")
                continue
            raise RuntimeError(f"{o.name}/{case.name}: {e}") from e
        outs = list(out) if o.multi else [out]
        for j, t in enumerate(outs):
            tensors[f"{case.name}.out" + (f".{j}" if o.multi else "")] = contiguous_copy(t)
        if not any(t.requires_grad for t in outs):
            diff = [False] * len(diff)
        if any(diff):
            cots = [torch.randn(t.shape, generator=c.g, dtype=torch.float64).to(t.dtype) for t in outs]
            wrt = [x for x, d in zip(leaves, diff) if d]
            grads = torch.autograd.grad(outs, wrt, cots, allow_unused=True)
            for j, t in enumerate(cots):
                tensors[f"{case.name}.cot" + (f".{j}" if o.multi else "")] = contiguous_copy(t)
            k = 0
            for i, d in enumerate(diff):
                if d:
                    g = grads[k] if grads[k] is not None else torch.zeros_like(leaves[i])
                    tensors[f"{case.name}.grad.{i}"] = contiguous_copy(g)
                    k += 1
        for i, t in enumerate(case.inputs):
            tensors[f"{case.name}.in.{i}"] = contiguous_copy(t)
        meta.append({"name": case.name, "kwargs": case.kwargs, "diff": diff, "n_out": len(outs) if o.multi else None,
                     "error": False, "smooth": case.smooth})
    return tensors, meta, skipped


def json_safe(v):
    """JSON has no NaN/inf: encode non-finite floats as the strings "nan", "inf", "-inf"."""
    if isinstance(v, float) and not math.isfinite(v):
        return "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf")
    if isinstance(v, dict):
        return {k: json_safe(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [json_safe(x) for x in v]
    return v


ST_DTYPES = {
    torch.float32: "F32",
    torch.float64: "F64",
    torch.float16: "F16",
    torch.bfloat16: "BF16",
    torch.int64: "I64",
    torch.int32: "I32",
    torch.uint8: "U8",
    torch.bool: "BOOL",
}


def tensor_bytes(t):
    t = t.contiguous()
    if t.dtype in (torch.float16, torch.bfloat16):
        t = t.view(torch.int16)
    elif t.dtype == torch.bool:
        t = t.to(torch.uint8)
    return t.numpy().astype(t.numpy().dtype.newbyteorder("<")).tobytes()


def safetensors_bytes(tensors, metadata):
    """Serialize like `safetensors.torch.save`, but byte-for-byte reproducible: the official writer
    keeps `__metadata__` in a hash map whose order changes from run to run."""
    header, chunks, offset = {"__metadata__": metadata}, [], 0
    for name in sorted(tensors):
        t = tensors[name]
        data = tensor_bytes(t)
        header[name] = {"dtype": ST_DTYPES[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        chunks.append(data)
        offset += len(data)
    h = json.dumps(header, separators=(",", ":"), sort_keys=True).encode()
    h += b" " * (-len(h) % 8)
    return struct.pack("<Q", len(h)) + h + b"".join(chunks)


def write_op(o):
    tensors, meta, skipped = run_op(o)
    path = os.path.join(OUT_DIR, f"{o.name}.safetensors")
    header = {"op": o.name, "format": "1", "cases": json.dumps(json_safe(meta), allow_nan=False)}
    data = safetensors_bytes(tensors, header)
    with open(path, "wb") as f:
        f.write(data)
    # the official reader must accept the file and see the same tensors
    back = load(data)
    same = lambda a, b: a.dtype == b.dtype and a.shape == b.shape and tensor_bytes(a) == tensor_bytes(b)
    assert sorted(back) == sorted(tensors) and all(same(back[k], tensors[k]) for k in tensors), path
    return len(meta), len(data), skipped


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("ops", nargs="*", help="op names to regenerate (default: all)")
    ap.add_argument("--list", action="store_true", help="list op names and exit")
    ap.add_argument("--verbose", action="store_true", help="list dtypes PyTorch rejects, per op")
    args = ap.parse_args()
    if args.list:
        for name in OPS:
            print(name)
        return
    unknown = [n for n in args.ops if n not in OPS]
    if unknown:
        sys.exit(f"unknown ops: {unknown}")
    warnings.filterwarnings("ignore")  # var/std with correction >= n warn; the nan/inf results are the point
    torch.set_num_threads(1)  # results independent of the machine's core count
    os.makedirs(OUT_DIR, exist_ok=True)
    if not args.ops:
        # a full run owns the directory: drop files of ops that no longer exist
        for f in os.listdir(OUT_DIR):
            if f.endswith(".safetensors") and f[: -len(".safetensors")] not in OPS:
                os.remove(os.path.join(OUT_DIR, f))
    total = 0
    for name in args.ops or OPS:
        n, size, skipped = write_op(OPS[name])
        total += size
        print(f"{name:16} {n:4} cases {size / 1024:8.1f} KiB" + (f"  ({len(skipped)} dtype cases PyTorch rejects)" if skipped else ""))
        if args.verbose:
            for s in skipped:
                print(f"    skipped {s}")
    print(f"total {total / 1024 / 1024:.2f} MiB")


if __name__ == "__main__":
    main()
