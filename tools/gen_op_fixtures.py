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

    def idx(self, shape, hi, dtype="i64", lo=0):
        """Random indices in [lo, hi) (duplicates likely)."""
        return torch.randint(lo, hi, tuple(shape), generator=self.g).to(DTYPES[dtype])

    def perm_idx(self, shape, dim, n):
        """Indices along `dim` with no duplicates within each line: each line of `dim` is a
        prefix of a random permutation of range(n) (for scatter, where duplicate writes race)."""
        shape = list(shape)
        lines = torch.argsort(torch.rand(shape[:dim] + [n] + shape[dim + 1 :], generator=self.g), dim=dim)
        return lines.narrow(dim, 0, shape[dim]).contiguous()

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


def dot_cases(c):
    for dt in FLOATS + ["i64"]:
        c.case(dt, [c.t((5,), dt), c.t((5,), dt)], optional=True)
    c.case("empty", [c.t((0,), "f64"), c.t((0,), "f64")])
    c.error("two_d", [c.t((2, 3)), c.t((3,))])
    c.error("length_mismatch", [c.t((3,)), c.t((4,))])
    c.error("dtype_mismatch", [c.t((3,), "f32"), c.t((3,), "f64")])


op("dot", torch.dot, dot_cases)

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

# ----------------------------------------------------------------------------- index ops


def index_select_cases(c):
    for dt in ALL:
        c.case(dt, [c.t((4, 3), dt), c.idx((5,), 4)], optional=True, dim=0)
    c.case("dim1_dups", [c.t((2, 5, 3), "f64"), c.idx((7,), 5)], dim=1)
    c.case("dim_neg_i32_index", [c.t((2, 3, 4), "f64"), c.idx((3,), 4, "i32")], dim=-1)
    c.case("index_0d", [c.t((4, 3), "f64"), torch.tensor(2)], dim=0)
    c.case("empty_index", [c.t((4, 3), "f32"), c.idx((0,), 4)], dim=1)
    c.error("out_of_range", [c.t((4, 3)), torch.tensor([0, 4])], dim=0)
    c.error("float_index", [c.t((4, 3)), torch.tensor([0.0, 1.0])], dim=0)
    c.error("index_2d", [c.t((4, 3)), c.idx((2, 2), 3)], dim=0)
    c.error("bad_dim", [c.t((4, 3)), c.idx((2,), 3)], dim=2)


op("index_select", lambda x, index, dim: torch.index_select(x, dim, index), index_select_cases)


def gather_cases(c):
    for dt in ALL:
        c.case(dt, [c.t((3, 4), dt), c.idx((3, 5), 4)], optional=True, dim=1)
    c.case("dim0", [c.t((3, 4), "f64"), c.idx((2, 4), 3)], dim=0)
    c.case("smaller_index", [c.t((3, 4, 2), "f64"), c.idx((2, 3, 1), 3)], dim=-2)
    c.case("f32_empty", [c.t((3, 4), "f32"), c.idx((3, 0), 4)], dim=1)
    c.error("out_of_range", [c.t((3, 4)), torch.tensor([[0], [4], [1]])], dim=1)
    c.error("rank_mismatch", [c.t((3, 4)), c.idx((3,), 4)], dim=1)
    c.error("float_index", [c.t((3, 4)), torch.zeros(3, 1)], dim=1)


op("gather", lambda x, index, dim: torch.gather(x, dim, index), gather_cases)


def scatter_cases(c, add):
    for dt in ALL:
        idx = c.idx((3, 5), 4) if add else c.perm_idx((3, 3), 1, 4)
        c.case(dt, [c.t((3, 4), dt), idx, c.t(idx.shape, dt)], optional=True, dim=1)
    idx = c.idx((2, 4), 3) if add else c.perm_idx((2, 4), 0, 3)
    c.case("dim0", [c.t((3, 4), "f64"), idx, c.t((2, 4), "f64")], dim=0)
    idx = c.idx((2, 2), 5) if add else c.perm_idx((2, 2), 1, 5)
    # forward only: PyTorch's own scatter(_add) backward fails when src is larger than index
    c.case("src_larger", [c.t((3, 5), "f64"), idx, c.t((3, 4), "f64")], grad=False, dim=-1)
    c.case("f32_empty", [c.t((3, 4), "f32"), c.idx((3, 0), 4), c.t((3, 0), "f32")], dim=1)
    c.error("out_of_range", [c.t((3, 4)), torch.tensor([[0], [4], [1]]), c.t((3, 1))], dim=1)
    c.error("rank_mismatch", [c.t((3, 4)), c.idx((3,), 4), c.t((3,))], dim=1)
    c.error("index_larger_than_src", [c.t((3, 4)), c.idx((3, 3), 4), c.t((3, 2))], dim=1)


