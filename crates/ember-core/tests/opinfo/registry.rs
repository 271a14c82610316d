//! The op registry: one entry per op name of the fixtures, mapping PyTorch's call (inputs and
//! kwargs as written by `tools/gen_op_fixtures.py`) onto ember's API, with what autograd
//! promises for it. The generic tests in `opinfo.rs` iterate this table.

use ember_core::ops::conv::{Padding1d, Padding2d};
use ember_core::ops::shape_ops::PadMode;
use ember_core::{s, DType, Result, Tensor};
use serde_json::Value;

/// A single-output op: the fixture's inputs and kwargs to ember's result.
pub type Single = fn(&[Tensor], &Value) -> Result<Tensor>;
/// A multi-output op (`split`, `chunk`).
pub type Multi = fn(&[Tensor], &Value) -> Result<Vec<Tensor>>;

pub enum Forward {
    One(Single),
    Many(Multi),
}

/// How far an op is differentiable.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Grad {
    /// No gradient (bool / integer results).
    None,
    /// First derivatives only: gradcheck. Also for ops whose gradient does not depend on the
    /// inputs (linear ops, piecewise-linear ones), where a second derivative is identically zero
    /// and gradgradcheck has nothing to differentiate.
    Once,
    /// Twice differentiable: gradcheck and gradgradcheck.
    Twice,
}

pub struct OpInfo {
    pub name: &'static str,
    pub forward: Forward,
    pub grad: Grad,
    /// For `Grad::Twice` ops: kwargs under which the gradient does not depend on the inputs
    /// (the inf-norm, `x ** 0`, `x ** 1`), so gradgradcheck has nothing to differentiate.
    pub constant_grad: fn(&Value) -> bool,
}

impl OpInfo {
    /// Run the op; single outputs become a one-element Vec.
    pub fn run(&self, inputs: &[Tensor], kwargs: &Value) -> Result<Vec<Tensor>> {
        match self.forward {
            Forward::One(f) => f(inputs, kwargs).map(|t| vec![t]),
            Forward::Many(f) => f(inputs, kwargs),
        }
    }

    pub fn is_multi(&self) -> bool {
        matches!(self.forward, Forward::Many(_))
    }
}

fn one(name: &'static str, grad: Grad, f: Single) -> OpInfo {
    OpInfo {
        name,
        forward: Forward::One(f),
        grad,
        constant_grad: |_| false,
    }
}

fn many(name: &'static str, grad: Grad, f: Multi) -> OpInfo {
    OpInfo {
        name,
        forward: Forward::Many(f),
        grad,
        constant_grad: |_| false,
    }
}

/// Typed access to the kwargs of a case. A missing or mistyped kwarg is a broken fixture, so
/// these panic (the tests catch panics and report them per case).
pub trait Kw {
    fn f(&self, key: &str) -> f64;
    fn opt_f(&self, key: &str) -> Option<f64>;
    fn i(&self, key: &str) -> isize;
    fn opt_i(&self, key: &str) -> Option<isize>;
    fn u(&self, key: &str) -> usize;
    fn b(&self, key: &str) -> bool;
    fn ints(&self, key: &str) -> Vec<isize>;
    fn str(&self, key: &str) -> &str;
    /// A list of two non-negative integers (`stride=[2, 1]`).
    fn pair(&self, key: &str) -> [usize; 2] {
        match self.ints(key).as_slice() {
            &[a, b] if a >= 0 && b >= 0 => [a as usize, b as usize],
            v => panic!("kwarg {key}: {v:?} is not a pair of sizes"),
        }
    }
    fn usizes(&self, key: &str) -> Vec<usize> {
        self.ints(key)
            .into_iter()
            .map(|v| usize::try_from(v).unwrap_or_else(|_| panic!("kwarg {key}: negative")))
            .collect()
    }
}

