//! `einsum`: Einstein summation over any number of operands, written with differentiable
//! Tensor ops (so it needs no gradient rule of its own).
//!
//! The plan: parse the equation into one label per dim (an ellipsis becomes right-aligned
//! broadcast labels), take diagonals for labels repeated within an operand, sum out labels
//! that occur in one operand only, then contract the operands left to right. Each pairwise
//! contraction permutes both sides to `[batch, free, contracted]` and runs one batched matmul.

use crate::dtype::DType;
use crate::error::{arg_err, shape_err, Result};
use crate::tensor::Tensor;

/// Labels are letters (their ASCII code) or ellipsis dims (`ELLIPSIS + position`).
const ELLIPSIS: usize = 256;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sub {
    Letter(u8),
    Ellipsis,
}

fn label_name(l: usize) -> String {
    if l < ELLIPSIS {
        format!("'{}'", l as u8 as char)
    } else {
        format!("ellipsis dim {}", l - ELLIPSIS)
    }
}

fn parse_term(term: &str) -> Result<Vec<Sub>> {
    let b = term.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            c if c.is_ascii_alphabetic() => {
                out.push(Sub::Letter(c));
                i += 1;
            }
            b'.' => {
                if b.get(i..i + 3) != Some(&b"..."[..]) {
                    return Err(arg_err(
                        "einsum",
                        format!("'.' must be part of an ellipsis '...' in term \"{term}\""),
                    ));
                }
                if out.contains(&Sub::Ellipsis) {
                    return Err(arg_err("einsum", format!("more than one ellipsis in term \"{term}\"")));
                }
                out.push(Sub::Ellipsis);
                i += 3;
            }
            _ => {
                let c = term[i..].chars().next().unwrap_or('?');
                return Err(arg_err(
                    "einsum",
                    format!("invalid subscript '{c}' in term \"{term}\" (use letters a-z, A-Z and '...')"),
                ));
            }
        }
    }
    Ok(out)
}

/// One label per dim: letters as they are, the ellipsis as `ell` labels right-aligned among
/// `max_ell` broadcast labels.
fn expand(term: &[Sub], ell: usize, max_ell: usize) -> Vec<usize> {
    let mut out = Vec::new();
    for s in term {
        match s {
            Sub::Letter(c) => out.push(*c as usize),
            Sub::Ellipsis => out.extend((max_ell - ell..max_ell).map(|j| ELLIPSIS + j)),
        }
    }
    out
}

/// Replace each label repeated within an operand by the diagonal along its dims.
fn take_diagonals(mut t: Tensor, mut labels: Vec<usize>, operand: usize) -> Result<(Tensor, Vec<usize>)> {
    loop {
        let dup = (0..labels.len()).find_map(|q| (0..q).find(|&p| labels[p] == labels[q]).map(|p| (p, q)));
        let Some((p, q)) = dup else {
            return Ok((t, labels));
        };
        let n = t.shape()[p];
        if t.shape()[q] != n {
            return Err(shape_err(
                "einsum",
                format!(
                    "subscript {} is repeated in operand {operand} for dims of different sizes {n} and {}",
                    label_name(labels[p]),
                    t.shape()[q]
                ),
            ));
        }
        // x * I (on dims p, q), summed over q, keeps the diagonal along p
        let mut eye_shape = vec![1; t.ndim()];
        eye_shape[p] = n;
        eye_shape[q] = n;
        let eye = Tensor::eye(n)
            .to_dtype(t.dtype())?
            .to(t.device())?
            .reshape_to(&eye_shape)?;
        t = t.mul(&eye)?.sum(q as isize, false)?;
        labels.remove(q);
    }
}

/// Sum out the dims whose label `keep` rejects.
fn sum_out(t: Tensor, labels: Vec<usize>, keep: impl Fn(usize) -> bool) -> Result<(Tensor, Vec<usize>)> {
    let dims: Vec<isize> = (0..labels.len())
        .filter(|&i| !keep(labels[i]))
        .map(|i| i as isize)
        .collect();
    if dims.is_empty() {
        return Ok((t, labels));
    }
    let kept = labels.into_iter().filter(|&l| keep(l)).collect();
    Ok((t.sum_dims(&dims, false)?, kept))
}