op("scatter", lambda x, index, src, dim: torch.scatter(x, dim, index, src), lambda c: scatter_cases(c, False))
op("scatter_add", lambda x, index, src, dim: torch.scatter_add(x, dim, index, src), lambda c: scatter_cases(c, True))


def index_add_cases(c):
    for dt in FLOATS + INTS:
        c.case(dt, [c.t((4, 3), dt), c.idx((5,), 4), c.t((5, 3), dt)], optional=True, dim=0)
    c.case("dim1", [c.t((2, 4, 3), "f64"), c.idx((6,), 4), c.t((2, 6, 3), "f64")], dim=1)
    c.case("dim_neg", [c.t((2, 4), "f64"), c.idx((3,), 4, "i32"), c.t((2, 3), "f64")], dim=-1)
    c.case("empty_index", [c.t((4, 3), "f32"), c.idx((0,), 4), c.t((0, 3), "f32")], dim=0)
    c.error("out_of_range", [c.t((4, 3)), torch.tensor([4]), c.t((1, 3))], dim=0)
    c.error("source_shape", [c.t((4, 3)), c.idx((2,), 4), c.t((3, 3))], dim=0)


op("index_add", lambda x, index, source, dim: torch.index_add(x, dim, index, source), index_add_cases)


def masked_select_cases(c):
    for dt in ALL:
        c.case(dt, [c.t((3, 4), dt), c.t((3, 4), "bool")], optional=True)
    c.case("bcast_mask", [c.t((2, 3, 4), "f64"), c.t((3, 1), "bool")])
    c.case("mask_bigger", [c.t((4,), "f64"), c.t((2, 4), "bool")])
    c.case("all_false", [c.t((3, 4), "f32"), torch.zeros(3, 4, dtype=torch.bool)])
    c.case("f32_0d", [c.t((), "f32"), torch.tensor(True)])
    c.error("mask_not_bool", [c.t((3,)), c.idx((3,), 2)])
    c.error("bad_shape", [c.t((3,)), c.t((4,), "bool")])


op("masked_select", torch.masked_select, masked_select_cases)


def masked_scatter_cases(c):
    for dt in FLOATS + INTS:
        c.case(dt, [c.t((3, 4), dt), c.t((3, 4), "bool"), c.t((14,), dt)], optional=True)
    c.case("bcast_mask", [c.t((2, 3), "f64"), c.t((3,), "bool"), c.t((2, 4), "f64")])
    c.error("source_too_small", [c.t((3,)), torch.ones(3, dtype=torch.bool), c.t((2,))])
    c.error("mask_not_bool", [c.t((3,)), c.idx((3,), 2), c.t((3,))])


op("masked_scatter", lambda x, mask, source: x.masked_scatter(mask, source), masked_scatter_cases)


def one_hot_cases(c):
    c.case("i64", [c.idx((5,), 4)], num_classes=4)
    c.case("i64_2d_infer", [torch.tensor([[0, 3], [2, 1]])], num_classes=-1)
    c.case("i64_0d", [torch.tensor(2)], num_classes=3)
    c.case("empty", [c.idx((0,), 3)], num_classes=3)
    c.error("out_of_range", [torch.tensor([0, 3])], num_classes=3)
    c.error("negative", [torch.tensor([0, -1])], num_classes=3)
    c.error("float", [torch.tensor([0.0, 1.0])], num_classes=3)


op("one_hot", lambda x, num_classes: F.one_hot(x, num_classes), one_hot_cases, differentiable=False)


def embedding_cases(c):
    for dt in FLOATS:
        c.case(dt, [c.t((5, 3), dt), c.idx((4,), 5)], optional=True, padding_idx=None)
    c.case("idx_2d_dups", [c.t((5, 3), "f64"), c.idx((2, 3), 5)], padding_idx=None)
    c.case("idx_i32", [c.t((5, 3), "f64"), c.idx((4,), 5, "i32")], padding_idx=None)
    # the padding row gets no gradient by design: not the derivative, so no finite differences
    c.case("padding_idx", [c.t((5, 3), "f64"), torch.tensor([[0, 2, 2], [4, 2, 1]])], smooth=False, padding_idx=2)
    c.case("padding_idx_neg", [c.t((5, 3), "f64"), torch.tensor([0, 4, 4, 1])], smooth=False, padding_idx=-1)
    c.case("empty", [c.t((5, 3), "f32"), c.idx((0,), 5)], padding_idx=None)
    c.error("out_of_range", [c.t((5, 3)), torch.tensor([5])], padding_idx=None)
    c.error("weight_1d", [c.t((5,)), torch.tensor([1])], padding_idx=None)
    c.error("float_index", [c.t((5, 3)), torch.tensor([1.0])], padding_idx=None)


op("embedding", lambda w, idx, padding_idx: F.embedding(idx, w, padding_idx=padding_idx), embedding_cases)