fn num(v: &Value, key: &str) -> f64 {
    match v {
        Value::Number(n) => n.as_f64().unwrap(),
        // the generator writes non-finite floats as strings (JSON has no NaN / inf)
        Value::String(s) => match s.as_str() {
            "inf" => f64::INFINITY,
            "-inf" => f64::NEG_INFINITY,
            "nan" => f64::NAN,
            _ => panic!("kwarg {key}: {s:?} is not a number"),
        },
        _ => panic!("kwarg {key}: {v} is not a number"),
    }
}

impl Kw for Value {
    fn f(&self, key: &str) -> f64 {
        num(&self[key], key)
    }
    fn opt_f(&self, key: &str) -> Option<f64> {
        (!self[key].is_null()).then(|| self.f(key))
    }
    fn i(&self, key: &str) -> isize {
        self[key]
            .as_i64()
            .unwrap_or_else(|| panic!("kwarg {key}: {} is not an integer", self[key])) as isize
    }
    fn opt_i(&self, key: &str) -> Option<isize> {
        (!self[key].is_null()).then(|| self.i(key))
    }
    fn u(&self, key: &str) -> usize {
        self[key]
            .as_u64()
            .unwrap_or_else(|| panic!("kwarg {key}: {} is not a non-negative integer", self[key])) as usize
    }
    fn b(&self, key: &str) -> bool {
        self[key]
            .as_bool()
            .unwrap_or_else(|| panic!("kwarg {key}: {} is not a bool", self[key]))
    }
    fn ints(&self, key: &str) -> Vec<isize> {
        let list = self[key]
            .as_array()
            .unwrap_or_else(|| panic!("kwarg {key}: {} is not a list", self[key]));
        list.iter()
            .map(|v| {
                v.as_i64()
                    .unwrap_or_else(|| panic!("kwarg {key}: {v} is not an integer")) as isize
            })
            .collect()
    }
    fn str(&self, key: &str) -> &str {
        self[key]
            .as_str()
            .unwrap_or_else(|| panic!("kwarg {key}: {} is not a string", self[key]))
    }
}

/// ember's dtype for a fixture dtype name.
pub fn dtype(name: &str) -> DType {
    DType::ALL
        .into_iter()
        .find(|d| d.name() == name)
        .unwrap_or_else(|| panic!("unknown dtype {name}"))
}

fn matmul(x: &[Tensor], k: &Value) -> Result<Tensor> {
    let flag = |key: &str| k[key].as_bool().unwrap_or(false);
    let a = if flag("ta") {
        x[0].transpose(-2, -1)?
    } else {
        x[0].clone()
    };
    let b = if flag("tb") {
        x[1].transpose(-2, -1)?
    } else {
        x[1].clone()
    };
    a.matmul(&b)
}

fn slice(x: &[Tensor], k: &Value) -> Result<Tensor> {
    x[0].slice(k.i("dim"), s(k.i("start"), k.opt_i("end"), k.u("step")))
}

fn split(x: &[Tensor], k: &Value) -> Result<Vec<Tensor>> {
    if k["size"].is_array() {
        let sizes: Vec<usize> = k.ints("size").into_iter().map(|s| s as usize).collect();
        x[0].split_sizes(&sizes, k.i("dim"))
    } else {
        x[0].split(k.u("size"), k.i("dim"))
    }
}

fn pad(x: &[Tensor], k: &Value) -> Result<Tensor> {
    let mode = match k.str("mode") {
        "constant" => PadMode::Constant(k.f("value")),
        "reflect" => PadMode::Reflect,
        "replicate" => PadMode::Replicate,
        "circular" => PadMode::Circular,
        m => panic!("unknown pad mode {m}"),
    };
    x[0].pad(&k.ints("pads"), mode)
}

fn embedding(x: &[Tensor], k: &Value) -> Result<Tensor> {
    match k.opt_i("padding_idx") {
        Some(p) => Tensor::embedding_padding(&x[0], &x[1], p as i64),
        None => Tensor::embedding(&x[0], &x[1]),
    }
}

/// Two outputs as a Vec (values and indices of sort, topk, max_dim, max_pool2d).
fn pair_out((a, b): (Tensor, Tensor)) -> Vec<Tensor> {
    vec![a, b]
}

