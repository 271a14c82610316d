//! Printing tensors the way PyTorch does: `tensor([[1.0000, 2.0000], ...], dtype=f32)`,
//! aligned columns, and `...` summaries for tensors of more than 1000 elements.

use crate::dtype::DType;
use crate::tensor::Tensor;
use std::fmt;

const THRESHOLD: usize = 1000;
const EDGE: usize = 3;

/// How every element is written, chosen once per tensor from its values.
enum Style {
    Int,
    Bool,
    /// All values are whole numbers: `1.`, `-3.`
    WholeFloat,
    Fixed(usize),
    Sci(usize),
}

fn choose_style(t: &Tensor, vals: &[f64]) -> Style {
    match t.dtype() {
        DType::Bool => return Style::Bool,
        d if d.is_int() => return Style::Int,
        _ => {}
    }
    let finite: Vec<f64> = vals.iter().copied().filter(|v| v.is_finite()).collect();
    if finite.iter().all(|v| v.fract() == 0.0) {
        let max = finite.iter().fold(0f64, |m, v| m.max(v.abs()));
        return if max >= 1e8 { Style::Sci(4) } else { Style::WholeFloat };
    }
    let nz: Vec<f64> = finite.iter().map(|v| v.abs()).filter(|&v| v != 0.0).collect();
    if nz.is_empty() {
        return Style::Fixed(4);
    }
    let max = nz.iter().cloned().fold(f64::MIN, f64::max);
    let min = nz.iter().cloned().fold(f64::MAX, f64::min);
    if max / min > 1000.0 || max > 1e8 || min < 1e-4 {
        Style::Sci(4)
    } else {
        Style::Fixed(4)
    }
}

fn fmt_val(v: f64, style: &Style) -> String {
    if v.is_nan() {
        return "nan".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "inf".into() } else { "-inf".into() };
    }
    match style {
        Style::Int => format!("{}", v as i64),
        Style::Bool => (if v != 0.0 { "True" } else { "False" }).into(),
        Style::WholeFloat => format!("{v:.0}."),
        Style::Fixed(p) => format!("{v:.p$}", p = p),
        Style::Sci(p) => {
            let s = format!("{v:.p$e}", p = p);
            // Rust writes 1.2345e3; PyTorch writes 1.2345e+03
            match s.split_once('e') {
                Some((m, e)) => {
                    let (sign, digits) = if let Some(d) = e.strip_prefix('-') {
                        ('-', d)
                    } else {
                        ('+', e)
                    };
                    format!("{m}e{sign}{digits:0>2}")
                }
                None => s,
            }
        }
    }
}

/// Row-major indices of the elements that are printed (all, or the edges of each dim).
fn shown(shape: &[usize], summarize: bool) -> Vec<Vec<usize>> {
    shape
        .iter()
        .map(|&n| {
            if summarize && n > 2 * EDGE {
                (0..EDGE).chain(n - EDGE..n).collect()
            } else {
                (0..n).collect()
            }
        })
        .collect()
}

#[allow(clippy::too_many_arguments)] // a recursive printer's state, kept flat on purpose
fn write_rec(
    out: &mut String,
    vals: &[f64],
    shape: &[usize],
    strides: &[usize],
    base: usize,
    dim: usize,
    summarize: bool,
    style: &Style,
    width: usize,
    indent: usize,
) {
    if dim == shape.len() {
        let s = fmt_val(vals[base], style);
        out.push_str(&format!("{s:>width$}"));
        return;
    }
    let n = shape[dim];
    let idx: Vec<usize> = shown(&shape[dim..=dim], summarize).remove(0);
    out.push('[');
    let last = dim + 1 == shape.len();
    for (j, &i) in idx.iter().enumerate() {
        if j > 0 {
            out.push(',');
            if last {
                out.push(' ');
            } else {
                let blank = shape.len() - dim - 1;
                for _ in 0..blank {
                    out.push('\n');
                }
                out.push_str(&" ".repeat(indent + dim + 1));
            }
        }
        if summarize && n > 2 * EDGE && j == EDGE {
            out.push_str(if last { " ..." } else { "..." });
            out.push(',');
            if last {
                out.push(' ');
            } else {
                out.push('\n');
                out.push_str(&" ".repeat(indent + dim + 1));
            }
        }
        write_rec(
            out,
            vals,
            shape,
            strides,
            base + i * strides[dim],
            dim + 1,
            summarize,
            style,
            width,
            indent,
        );
    }
    out.push(']');
}

impl fmt::Display for Tensor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let vals = match self.detach().to_vec::<f64>() {
            Ok(v) => v,
            Err(e) => return write!(f, "tensor(<unprintable: {e}>)"),
        };
        let shape = self.shape();
        let summarize = self.numel() > THRESHOLD;
        let strides = crate::shape::contiguous_strides(shape);
        // pick the style and the column width from the printed elements only
        let mut printed = Vec::new();
        if summarize {
            let idx = shown(shape, true);
            let mut cur = vec![0usize; shape.len()];
            'outer: loop {
                let off: usize = cur.iter().enumerate().map(|(d, &k)| idx[d][k] * strides[d]).sum();
                printed.push(vals[off]);
                for d in (0..shape.len()).rev() {
                    cur[d] += 1;
                    if cur[d] < idx[d].len() {
                        continue 'outer;
                    }
                    cur[d] = 0;
                }
                break;
            }
        } else {
            printed = vals.clone();
        }
        let style = choose_style(self, &printed);
        let width = printed.iter().map(|&v| fmt_val(v, &style).len()).max().unwrap_or(1);
        let mut s = String::from("tensor(");
        if shape.is_empty() {
            s.push_str(&fmt_val(vals[0], &style));
        } else if self.numel() == 0 {
            s.push_str("[]");
        } else {
            write_rec(
                &mut s,
                &vals,
                shape,
                &strides,
                0,
                0,
                summarize,
                &style,
                width,
                "tensor(".len(),
            );
        }
        if self.numel() == 0 && shape.len() > 1 {
            s.push_str(&format!(", size={shape:?}"));
        }
        s.push_str(&format!(", dtype={}", self.dtype()));
        if let Some(name) = self.grad_fn_name() {
            s.push_str(&format!(", grad_fn=<{name}>"));
        } else if self.requires_grad() {
            s.push_str(", requires_grad=true");
        }
        s.push(')');
        f.write_str(&s)
    }
}

#[cfg(test)]
mod tests {
    use crate::Tensor;

    #[test]
    fn prints_like_pytorch() {
        let t = Tensor::new(&[[1.0f32, 2.5], [3.0, 4.0]]);
        assert_eq!(
            t.to_string(),
            "tensor([[1.0000, 2.5000],\n        [3.0000, 4.0000]], dtype=f32)"
        );
        let w = Tensor::new(&[1.0f32, -2.0]);
        assert_eq!(w.to_string(), "tensor([ 1., -2.], dtype=f32)");
        let i = Tensor::new(&[1i64, 20, 3]);
        assert_eq!(i.to_string(), "tensor([ 1, 20,  3], dtype=i64)");
        let big = Tensor::arange(0.0, 2000.0, 1.0).unwrap();
        assert_eq!(
            big.to_string(),
            "tensor([   0,    1,    2,  ..., 1997, 1998, 1999], dtype=i64)"
        );
    }
}