def nonzero_cases(c):
    for dt in ALL:
        c.case(dt, [c.t((3, 4), dt, "ties")], optional=True)
    c.case("3d", [c.t((2, 3, 2), "bool")])
    c.case("0d_true", [torch.tensor(1.5)])
    c.case("0d_false", [torch.tensor(0)])
    c.case("empty", [c.t((0, 3), "f32")])


op("nonzero", torch.nonzero, nonzero_cases, differentiable=False)


def index_cases(c):
    for dt in ALL:
        c.case(dt, [c.t((4, 3), dt), c.idx((2, 2), 4)], optional=True)
    c.case("negative", [c.t((4, 3), "f64"), torch.tensor([-1, 0, -4, 2])])
    c.case("dups_3d", [c.t((3, 2, 2), "f64"), torch.tensor([2, 2, 0])])
    c.case("bool_mask", [c.t((3, 4, 2), "f64"), c.t((3, 4), "bool")])
    c.case("bool_mask_1d", [c.t((4, 3), "f64"), torch.tensor([True, False, False, True])])
    c.error("out_of_range", [c.t((4, 3)), torch.tensor([4])])
    c.error("mask_shape", [c.t((4, 3)), c.t((3,), "bool")])
    c.error("float_index", [c.t((4, 3)), torch.tensor([1.0])])


op("index", lambda x, idx: x[idx], index_cases)


def index_dim_cases(c):
    c.case("f64_dim1", [c.t((2, 4, 3), "f64"), c.idx((2, 3), 4)], dim=1)
    c.case("i64_neg_dim", [c.t((2, 4), "i64"), torch.tensor([-1, 0])], dim=-1)
    c.case("bool_mask", [c.t((2, 4, 3), "f64"), torch.tensor([True, False, True, True])], dim=1)
    c.error("out_of_range", [c.t((2, 4)), torch.tensor([4])], dim=1)
    c.error("mask_len", [c.t((2, 4)), torch.tensor([True, False])], dim=1)


def index_dim_fn(x, idx, dim):
    pos = [slice(None)] * (dim % x.dim())
    return x[tuple(pos + [idx])]


op("index_dim", index_dim_fn, index_dim_cases)

# ----------------------------------------------------------------------------- shape ops


def pad_cases(c):
    for dt in ALL:
        c.case(dt, [c.t((2, 3), dt)], optional=True, pads=[1, 2], mode="constant", value=0)
    c.case("value_2d", [c.t((2, 3, 4), "f64")], pads=[1, 0, 2, 1], mode="constant", value=-1.5)
    c.case("crop", [c.t((2, 3, 4), "f64")], pads=[-1, 2, 0, -2], mode="constant", value=0)
    c.case("three_dims", [c.t((2, 3, 4), "f64")], pads=[1, 1, 0, 1, 2, 0], mode="constant", value=0.5)
    for mode in ("reflect", "replicate", "circular"):
        c.case(f"{mode}_1d", [c.t((2, 3, 5), "f64")], pads=[2, 1], mode=mode, value=0)
        c.case(f"{mode}_2d", [c.t((1, 2, 3, 4), "f64")], pads=[1, 2, 2, 1], mode=mode, value=0)
        c.case(f"{mode}_f32", [c.t((2, 4, 3), "f32")], pads=[1, 2], mode=mode, value=0)
    c.case("f32_empty", [c.t((0, 3), "f32")], pads=[1, 1], mode="constant", value=0)
    c.error("odd_pads", [c.t((2, 3))], pads=[1], mode="constant", value=0)
    c.error("too_many_pads", [c.t((3,))], pads=[1, 1, 1, 1], mode="constant", value=0)
    c.error("reflect_too_big", [c.t((1, 2, 3))], pads=[3, 0], mode="reflect", value=0)


def pad_fn(x, pads, mode, value):
    return F.pad(x, pads, mode=mode, value=value) if mode == "constant" else F.pad(x, pads, mode=mode)


op("pad", pad_fn, pad_cases)


def flip_cases(c):
    for dt in ALL:
        c.case(dt, [c.t((3, 4), dt)], optional=True, dims=[1])
    c.case("two_dims", [c.t((2, 3, 4), "f64")], dims=[0, -1])
    c.case("all_dims", [c.t((2, 3, 4), "f64")], dims=[0, 1, 2])
    c.case("no_dims", [c.t((2, 3), "f64")], dims=[])
    c.case("f64_0d", [c.t((), "f64")], dims=[])
    c.case("f32_empty", [c.t((0, 3), "f32")], dims=[1])
    c.error("bad_dim", [c.t((2, 3))], dims=[2])
    c.error("repeated_dim", [c.t((2, 3))], dims=[1, -1])


op("flip", lambda x, dims: torch.flip(x, dims), flip_cases)