fn conv2d(x: &[Tensor], k: &Value) -> Result<Tensor> {
    let padding = match k["padding"].as_str() {
        Some("same") => Padding2d::Same,
        Some("valid") => Padding2d::Valid,
        Some(p) => panic!("unknown padding {p}"),
        None => Padding2d::Explicit(k.pair("padding")),
    };
    x[0].conv2d(
        &x[1],
        x.get(2),
        k.pair("stride"),
        padding,
        k.pair("dilation"),
        k.u("groups"),
    )
}

fn conv1d(x: &[Tensor], k: &Value) -> Result<Tensor> {
    let padding = match k["padding"].as_str() {
        Some("same") => Padding1d::Same,
        Some("valid") => Padding1d::Valid,
        Some(p) => panic!("unknown padding {p}"),
        None => Padding1d::Explicit(k.u("padding")),
    };
    x[0].conv1d(&x[1], x.get(2), k.u("stride"), padding, k.u("dilation"), k.u("groups"))
}

fn conv_transpose2d(x: &[Tensor], k: &Value) -> Result<Tensor> {
    let (s, p, op, d) = (
        k.pair("stride"),
        k.pair("padding"),
        k.pair("output_padding"),
        k.pair("dilation"),
    );
    x[0].conv_transpose2d(&x[1], x.get(2), s, p, op, d, k.u("groups"))
}

fn conv_transpose1d(x: &[Tensor], k: &Value) -> Result<Tensor> {
    let (s, p, op, d) = (k.u("stride"), k.u("padding"), k.u("output_padding"), k.u("dilation"));
    x[0].conv_transpose1d(&x[1], x.get(2), s, p, op, d, k.u("groups"))
}