/// Contract two operands, keeping the labels in `needed` (the output's and later operands').
fn contract(a: (Tensor, Vec<usize>), b: (Tensor, Vec<usize>), needed: &[usize]) -> Result<(Tensor, Vec<usize>)> {
    let (a, la) = sum_out(a.0, a.1, |l| needed.contains(&l) || b.1.contains(&l))?;
    let (b, lb) = sum_out(b.0, b.1, |l| needed.contains(&l) || la.contains(&l))?;
    let shared: Vec<usize> = la.iter().copied().filter(|l| lb.contains(l)).collect();
    let batch: Vec<usize> = shared.iter().copied().filter(|l| needed.contains(l)).collect();
    let summed: Vec<usize> = shared.iter().copied().filter(|l| !needed.contains(l)).collect();
    let left: Vec<usize> = la.iter().copied().filter(|l| !lb.contains(l)).collect();
    let right: Vec<usize> = lb.iter().copied().filter(|l| !la.contains(l)).collect();
    let pos = |labels: &[usize], l: usize| labels.iter().position(|&x| x == l).expect("label present");
    // broadcast size-1 dims of shared labels to the other side's size
    let size_of = |l: usize| a.shape()[pos(&la, l)].max(b.shape()[pos(&lb, l)]);
    let full = |t: &Tensor, labels: &[usize]| -> Result<Tensor> {
        let shape: Vec<usize> = labels
            .iter()
            .map(|&l| {
                if shared.contains(&l) {
                    size_of(l)
                } else {
                    t.shape()[pos(labels, l)]
                }
            })
            .collect();
        t.broadcast_to(&shape)
    };
    let (a, b) = (full(&a, &la)?, full(&b, &lb)?);
    let sizes = |t: &Tensor, labels: &[usize], group: &[usize]| -> Vec<usize> {
        group.iter().map(|&l| t.shape()[pos(labels, l)]).collect()
    };
    let (bs, ls, cs, rs) = (
        sizes(&a, &la, &batch),
        sizes(&a, &la, &left),
        sizes(&a, &la, &summed),
        sizes(&b, &lb, &right),
    );
    let prod = |v: &[usize]| v.iter().product::<usize>();
    let perm = |labels: &[usize], groups: [&[usize]; 3]| -> Vec<isize> {
        groups
            .iter()
            .flat_map(|g| g.iter())
            .map(|&l| pos(labels, l) as isize)
            .collect()
    };
    // [batch.., L, C] @ [batch.., C, R]: batch dims stay separate (matmul takes strided
    // batches), and when each of the free and summed groups is one dim, the permuted views
    // go to matmul as they are, with no copy
    let with_batch = |x: usize, y: usize| -> Vec<usize> { bs.iter().copied().chain([x, y]).collect() };
    let a3 = a
        .permute(&perm(&la, [&batch, &left, &summed]))?
        .reshape_to(&with_batch(prod(&ls), prod(&cs)))?;
    let b3 = b
        .permute(&perm(&lb, [&batch, &summed, &right]))?
        .reshape_to(&with_batch(prod(&cs), prod(&rs)))?;
    let c3 = if a3.dtype().is_float() {
        a3.matmul(&b3)?
    } else {
        // gemm has no integer kernels: broadcast-multiply and sum
        a3.unsqueeze(-1)?.mul(&b3.unsqueeze(-3)?)?.sum(-2, false)?
    };
    let shape: Vec<usize> = bs.iter().chain(&ls).chain(&rs).copied().collect();
    let labels: Vec<usize> = batch.iter().chain(&left).chain(&right).copied().collect();
    Ok((c3.reshape_to(&shape)?, labels))
}