def roll_cases(c):
    for dt in ALL:
        c.case(dt, [c.t((3, 4), dt)], optional=True, shifts=[1], dims=[1])
    c.case("neg_and_big", [c.t((2, 3, 4), "f64")], shifts=[-1, 7], dims=[0, 2])
    c.case("flat", [c.t((2, 3), "f64")], shifts=[2], dims=[])
    c.case("f32_empty", [c.t((0, 3), "f32")], shifts=[1], dims=[1])
    c.error("length_mismatch", [c.t((2, 3))], shifts=[1, 2], dims=[0])
    c.error("bad_dim", [c.t((2, 3))], shifts=[1], dims=[2])


op("roll", lambda x, shifts, dims: torch.roll(x, shifts, dims if dims else None), roll_cases)


def repeat_cases(c):
    for dt in ALL:
        c.case(dt, [c.t((2, 3), dt)], optional=True, reps=[2, 1])
    c.case("more_dims", [c.t((2, 3), "f64")], reps=[2, 1, 3])
    c.case("zero", [c.t((2, 3), "f64")], reps=[0, 2])
    c.case("f64_0d", [c.t((), "f64")], reps=[3, 2])
    c.error("too_few", [c.t((2, 3))], reps=[2])


op("repeat", lambda x, reps: x.repeat(*reps), repeat_cases)


def tri_cases(c):
    for dt in ALL:
        c.case(dt, [c.t((3, 4), dt)], optional=True, k=0)
    c.case("k_pos", [c.t((4, 3), "f64")], k=1)
    c.case("k_neg", [c.t((3, 5), "f64")], k=-2)
    c.case("batched", [c.t((2, 3, 3), "f64")], k=0)
    c.case("f32_empty", [c.t((0, 3), "f32")], k=0)
    c.error("one_d", [c.t((3,))], k=0)


op("tril", lambda x, k: torch.tril(x, k), tri_cases)
op("triu", lambda x, k: torch.triu(x, k), tri_cases)

# ----------------------------------------------------------------------------- softmax, scans


def along_dim_cases(c, dtypes=FLOATS, dom="normal", extra=()):
    """Ops with one `dim` argument: each dim of a 3-D input, dtypes, 0-dim, empty."""
    for dt in dtypes:
        c.case(dt, [c.t((3, 4), dt, dom)], optional=True, dim=1)
    for d in (0, 1, -1):
        c.case(f"f64_dim{d}".replace("-", "m"), [c.t((2, 3, 4), "f64", dom)], dim=d)
    c.case("f32_0d", [c.t((), "f32", dom)], dim=0)
    c.case("f32_empty", [c.t((0, 3), "f32", dom)], dim=1)
    for e in extra:
        e(c)
    c.error("bad_dim", [c.t((2, 3), "f32", dom)], dim=2)


def softmax_extra(c):
    c.case("large", [c.t((2, 5), "f64") * 300], dim=1)
    c.case("neg_inf", [torch.tensor([[0.0, float("-inf"), 1.0], [2.0, 3.0, float("-inf")]])], grad=False, dim=1)
    c.error("int", [c.idx((2, 3), 5)], dim=1)


op("softmax", lambda x, dim: torch.softmax(x, dim), lambda c: along_dim_cases(c, extra=[softmax_extra]))
op("log_softmax", lambda x, dim: torch.log_softmax(x, dim), lambda c: along_dim_cases(c, extra=[softmax_extra]))


def layer_norm_fn(x, w=None, b=None, normalized_shape=(), eps=1e-5):
    return F.layer_norm(x, tuple(normalized_shape), w, b, eps)


def layer_norm_cases(c):
    for dt in FLOATS:
        c.case(dt, [c.t((3, 4), dt), c.t((4,), dt), c.t((4,), dt)], optional=True, normalized_shape=[4], eps=1e-5)
    # rows off zero (mean 3): the variance must not lose digits
    c.case("f64_two_dims", [c.t((2, 3, 5), "f64") + 3, c.t((3, 5), "f64"), c.t((3, 5), "f64")],
           normalized_shape=[3, 5], eps=1e-5)
    c.case("f64_no_affine", [c.t((4, 6), "f64")], normalized_shape=[6], eps=1e-3)
    c.case("f64_weight_only", [c.t((2, 2, 5), "f64"), c.t((5,), "f64")], normalized_shape=[5], eps=1e-5)
    # a row length that is not a multiple of the kernel's 8 lanes
    c.case("f32_odd", [c.t((5, 33), "f32"), c.t((33,), "f32"), c.t((33,), "f32")], normalized_shape=[33], eps=1e-5)
    c.case("f32_empty", [c.t((0, 4), "f32"), c.t((4,), "f32"), c.t((4,), "f32")], normalized_shape=[4], eps=1e-5)
    c.error("bad_shape", [c.t((3, 4), "f32")], normalized_shape=[3], eps=1e-5)
    c.error("bad_weight", [c.t((3, 4), "f32"), c.t((3,), "f32")], normalized_shape=[4], eps=1e-5)