/// Every op with fixtures. Names are the fixture file names.
pub fn ops() -> Vec<OpInfo> {
    use Grad::{Once, Twice};
    let none = Grad::None;
    vec![
        // ---------------------------------------------------------------- unary
        one("neg", Once, |x, _| x[0].neg()),
        one("abs", Once, |x, _| x[0].abs()),
        one("sign", Once, |x, _| x[0].sign()),
        one("exp", Twice, |x, _| x[0].exp()),
        one("exp2", Twice, |x, _| x[0].exp2()),
        one("log", Twice, |x, _| x[0].log()),
        one("log2", Twice, |x, _| x[0].log2()),
        one("log1p", Twice, |x, _| x[0].log1p()),
        one("expm1", Twice, |x, _| x[0].expm1()),
        one("sqrt", Twice, |x, _| x[0].sqrt()),
        one("rsqrt", Twice, |x, _| x[0].rsqrt()),
        one("square", Twice, |x, _| x[0].square()),
        one("reciprocal", Twice, |x, _| x[0].reciprocal()),
        one("sin", Twice, |x, _| x[0].sin()),
        one("cos", Twice, |x, _| x[0].cos()),
        one("tan", Twice, |x, _| x[0].tan()),
        one("tanh", Twice, |x, _| x[0].tanh()),
        one("sigmoid", Twice, |x, _| x[0].sigmoid()),
        one("relu", Once, |x, _| x[0].relu()),
        one("leaky_relu", Once, |x, k| x[0].leaky_relu(k.f("negative_slope"))),
        one("elu", Twice, |x, k| x[0].elu(k.f("alpha"))),
        one("gelu", Twice, |x, _| x[0].gelu()),
        one("gelu_tanh", Twice, |x, _| x[0].gelu_tanh()),
        one("silu", Twice, |x, _| x[0].silu()),
        one("softplus", Twice, |x, k| x[0].softplus(k.f("beta"), k.f("threshold"))),
        one("erf", Twice, |x, _| x[0].erf()),
        one("floor", Once, |x, _| x[0].floor()),
        one("ceil", Once, |x, _| x[0].ceil()),
        one("round", Once, |x, _| x[0].round()),
        one("clamp", Once, |x, k| x[0].clamp(k.opt_f("min"), k.opt_f("max"))),
        OpInfo {
            constant_grad: |k| k.f("exponent") == 0.0 || k.f("exponent") == 1.0,
            ..one("pow_scalar", Twice, |x, k| x[0].pow_scalar(k.f("exponent")))
        },
        one("logical_not", none, |x, _| x[0].logical_not()),
        one("isnan", none, |x, _| x[0].isnan()),
        one("isinf", none, |x, _| x[0].isinf()),
        one("isfinite", none, |x, _| x[0].isfinite()),
        // ---------------------------------------------------------------- binary
        one("add", Once, |x, _| x[0].add(&x[1])),
        one("sub", Once, |x, _| x[0].sub(&x[1])),
        one("mul", Twice, |x, _| x[0].mul(&x[1])),
        one("div", Twice, |x, _| x[0].div(&x[1])),
        one("rem", Twice, |x, _| x[0].rem(&x[1])),
        one("pow", Twice, |x, _| x[0].pow(&x[1])),
        one("maximum", Once, |x, _| x[0].maximum(&x[1])),
        one("minimum", Once, |x, _| x[0].minimum(&x[1])),
        one("eq", none, |x, _| x[0].eq(&x[1])),
        one("ne", none, |x, _| x[0].ne(&x[1])),
        one("lt", none, |x, _| x[0].lt(&x[1])),
        one("le", none, |x, _| x[0].le(&x[1])),
        one("gt", none, |x, _| x[0].gt(&x[1])),
        one("ge", none, |x, _| x[0].ge(&x[1])),
        one("logical_and", none, |x, _| x[0].logical_and(&x[1])),
        one("logical_or", none, |x, _| x[0].logical_or(&x[1])),
        one("logical_xor", none, |x, _| x[0].logical_xor(&x[1])),
        // ---------------------------------------------------------------- tensor-scalar
        one("add_scalar", Once, |x, k| x[0].add_scalar(k.f("other"))),
        one("sub_scalar", Once, |x, k| x[0].sub_scalar(k.f("other"))),
        one("rsub_scalar", Once, |x, k| x[0].rsub_scalar(k.f("other"))),
        one("mul_scalar", Once, |x, k| x[0].mul_scalar(k.f("other"))),
        one("div_scalar", Once, |x, k| x[0].div_scalar(k.f("other"))),
        one("rem_scalar", Once, |x, k| x[0].rem_scalar(k.f("other"))),
        one("maximum_scalar", Once, |x, k| x[0].maximum_scalar(k.f("other"))),
        one("minimum_scalar", Once, |x, k| x[0].minimum_scalar(k.f("other"))),
        one("eq_scalar", none, |x, k| x[0].eq_scalar(k.f("other"))),
        one("ne_scalar", none, |x, k| x[0].ne_scalar(k.f("other"))),
        one("lt_scalar", none, |x, k| x[0].lt_scalar(k.f("other"))),
        one("le_scalar", none, |x, k| x[0].le_scalar(k.f("other"))),
        one("gt_scalar", none, |x, k| x[0].gt_scalar(k.f("other"))),
        one("ge_scalar", none, |x, k| x[0].ge_scalar(k.f("other"))),
        // ---------------------------------------------------------------- selection, casts
        one("where", Once, |x, _| Tensor::where_(&x[0], &x[1], &x[2])),
        one("masked_fill", Once, |x, k| x[0].masked_fill(&x[1], k.f("value"))),
        one("to_dtype", Once, |x, k| x[0].to_dtype(dtype(k.str("dtype")))),
        // ---------------------------------------------------------------- reductions
        one("sum", Once, |x, k| x[0].sum_dims(&k.ints("dims"), k.b("keepdim"))),
        one("mean", Once, |x, k| x[0].mean_dims(&k.ints("dims"), k.b("keepdim"))),
        one("prod", Twice, |x, k| match k.opt_i("dim") {
            Some(d) => x[0].prod(d, k.b("keepdim")),
            None => x[0].prod_dims(&[], false),
        }),
        one("amax", Once, |x, k| x[0].amax(&k.ints("dims"), k.b("keepdim"))),
        one("amin", Once, |x, k| x[0].amin(&k.ints("dims"), k.b("keepdim"))),
        one("all", none, |x, k| x[0].all(&k.ints("dims"), k.b("keepdim"))),
        one("any", none, |x, k| x[0].any(&k.ints("dims"), k.b("keepdim"))),
        one("var", Twice, |x, k| {
            x[0].var_dims(&k.ints("dims"), k.u("correction"), k.b("keepdim"))
        }),
        one("std", Twice, |x, k| {
            x[0].std_dims(&k.ints("dims"), k.u("correction"), k.b("keepdim"))
        }),
        one("logsumexp", Twice, |x, k| {
            x[0].logsumexp(&k.ints("dims"), k.b("keepdim"))
        }),
        OpInfo {
            constant_grad: |k| k.f("p").is_infinite(),
            ..one("norm", Twice, |x, k| {
                x[0].norm(k.f("p"), &k.ints("dims"), k.b("keepdim"))
            })
        },
        // ---------------------------------------------------------------- matrix products
        one("matmul", Twice, matmul),
        one("mm", Twice, |x, _| x[0].mm(&x[1])),
        one("bmm", Twice, |x, _| x[0].bmm(&x[1])),
        one("outer", Twice, |x, _| x[0].outer(&x[1])),
        one("dot", Twice, |x, _| x[0].dot(&x[1])),
        // ---------------------------------------------------------------- views
        one("reshape", Once, |x, k| x[0].reshape(&k.ints("shape"))),
        one("permute", Once, |x, k| x[0].permute(&k.ints("dims"))),
        one("transpose", Once, |x, k| x[0].transpose(k.i("dim0"), k.i("dim1"))),
        one("narrow", Once, |x, k| {
            x[0].narrow(k.i("dim"), k.u("start"), k.u("length"))
        }),
        one("slice", Once, slice),
        one("select", Once, |x, k| x[0].select(k.i("dim"), k.i("index"))),
        one("expand", Once, |x, k| x[0].expand(&k.ints("shape"))),
        one("squeeze", Once, |x, k| match k.opt_i("dim") {
            Some(d) => x[0].squeeze(d),
            None => x[0].squeeze_all(),
        }),
        one("unsqueeze", Once, |x, k| x[0].unsqueeze(k.i("dim"))),
        one("flatten", Once, |x, k| x[0].flatten(k.i("start"), k.i("end"))),
        one("unflatten", Once, |x, k| x[0].unflatten(k.i("dim"), &k.ints("sizes"))),
        // ---------------------------------------------------------------- joining, splitting
        one("cat", Once, |x, k| Tensor::cat(x, k.i("dim"))),
        one("stack", Once, |x, k| Tensor::stack(x, k.i("dim"))),
        many("split", Once, split),
        many("chunk", Once, |x, k| x[0].chunk(k.u("chunks"), k.i("dim"))),
        // ---------------------------------------------------------------- index ops
        one("index_select", Once, |x, k| x[0].index_select(k.i("dim"), &x[1])),
        one("gather", Once, |x, k| x[0].gather(k.i("dim"), &x[1])),
        one("scatter", Once, |x, k| x[0].scatter(k.i("dim"), &x[1], &x[2])),
        one("scatter_add", Once, |x, k| x[0].scatter_add(k.i("dim"), &x[1], &x[2])),
        one("index_add", Once, |x, k| x[0].index_add(k.i("dim"), &x[1], &x[2])),
        one("masked_select", Once, |x, _| x[0].masked_select(&x[1])),
        one("masked_scatter", Once, |x, _| x[0].masked_scatter(&x[1], &x[2])),
        one("one_hot", none, |x, k| x[0].one_hot(k.i("num_classes"))),
        one("embedding", Once, embedding),
        one("nonzero", none, |x, _| x[0].nonzero()),
        one("index", Once, |x, _| x[0].index(&x[1])),
        one("index_dim", Once, |x, k| x[0].index_dim(k.i("dim"), &x[1])),
        // ---------------------------------------------------------------- shape ops
        one("pad", Once, pad),
        one("flip", Once, |x, k| x[0].flip(&k.ints("dims"))),
        one("roll", Once, |x, k| x[0].roll(&k.ints("shifts"), &k.ints("dims"))),
        one("repeat", Once, |x, k| x[0].repeat(&k.usizes("reps"))),
        one("tril", Once, |x, k| x[0].tril(k.i("k"))),
        one("triu", Once, |x, k| x[0].triu(k.i("k"))),
        // ---------------------------------------------------------------- softmax, scans
        one("softmax", Twice, |x, k| x[0].softmax(k.i("dim"))),
        one("log_softmax", Twice, |x, k| x[0].log_softmax(k.i("dim"))),
        one("layer_norm", Twice, |x, k| {
            x[0].layer_norm(&k.usizes("normalized_shape"), x.get(1), x.get(2), k.f("eps"))
        }),
        one("cumsum", Once, |x, k| x[0].cumsum(k.i("dim"))),
        one("cumprod", Twice, |x, k| x[0].cumprod(k.i("dim"))),
        // ---------------------------------------------------------------- sorting, selection
        many("sort", Once, |x, k| {
            x[0].sort(k.i("dim"), k.b("descending")).map(pair_out)
        }),
        one("argsort", none, |x, k| x[0].argsort(k.i("dim"), k.b("descending"))),
        many("topk", Once, |x, k| {
            x[0].topk(k.u("k"), k.i("dim"), k.b("largest"), true).map(pair_out)
        }),
        many("max_dim", Once, |x, k| {
            x[0].max_dim(k.i("dim"), k.b("keepdim")).map(pair_out)
        }),
        many("min_dim", Once, |x, k| {
            x[0].min_dim(k.i("dim"), k.b("keepdim")).map(pair_out)
        }),
        one("argmax", none, |x, k| match k.opt_i("dim") {
            Some(d) => x[0].argmax(d, k.b("keepdim")),
            None => x[0].argmax_all(),
        }),
        one("argmin", none, |x, k| match k.opt_i("dim") {
            Some(d) => x[0].argmin(d, k.b("keepdim")),
            None => x[0].argmin_all(),
        }),
        // ---------------------------------------------------------------- einsum
        OpInfo {
            // one operand: a linear map (transpose, diagonal, sum), nothing to differentiate twice
            constant_grad: |k| !k.str("equation").contains(','),
            ..one("einsum", Twice, |x, k| Tensor::einsum(k.str("equation"), x))
        },
        // ---------------------------------------------------------------- convolution, pooling
        one("conv2d", Twice, conv2d),
        one("conv1d", Twice, conv1d),
        one("conv_transpose2d", Twice, conv_transpose2d),
        one("conv_transpose1d", Twice, conv_transpose1d),
        many("max_pool2d", Once, |x, k| {
            let (kernel, stride, pad, dil) = (
                k.pair("kernel"),
                k.pair("stride"),
                k.pair("padding"),
                k.pair("dilation"),
            );
            x[0].max_pool2d(kernel, stride, pad, dil, k.b("ceil_mode"))
                .map(pair_out)
        }),
        one("avg_pool2d", Once, |x, k| {
            let (kernel, stride, pad) = (k.pair("kernel"), k.pair("stride"), k.pair("padding"));
            x[0].avg_pool2d(kernel, stride, pad, k.b("ceil_mode"), k.b("count_include_pad"))
        }),
        one("adaptive_avg_pool2d", Once, |x, k| {
            x[0].adaptive_avg_pool2d(k.pair("output_size"))
        }),
        one("upsample_nearest2d", Once, |x, k| {
            x[0].upsample_nearest2d(k.pair("size"))
        }),
        one("upsample_bilinear2d", Once, |x, k| {
            x[0].upsample_bilinear2d(k.pair("size"), k.b("align_corners"))
        }),
    ]
}