impl Tensor {
    /// Einstein summation, as `torch.einsum`: `"ij,jk->ik"` is a matrix product,
    /// `"bhqd,bhkd->bhqk"` batched attention scores, `"ii->i"` a diagonal, `"ii"` a trace.
    /// Without `->` the output holds the labels that occur once, in alphabetical order (after
    /// any `...` dims). `...` stands for broadcast dims; size-1 dims broadcast. Operands of
    /// different dtypes are promoted. Differentiable in every operand.
    ///
    /// ```
    /// use ember_core::Tensor;
    /// let a = Tensor::new(&[[1.0f32, 2.0], [3.0, 4.0]]);
    /// let b = Tensor::new(&[[5.0f32, 6.0], [7.0, 8.0]]);
    /// let c = Tensor::einsum("ij,jk->ik", &[a.clone(), b.clone()]).unwrap();
    /// assert_eq!(c.to_vec::<f32>().unwrap(), a.matmul(&b).unwrap().to_vec::<f32>().unwrap());
    /// assert_eq!(Tensor::einsum("ii", &[a]).unwrap().item().unwrap(), 5.0);
    /// ```
    pub fn einsum(equation: &str, operands: &[Tensor]) -> Result<Tensor> {
        const OP: &str = "einsum";
        let eq: String = equation.chars().filter(|c| !c.is_whitespace()).collect();
        let (lhs, rhs) = match eq.split_once("->") {
            Some((l, r)) => (l, Some(r)),
            None => (eq.as_str(), None),
        };
        if operands.is_empty() {
            return Err(arg_err(OP, "expected at least one operand"));
        }
        let terms: Vec<Vec<Sub>> = lhs.split(',').map(parse_term).collect::<Result<_>>()?;
        if terms.len() != operands.len() {
            return Err(arg_err(
                OP,
                format!(
                    "equation \"{equation}\" has {} operand terms but {} operands were given",
                    terms.len(),
                    operands.len()
                ),
            ));
        }
        let out_term = rhs.map(parse_term).transpose()?;
        // ellipsis dims per operand
        let mut ells = Vec::with_capacity(terms.len());
        for (i, (term, t)) in terms.iter().zip(operands).enumerate() {
            let letters = term.iter().filter(|s| matches!(s, Sub::Letter(_))).count();
            let has_ell = term.contains(&Sub::Ellipsis);
            if (!has_ell && letters != t.ndim()) || letters > t.ndim() {
                return Err(shape_err(
                    OP,
                    format!(
                        "operand {i} has {} dims (shape {:?}) but its term has {letters} subscripts{}",
                        t.ndim(),
                        t.shape(),
                        if has_ell { " and an ellipsis" } else { "" }
                    ),
                ));
            }
            ells.push(t.ndim() - letters);
        }
        let max_ell = ells.iter().copied().max().unwrap_or(0);
        let labels: Vec<Vec<usize>> = terms.iter().zip(&ells).map(|(t, &e)| expand(t, e, max_ell)).collect();
        // every label has one size (size-1 dims broadcast)
        let mut sizes: Vec<(usize, usize, usize)> = Vec::new(); // (label, size, operand)
        for (i, (ls, t)) in labels.iter().zip(operands).enumerate() {
            for (&l, &n) in ls.iter().zip(t.shape()) {
                match sizes.iter_mut().find(|(x, _, _)| *x == l) {
                    Some((_, m, j)) if *m != n && *m != 1 && n != 1 => {
                        return Err(shape_err(
                            OP,
                            format!(
                                "subscript {} has size {m} in operand {j} but size {n} in operand {i}",
                                label_name(l)
                            ),
                        ));
                    }
                    Some((_, m, j)) => {
                        if *m == 1 {
                            (*m, *j) = (n, i);
                        }
                    }
                    None => sizes.push((l, n, i)),
                }
            }
        }
        let count = |l: usize| {
            labels
                .iter()
                .map(|ls| ls.iter().filter(|&&x| x == l).count())
                .sum::<usize>()
        };
        let out: Vec<usize> = match &out_term {
            Some(term) => {
                let out = expand(term, max_ell, max_ell);
                for (i, &l) in out.iter().enumerate() {
                    if l < ELLIPSIS && count(l) == 0 {
                        return Err(arg_err(
                            OP,
                            format!(
                                "output subscript {} does not appear in the operands of \"{equation}\"",
                                label_name(l)
                            ),
                        ));
                    }
                    if out[..i].contains(&l) {
                        return Err(arg_err(
                            OP,
                            format!(
                                "output subscript {} appears more than once in \"{equation}\"",
                                label_name(l)
                            ),
                        ));
                    }
                }
                out
            }
            None => {
                let mut letters: Vec<usize> = sizes
                    .iter()
                    .map(|s| s.0)
                    .filter(|&l| l < ELLIPSIS && count(l) == 1)
                    .collect();
                letters.sort_unstable();
                (ELLIPSIS..ELLIPSIS + max_ell).chain(letters).collect()
            }
        };
        // one dtype for all operands
        let dtype = operands
            .iter()
            .skip(1)
            .fold(operands[0].dtype(), |d, t| DType::promote(d, t.dtype()));
        let mut ops = Vec::with_capacity(operands.len());
        for (i, (t, ls)) in operands.iter().zip(labels).enumerate() {
            ops.push(take_diagonals(t.to_dtype(dtype)?, ls, i)?);
        }
        // sum out labels that no other operand and not the output has
        let in_ops = |l: usize, ops: &[(Tensor, Vec<usize>)]| ops.iter().filter(|o| o.1.contains(&l)).count();
        for i in 0..ops.len() {
            let (t, ls) = ops[i].clone();
            let keep = |l: usize| out.contains(&l) || in_ops(l, &ops) > 1;
            ops[i] = sum_out(t, ls, keep)?;
        }
        let mut rest = ops.into_iter();
        let mut cur = rest.next().expect("at least one operand");
        let rest: Vec<(Tensor, Vec<usize>)> = rest.collect();
        for (i, next) in rest.iter().enumerate() {
            let mut needed = out.clone();
            for later in &rest[i + 1..] {
                needed.extend(later.1.iter().copied());
            }
            cur = contract(cur, next.clone(), &needed)?;
        }
        let (t, ls) = sum_out(cur.0, cur.1, |l| out.contains(&l))?;
        let perm: Vec<isize> = out
            .iter()
            .map(|l| ls.iter().position(|x| x == l).expect("output label kept") as isize)
            .collect();
        t.permute(&perm)
    }
}