op("layer_norm", layer_norm_fn, layer_norm_cases)


def cumprod_zeros(c):
    z = c.t((3, 5), "f64")
    z[0, 1] = 0.0
    z[1, 0] = 0.0
    z[1, 3] = 0.0
    c.case("f64_zeros", [z], dim=1)


op("cumsum", lambda x, dim: torch.cumsum(x, dim), lambda c: along_dim_cases(c, dtypes=ALL))
op("cumprod", lambda x, dim: torch.cumprod(x, dim), lambda c: along_dim_cases(c, dtypes=ALL, dom="small", extra=[cumprod_zeros]))

# ----------------------------------------------------------------------------- sorting, selection


def sort_extra(c):
    c.case("ties", [c.t((3, 6), "f64", "ties")], smooth=False, dim=1, descending=False)
    c.case("ties_desc", [c.t((3, 6), "f64", "ties")], smooth=False, dim=1, descending=True)
    c.case("nan", [torch.tensor([1.0, float("nan"), -2.0, float("inf")])], grad=False, dim=0, descending=False)


def sort_cases(c, extra=True):
    for dt in FLOATS + INTS + ["bool"]:
        c.case(dt, [c.t((3, 5), dt)], optional=True, dim=1, descending=False)
    c.case("f64_desc_dim0", [c.t((4, 3), "f64")], dim=0, descending=True)
    c.case("f64_3d", [c.t((2, 3, 4), "f64")], dim=-2, descending=False)
    c.case("f32_0d", [c.t((), "f32")], dim=0, descending=False)
    c.case("f32_empty", [c.t((0, 3), "f32")], dim=1, descending=False)
    if extra:
        sort_extra(c)
    c.error("bad_dim", [c.t((2, 3))], dim=2, descending=False)


op("sort", lambda x, dim, descending: torch.sort(x, dim=dim, descending=descending, stable=True), sort_cases, multi=True)
op("argsort", lambda x, dim, descending: torch.argsort(x, dim=dim, descending=descending, stable=True), sort_cases,
   differentiable=False)


def topk_cases(c):
    for dt in FLOATS + INTS:
        # distinct values: PyTorch leaves the order of tied indices unspecified
        distinct = torch.randperm(18, generator=c.g).reshape(3, 6).to(DTYPES[dt])
        c.case(dt, [distinct if dt in INTS else c.t((3, 6), dt)], optional=True, k=2, dim=1, largest=True)
    c.case("smallest", [c.t((3, 6), "f64")], k=3, dim=1, largest=False)
    c.case("dim0", [c.t((5, 3), "f64")], k=2, dim=0, largest=True)
    c.case("k_all", [c.t((2, 4), "f64")], k=4, dim=-1, largest=True)
    c.case("k0", [c.t((2, 4), "f32")], k=0, dim=-1, largest=True)
    c.error("k_too_big", [c.t((2, 4))], k=5, dim=1, largest=True)
    c.error("bad_dim", [c.t((2, 4))], k=1, dim=2, largest=True)


op("topk", lambda x, k, dim, largest: torch.topk(x, k, dim, largest=largest, sorted=True), topk_cases, multi=True)


def extreme_dim_cases(c):
    for dt in FLOATS + INTS + ["bool"]:
        c.case(dt, [c.t((3, 5), dt)], optional=True, dim=1, keepdim=False)
    c.case("f64_dim0_keep", [c.t((4, 3), "f64")], dim=0, keepdim=True)
    c.case("f64_3d", [c.t((2, 3, 4), "f64")], dim=-2, keepdim=False)
    c.case("ties", [c.t((3, 6), "f64", "ties")], smooth=False, dim=1, keepdim=False)
    c.case("f32_0d", [c.t((), "f32")], dim=0, keepdim=False)
    c.error("empty_dim", [c.t((0, 3))], dim=0, keepdim=False)
    c.error("bad_dim", [c.t((2, 3))], dim=2, keepdim=False)


def arg_extreme_cases(c):
    extreme_dim_cases(c)
    c.case("flat", [c.t((3, 4), "f64")], dim=None, keepdim=False)  # argmax_all
    c.case("flat_ties", [c.t((3, 4), "f64", "ties")], dim=None, keepdim=False)


op("max_dim", lambda x, dim, keepdim: torch.max(x, dim, keepdim), extreme_dim_cases, multi=True)
op("min_dim", lambda x, dim, keepdim: torch.min(x, dim, keepdim), extreme_dim_cases, multi=True)
op("argmax", lambda x, dim, keepdim: torch.argmax(x, dim, keepdim), arg_extreme_cases, differentiable=False)
op("argmin", lambda x, dim, keepdim: torch.argmin(x, dim, keepdim), arg_extreme_cases, differentiable=False)