#[cfg(test)]
mod tests {
    use crate::autograd::{gradcheck, gradgradcheck};
    use crate::{DType, Tensor};
    use std::slice::from_ref;

    fn randn(shape: &[usize], seed: u64) -> Tensor {
        let mut g = crate::Generator::new(seed);
        Tensor::randn_with(shape, &mut g).to_dtype(DType::F64).unwrap()
    }

    fn close(a: &Tensor, b: &Tensor) {
        assert_eq!(a.shape(), b.shape());
        let (x, y) = (a.to_vec::<f64>().unwrap(), b.to_vec::<f64>().unwrap());
        for (p, q) in x.iter().zip(&y) {
            assert!((p - q).abs() < 1e-12 * (1.0 + q.abs()), "{p} vs {q}");
        }
    }

    fn es(eq: &str, ops: &[&Tensor]) -> Tensor {
        let ops: Vec<Tensor> = ops.iter().map(|t| (*t).clone()).collect();
        Tensor::einsum(eq, &ops).unwrap()
    }

    #[test]
    fn matrix_products_and_reductions() {
        let a = randn(&[3, 4], 1);
        let b = randn(&[4, 5], 2);
        let v = randn(&[4], 3);
        close(&es("ij,jk->ik", &[&a, &b]), &a.matmul(&b).unwrap());
        close(&es("ij,jk", &[&a, &b]), &a.matmul(&b).unwrap());
        close(&es("ij,jk->ki", &[&a, &b]), &a.matmul(&b).unwrap().t());
        close(&es("ij,j->i", &[&a, &v]), &a.matmul(&v).unwrap());
        close(&es("i,i->", &[&v, &v]), &v.dot(&v).unwrap());
        close(&es("i,j->ij", &[&v, &v]), &v.outer(&v).unwrap());
        close(&es("ij->ji", &[&a]), &a.t().contiguous());
        close(&es("ji", &[&a]), &a.t().contiguous());
        close(&es("ij->", &[&a]), &a.sum_all());
        close(&es("ij->j", &[&a]), &a.sum(0, false).unwrap());
        close(&es("ij,ij->ij", &[&a, &a]), &a.mul(&a).unwrap());
    }

    #[test]
    fn batched_ellipsis_and_three_operands() {
        let q = randn(&[2, 3, 5, 4], 4);
        let k = randn(&[2, 3, 6, 4], 5);
        close(
            &es("bhqd,bhkd->bhqk", &[&q, &k]),
            &q.matmul(&k.transpose(-2, -1).unwrap()).unwrap(),
        );
        // ellipsis with broadcasting batch dims: [2, 1, 3, 4] x [5, 4, 2] -> [2, 5, 3, 2]
        let a = randn(&[2, 1, 3, 4], 6);
        let b = randn(&[5, 4, 2], 7);
        close(&es("...ij,...jk->...ik", &[&a, &b]), &a.matmul(&b).unwrap());
        close(&es("...ij,...jk", &[&a, &b]), &a.matmul(&b).unwrap());
        let (x, y, z) = (randn(&[2, 3], 8), randn(&[3, 4], 9), randn(&[4, 5], 10));
        close(
            &es("ij,jk,kl->il", &[&x, &y, &z]),
            &x.matmul(&y).unwrap().matmul(&z).unwrap(),
        );
        // a label shared by all three operands that is also summed
        let w = randn(&[3], 11);
        let want = x.mul(&w).unwrap().matmul(&y).unwrap();
        close(&es("ij,j,jk->ik", &[&x, &w, &y]), &want);
        // summing a label that occurs in one operand only, before contracting
        close(
            &es("ij,kl->ik", &[&x, &y]),
            &x.sum(1, true).unwrap().matmul(&y.sum(1, true).unwrap().t()).unwrap(),
        );
    }