# ----------------------------------------------------------------------------- einsum


def einsum_cases(c):
    eq = lambda name, e, shapes, dt="f64", **kw: c.case(name, [c.t(s, dt) for s in shapes], equation=e, **kw)
    for dt in FLOATS:
        eq(f"mm_{dt}", "ij,jk->ik", [(3, 4), (4, 2)], dt)
    eq("bmm", "bij,bjk->bik", [(2, 3, 4), (2, 4, 5)])
    eq("implicit", "ij,jk", [(3, 4), (4, 2)])
    eq("transpose", "ij->ji", [(3, 4)])
    eq("diag", "ii->i", [(3, 3)])
    eq("trace", "ii", [(4, 4)])
    eq("sum_all", "ijk->", [(2, 3, 4)])
    eq("dot", "i,i->", [(5,), (5,)])
    eq("outer", "i,j->ij", [(3,), (4,)])
    eq("three", "ij,jk,kl->il", [(2, 3), (3, 4), (4, 2)])
    eq("ellipsis", "...ij,...jk->...ik", [(2, 3, 4), (2, 4, 5)])
    eq("bcast_ellipsis", "...i,i->...", [(2, 3, 4), (4,)])
    eq("spaces", "ij, jk -> ik", [(2, 3), (3, 2)])
    c.error("too_few_operands", [c.t((3, 4))], equation="ij,jk->ik")
    c.error("size_mismatch", [c.t((3, 4)), c.t((5, 2))], equation="ij,jk->ik")
    c.error("unknown_output_label", [c.t((3, 4))], equation="ij->k")


op("einsum", lambda *xs, equation: torch.einsum(equation, *xs), einsum_cases)

# ----------------------------------------------------------------------------- convolution, pooling


def conv2d_fn(x, w, b=None, stride=(1, 1), padding=(0, 0), dilation=(1, 1), groups=1):
    return F.conv2d(x, w, b, tuple(stride), padding if isinstance(padding, str) else tuple(padding), tuple(dilation), groups)


def conv2d_cases(c):
    for dt in FLOATS:
        c.case(dt, [c.t((2, 3, 5, 5), dt), c.t((4, 3, 3, 3), dt), c.t((4,), dt)], optional=True,
               stride=[1, 1], padding=[0, 0], dilation=[1, 1], groups=1)
    c.case("no_bias_stride_pad", [c.t((1, 2, 6, 5), "f64"), c.t((3, 2, 3, 2), "f64")], stride=[2, 1], padding=[1, 2],
           dilation=[1, 1], groups=1)
    c.case("dilation", [c.t((1, 2, 7, 7), "f64"), c.t((2, 2, 3, 3), "f64"), c.t((2,), "f64")], stride=[1, 2],
           padding=[2, 1], dilation=[2, 2], groups=1)
    c.case("groups", [c.t((2, 4, 5, 5), "f64"), c.t((6, 2, 3, 3), "f64"), c.t((6,), "f64")], stride=[1, 1],
           padding=[1, 1], dilation=[1, 1], groups=2)
    c.case("depthwise", [c.t((1, 3, 4, 4), "f64"), c.t((3, 1, 2, 2), "f64")], stride=[1, 1], padding=[0, 0],
           dilation=[1, 1], groups=3)
    c.case("same_even_kernel", [c.t((1, 2, 5, 6), "f64"), c.t((2, 2, 2, 4), "f64")], stride=[1, 1], padding="same",
           dilation=[1, 1], groups=1)
    c.case("valid", [c.t((1, 1, 4, 4), "f64"), c.t((1, 1, 3, 3), "f64")], stride=[1, 1], padding="valid",
           dilation=[1, 1], groups=1)
    c.case("unbatched", [c.t((2, 4, 4), "f64"), c.t((3, 2, 3, 3), "f64")], stride=[1, 1], padding=[1, 1],
           dilation=[1, 1], groups=1)
    c.error("channel_mismatch", [c.t((1, 3, 5, 5)), c.t((2, 2, 3, 3))], stride=[1, 1], padding=[0, 0], dilation=[1, 1],
            groups=1)
    c.error("kernel_too_big", [c.t((1, 1, 2, 2)), c.t((1, 1, 3, 3))], stride=[1, 1], padding=[0, 0], dilation=[1, 1],
            groups=1)
    c.error("weight_3d", [c.t((1, 1, 4, 4)), c.t((1, 3, 3))], stride=[1, 1], padding=[0, 0], dilation=[1, 1], groups=1)
    c.error("same_with_stride", [c.t((1, 1, 4, 4)), c.t((1, 1, 3, 3))], stride=[2, 2], padding="same", dilation=[1, 1],
            groups=1)


op("conv2d", conv2d_fn, conv2d_cases)