    #[test]
    fn diagonals_and_traces() {
        let m = randn(&[3, 3], 12);
        let diag: Vec<f64> = (0..3).map(|i| m.to_vec::<f64>().unwrap()[i * 4]).collect();
        assert_eq!(es("ii->i", &[&m]).to_vec::<f64>().unwrap(), diag);
        assert!((es("ii", &[&m]).item().unwrap() - diag.iter().sum::<f64>()).abs() < 1e-12);
        let b = randn(&[2, 3, 3], 13);
        let bd = es("bii->bi", &[&b]);
        assert_eq!(bd.shape(), &[2, 3]);
        assert_eq!(bd.to_vec::<f64>().unwrap()[4], b.to_vec::<f64>().unwrap()[9 + 4]);
    }

    #[test]
    fn integer_operands_and_promotion() {
        let a = Tensor::new(&[[1i64, 2], [3, 4]]);
        let v = Tensor::new(&[1i64, 1]);
        let r = Tensor::einsum("ij,j->i", &[a.clone(), v]).unwrap();
        assert_eq!(r.dtype(), DType::I64);
        assert_eq!(r.to_vec::<i64>().unwrap(), vec![3, 7]);
        let f = Tensor::einsum("ij,jk->ik", &[a, Tensor::eye(2)]).unwrap();
        assert_eq!(f.dtype(), DType::F32);
        assert_eq!(f.to_vec::<f32>().unwrap(), vec![1.0, 2.0, 3.0, 4.0]);
    }

    #[test]
    fn malformed_equations_and_sizes() {
        let a = randn(&[3, 4], 1);
        let b = randn(&[5, 6], 2);
        let bad = |eq: &str, ops: &[Tensor]| assert!(Tensor::einsum(eq, ops).is_err(), "{eq} should fail");
        bad("ij,jk->ik", &[a.clone(), b.clone()]);
        bad("ij,jk->ik", from_ref(&a));
        bad("ijk->i", from_ref(&a));
        bad("i->i", from_ref(&a));
        bad("ij->k", from_ref(&a));
        bad("ij->ii", from_ref(&a));
        bad("i#->i", from_ref(&a));
        bad("i..j->ij", from_ref(&a));
        bad("...i...->i", from_ref(&a));
        bad("ii->i", from_ref(&a));
        bad("", &[]);
        let e = Tensor::einsum("ij,jk->ik", &[a.clone(), b]).unwrap_err().to_string();
        assert!(e.contains("'j'") && e.contains("size 4") && e.contains("size 5"), "{e}");
    }

    #[test]
    fn gradients() {
        let (a, b) = (randn(&[3, 4], 1), randn(&[4, 2], 2));
        gradcheck(
            &|xs| Tensor::einsum("ij,jk->ik", xs),
            &[a.clone(), b.clone()],
            1e-6,
            1e-7,
        )
        .unwrap();
        gradcheck(
            &|xs| Tensor::einsum("ij,jk->kj", xs),
            &[a.clone(), b.clone()],
            1e-6,
            1e-7,
        )
        .unwrap();
        let (q, k) = (randn(&[2, 3, 4], 3), randn(&[2, 5, 4], 4));
        gradcheck(
            &|xs| Tensor::einsum("bqd,bkd->bqk", xs),
            &[q.clone(), k.clone()],
            1e-6,
            1e-7,
        )
        .unwrap();
        gradgradcheck(&|xs| Tensor::einsum("bqd,bkd->bqk", xs)?.square(), &[q, k], 1e-6, 1e-6).unwrap();
        let m = randn(&[3, 3], 5);
        gradcheck(&|xs| Tensor::einsum("ii->i", xs), from_ref(&m), 1e-6, 1e-7).unwrap();
        gradcheck(
            &|xs| Tensor::einsum("ij,j,jk", xs),
            &[randn(&[2, 3], 6), randn(&[3], 7), randn(&[3, 2], 8)],
            1e-6,
            1e-7,
        )
        .unwrap();
        gradcheck(
            &|xs| Tensor::einsum("...ij,...jk->...ik", xs),
            &[randn(&[2, 1, 3, 4], 9), randn(&[5, 4, 2], 10)],
            1e-6,
            1e-7,
        )
        .unwrap();
    }
}