def conv1d_fn(x, w, b=None, stride=1, padding=0, dilation=1, groups=1):
    return F.conv1d(x, w, b, stride, padding, dilation, groups)


def conv1d_cases(c):
    for dt in ("f32", "f64"):
        c.case(dt, [c.t((2, 3, 7), dt), c.t((4, 3, 3), dt), c.t((4,), dt)], stride=1, padding=0, dilation=1, groups=1)
    c.case("stride_pad_dil", [c.t((1, 2, 9), "f64"), c.t((2, 2, 3), "f64")], stride=2, padding=2, dilation=2, groups=1)
    c.case("groups", [c.t((1, 4, 6), "f64"), c.t((2, 2, 3), "f64"), c.t((2,), "f64")], stride=1, padding=1, dilation=1,
           groups=2)
    c.case("same", [c.t((1, 2, 6), "f64"), c.t((3, 2, 4), "f64")], stride=1, padding="same", dilation=1, groups=1)
    c.case("unbatched", [c.t((2, 5), "f64"), c.t((3, 2, 2), "f64")], stride=1, padding=0, dilation=1, groups=1)
    c.error("channel_mismatch", [c.t((1, 3, 5)), c.t((2, 2, 3))], stride=1, padding=0, dilation=1, groups=1)
    c.error("input_4d", [c.t((1, 1, 3, 5)), c.t((2, 1, 3))], stride=1, padding=0, dilation=1, groups=1)


op("conv1d", conv1d_fn, conv1d_cases)


def conv_transpose2d_fn(x, w, b=None, stride=(1, 1), padding=(0, 0), output_padding=(0, 0), dilation=(1, 1), groups=1):
    return F.conv_transpose2d(x, w, b, tuple(stride), tuple(padding), tuple(output_padding), groups, tuple(dilation))


def conv_transpose2d_cases(c):
    base = dict(stride=[1, 1], padding=[0, 0], output_padding=[0, 0], dilation=[1, 1], groups=1)
    for dt in ("f32", "f64"):
        c.case(dt, [c.t((2, 3, 4, 4), dt), c.t((3, 2, 3, 3), dt), c.t((2,), dt)], **base)
    c.case("stride_pad_outpad", [c.t((1, 2, 3, 4), "f64"), c.t((2, 3, 3, 2), "f64")],
           **{**base, "stride": [2, 3], "padding": [1, 0], "output_padding": [1, 2]})
    c.case("dilation", [c.t((1, 2, 3, 3), "f64"), c.t((2, 1, 2, 3), "f64"), c.t((1,), "f64")],
           **{**base, "dilation": [2, 1]})
    c.case("groups", [c.t((1, 4, 3, 3), "f64"), c.t((4, 3, 2, 2), "f64")], **{**base, "groups": 2})
    c.case("unbatched", [c.t((2, 3, 3), "f64"), c.t((2, 2, 2, 2), "f64")], **base)
    c.error("channel_mismatch", [c.t((1, 3, 4, 4)), c.t((2, 2, 3, 3))], **base)
    c.error("output_padding_too_big", [c.t((1, 1, 3, 3)), c.t((1, 1, 3, 3))], **{**base, "stride": [2, 2], "output_padding": [2, 2]})


op("conv_transpose2d", conv_transpose2d_fn, conv_transpose2d_cases)


def conv_transpose1d_fn(x, w, b=None, stride=1, padding=0, output_padding=0, dilation=1, groups=1):
    return F.conv_transpose1d(x, w, b, stride, padding, output_padding, groups, dilation)


def conv_transpose1d_cases(c):
    base = dict(stride=1, padding=0, output_padding=0, dilation=1, groups=1)
    c.case("f64", [c.t((2, 3, 5), "f64"), c.t((3, 2, 3), "f64"), c.t((2,), "f64")], **base)
    c.case("stride_pad", [c.t((1, 2, 4), "f64"), c.t((2, 2, 3), "f64")], **{**base, "stride": 2, "padding": 1, "output_padding": 1})
    c.error("channel_mismatch", [c.t((1, 3, 4)), c.t((2, 2, 3))], **base)


op("conv_transpose1d", conv_transpose1d_fn, conv_transpose1d_cases)


def max_pool2d_cases(c):
    base = dict(kernel=[2, 2], stride=[2, 2], padding=[0, 0], dilation=[1, 1], ceil_mode=False)
    for dt in FLOATS + ["i64"]:
        c.case(dt, [c.t((2, 3, 4, 6), dt)], optional=True, **base)
    c.case("overlap_pad", [c.t((1, 2, 5, 5), "f64")], **{**base, "kernel": [3, 3], "stride": [1, 2], "padding": [1, 1]})
    c.case("dilation_ceil", [c.t((1, 1, 7, 6), "f64")], **{**base, "kernel": [2, 3], "dilation": [2, 1], "ceil_mode": True})
    c.case("ties", [c.t((1, 1, 4, 4), "f64", "ties")], smooth=False, **base)
    c.case("unbatched", [c.t((2, 4, 4), "f64")], **base)
    c.error("pad_too_big", [c.t((1, 1, 4, 4))], **{**base, "padding": [2, 2]})
    c.error("input_2d", [c.t((4, 4))], **base)
    c.error("kernel_too_big", [c.t((1, 1, 2, 2))], **{**base, "kernel": [3, 3]})


op("max_pool2d",
   lambda x, kernel, stride, padding, dilation, ceil_mode: F.max_pool2d(x, kernel, stride, padding, dilation, ceil_mode, True),
   max_pool2d_cases, multi=True)


def avg_pool2d_cases(c):
    base = dict(kernel=[2, 2], stride=[2, 2], padding=[0, 0], ceil_mode=False, count_include_pad=True)
    for dt in FLOATS:
        c.case(dt, [c.t((2, 3, 4, 6), dt)], optional=True, **base)
    c.case("pad_include", [c.t((1, 2, 5, 5), "f64")], **{**base, "kernel": [3, 3], "stride": [2, 1], "padding": [1, 1]})
    c.case("pad_exclude", [c.t((1, 2, 5, 5), "f64")],
           **{**base, "kernel": [3, 3], "stride": [2, 1], "padding": [1, 1], "count_include_pad": False})
    c.case("ceil", [c.t((1, 1, 5, 7), "f64")], **{**base, "kernel": [2, 3], "stride": [2, 2], "ceil_mode": True})
    c.case("ceil_pad", [c.t((1, 1, 6, 6), "f64")],
           **{**base, "kernel": [3, 3], "stride": [2, 2], "padding": [1, 1], "ceil_mode": True, "count_include_pad": False})
    c.case("unbatched", [c.t((2, 4, 4), "f64")], **base)
    c.error("pad_too_big", [c.t((1, 1, 4, 4))], **{**base, "padding": [2, 2]})
    c.error("input_2d", [c.t((4, 4))], **base)


op("avg_pool2d",
   lambda x, kernel, stride, padding, ceil_mode, count_include_pad: F.avg_pool2d(x, kernel, stride, padding, ceil_mode,
                                                                                 count_include_pad),
   avg_pool2d_cases)


def adaptive_avg_pool2d_cases(c):
    for dt in FLOATS:
        c.case(dt, [c.t((2, 3, 6, 4), dt)], optional=True, output_size=[3, 2])
    c.case("uneven", [c.t((1, 2, 7, 5), "f64")], output_size=[3, 4])
    c.case("global", [c.t((1, 2, 5, 5), "f64")], output_size=[1, 1])
    c.case("upscale", [c.t((1, 1, 2, 3), "f64")], output_size=[4, 5])
    c.case("unbatched", [c.t((2, 5, 5), "f64")], output_size=[2, 3])
    c.error("input_2d", [c.t((4, 4))], output_size=[2, 2])


op("adaptive_avg_pool2d", lambda x, output_size: F.adaptive_avg_pool2d(x, output_size), adaptive_avg_pool2d_cases)


def upsample_cases(c, bilinear):
    kw = lambda size, align=False: {"size": size, "align_corners": align} if bilinear else {"size": size}
    for dt in FLOATS:
        c.case(dt, [c.t((2, 3, 3, 4), dt)], optional=True, **kw([6, 8]))
    c.case("non_integer", [c.t((1, 2, 3, 4), "f64")], **kw([5, 7]))
    c.case("down", [c.t((1, 2, 6, 7), "f64")], **kw([4, 3]))
    if bilinear:
        c.case("align_corners", [c.t((1, 2, 3, 4), "f64")], **kw([5, 7], True))
        c.case("align_corners_down", [c.t((1, 1, 5, 5), "f64")], **kw([3, 2], True))
    c.error("input_3d", [c.t((2, 3, 4))], **kw([4, 4]))


op("upsample_nearest2d", lambda x, size: F.interpolate(x, size=size, mode="nearest"), lambda c: upsample_cases(c, False))
op("upsample_bilinear2d",
   lambda x, size, align_corners: F.interpolate(x, size=size, mode="bilinear", align_corners=align_corners),
   lambda c: upsample_cases(c, True))

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
            # cotangents for the differentiable outputs only (not for sort's indices, say)
            live = [j for j, t in enumerate(outs) if t.requires_grad]
            cots = {j: torch.randn(outs[j].shape, generator=c.g, dtype=torch.float64).to(outs[j].dtype) for j in live}
            wrt = [x for x, d in zip(leaves, diff) if d]
            grads = torch.autograd.grad([outs[j] for j in live], wrt, [cots[j] for j in live], allow_unused=True)
            for j, t in cots.items():
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
