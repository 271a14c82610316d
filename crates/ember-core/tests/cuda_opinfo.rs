//! The OpInfo registry on the GPU: every op and case of `opinfo/registry.rs`, with its inputs on
//! `cuda:0`, against PyTorch's fixtures (the same files the CPU suite reads):
//!
//! - forward results, with contiguous and with non-contiguous (strided, offset) device inputs;
//!   the results must stay on the device;
//! - gradients of `sum(out * cot)` with the cotangents on the device;
//! - inputs PyTorch rejects give `Err` on the device too, never a panic.
//!
//! Float tolerances are those of the CPU suite times [`GPU_TOLERANCE_SCALE`]: GPU kernels sum
//! in another order (tree reductions, cuBLAS) than PyTorch's CPU kernels that made the fixtures.
//!
//! Without a usable GPU every test prints why it skips; `EMBER_REQUIRE_CUDA=1` (set by
//! `tools/cuda_device_check.sh`) turns that skip into a failure.

#[allow(dead_code)]
#[path = "opinfo/compare.rs"]
mod compare;
#[allow(dead_code)]
#[path = "opinfo/fixture.rs"]
mod fixture;
#[allow(dead_code)]
#[path = "opinfo/registry.rs"]
mod registry;
#[allow(dead_code)]
#[path = "opinfo/suite.rs"]
mod suite;

use ember_core::{DType, Device, Tensor};
use fixture::Case;
use registry::OpInfo;
use suite::{cases, no_panic};

/// How much wider the float tolerances are than the CPU suite's.
const GPU_TOLERANCE_SCALE: f64 = 10.0;

/// Ops the CUDA backend does not run for some dtypes, as (start of the case id, why). Such a
/// case must return `Err`, not a value and not a panic. A listed case that passes fails the
/// test, so the list stays current.
const NOT_ON_CUDA: &[(&str, &str)] = &[(
    "max_pool2d/i64",
    "ember's max_pool2d takes float tensors only, on every device (a known CPU difference too)",
)];

/// A failure of one case: a wrong value or a panic, or an `Err` (which is acceptable only for
/// the cases listed in [`NOT_ON_CUDA`]).
enum Failure {
    Wrong(String),
    Refused(String),
}

fn err<E: std::fmt::Display>(what: &str) -> impl FnOnce(E) -> Failure + '_ {
    move |e| Failure::Refused(format!("{what} returned Err: {e}"))
}

/// Fail with every unexpected failure; print the refusals that NOT_ON_CUDA lists.
fn report(test: &str, checked: usize, failures: Vec<(String, Failure)>) {
    assert!(checked > 0, "{test}: nothing was checked");
    let mut unexpected = Vec::new();
    let mut listed_seen = vec![false; NOT_ON_CUDA.len()];
    for (id, f) in failures {
        match f {
            Failure::Refused(m) => match NOT_ON_CUDA.iter().position(|k| id.starts_with(k.0)) {
                Some(i) => {
                    listed_seen[i] = true;
                    eprintln!("not on CUDA (listed): {id}: {m}");
                }
                None => unexpected.push(format!("{id}: {m}")),
            },
            Failure::Wrong(m) => unexpected.push(format!("{id}: {m}")),
        }
    }
    for (k, seen) in NOT_ON_CUDA.iter().zip(listed_seen) {
        if !seen {
            unexpected.push(format!("{}: listed in NOT_ON_CUDA but runs now: remove it", k.0));
        }
    }
    if !unexpected.is_empty() {
        panic!(
            "{test} on CUDA: {} of {checked} checks failed:\n  {}",
            unexpected.len(),
            unexpected.join("\n  ")
        );
    }
    eprintln!("{test} on CUDA: {checked} checks passed");
}

/// The case's input `t` as a fresh leaf on `dev`, contiguous or not.
fn on_device(t: &Tensor, dev: Device, non_contiguous: bool) -> Result<Tensor, Failure> {
    let d = t.detach().to(dev).map_err(err("to(cuda)"))?;
    Ok(if non_contiguous {
        no_panic(|| compare::non_contiguous(&d)).map_err(Failure::Wrong)?
    } else {
        d
    })
}

fn run(op: &OpInfo, case: &Case, inputs: &[Tensor], dev: Device) -> Result<Vec<Tensor>, Failure> {
    let outs = no_panic(|| op.run(inputs, &case.kwargs))
        .map_err(Failure::Wrong)?
        .map_err(err("the op"))?;
    if outs.len() != case.outputs.len() {
        return Err(Failure::Wrong(format!(
            "{} outputs, expected {}",
            outs.len(),
            case.outputs.len()
        )));
    }
    if let Some(o) = outs.iter().find(|o| o.device() != dev) {
        return Err(Failure::Wrong(format!("an output is on {}, not {dev}", o.device())));
    }
    Ok(outs)
}

fn compare(got: &Tensor, want: &Tensor, kind: compare::Kind) -> Result<(), Failure> {
    let got = got.to(Device::Cpu).map_err(err("to(cpu)"))?;
    compare::check_scaled(&got, want, kind, GPU_TOLERANCE_SCALE).map_err(Failure::Wrong)
}

fn check_forward(op: &OpInfo, case: &Case, dev: Device, non_contiguous: bool) -> Result<(), Failure> {
    let inputs = case
        .inputs
        .iter()
        .map(|t| on_device(t, dev, non_contiguous))
        .collect::<Result<Vec<_>, _>>()?;
    let outs = run(op, case, &inputs, dev)?;
    for (got, want) in outs.iter().zip(&case.outputs) {
        compare(got, want, compare::Kind::Forward)?;
    }
    Ok(())
}

fn check_grads(op: &OpInfo, case: &Case, dev: Device, non_contiguous: bool) -> Result<(), Failure> {
    let inputs = case
        .inputs
        .iter()
        .zip(&case.diff)
        .map(|(t, &d)| on_device(t, dev, non_contiguous).map(|t| if d { t.requires_grad_(true) } else { t }))
        .collect::<Result<Vec<_>, _>>()?;
    let outs = run(op, case, &inputs, dev)?;
    let cots = case
        .cots
        .iter()
        .map(|c| c.as_ref().map(|c| c.to(dev)).transpose())
        .collect::<ember_core::Result<Vec<_>>>()
        .map_err(err("to(cuda)"))?;
    no_panic(|| -> ember_core::Result<()> {
        if let ([out], [Some(cot)]) = (outs.as_slice(), cots.as_slice()) {
            return out.backward_with(cot);
        }
        let mut loss = Tensor::zeros_dtype(&[], DType::F64)?.to(dev)?;
        for (o, c) in outs.iter().zip(&cots) {
            if let Some(c) = c {
                loss = loss.add(&o.mul(c)?.sum_all())?;
            }
        }
        loss.backward()
    })
    .map_err(Failure::Wrong)?
    .map_err(err("backward"))?;
    for (i, (x, want)) in inputs.iter().zip(&case.grads).enumerate() {
        let Some(want) = want else { continue };
        let Some(got) = x.grad() else {
            return Err(Failure::Wrong(format!("input {i} got no gradient")));
        };
        if got.device() != dev {
            return Err(Failure::Wrong(format!(
                "the gradient of input {i} is on {}",
                got.device()
            )));
        }
        compare(&got, want, compare::Kind::Grad).map_err(|f| match f {
            Failure::Wrong(m) => Failure::Wrong(format!("grad of input {i}: {m}")),
            r => r,
        })?;
    }
    Ok(())
}

#[test]
fn forward_on_cuda_matches_pytorch() {
    let Some(dev) = ember_core::cuda::testing::cuda_or_skip() else {
        return;
    };
    let (mut n, mut failures) = (0, Vec::new());
    for (op, case) in cases().filter(|(_, c)| !c.error) {
        for non_contiguous in [false, true] {
            n += 1;
            if let Err(f) = check_forward(op, case, dev, non_contiguous) {
                let how = if non_contiguous { " (non-contiguous)" } else { "" };
                failures.push((format!("{}{how}", case.id()), f));
            }
        }
    }
    report("forward", n, failures);
}

#[test]
fn gradients_on_cuda_match_pytorch() {
    let Some(dev) = ember_core::cuda::testing::cuda_or_skip() else {
        return;
    };
    let (mut n, mut failures) = (0, Vec::new());
    for (op, case) in cases().filter(|(_, c)| c.diff.contains(&true)) {
        for non_contiguous in [false, true] {
            n += 1;
            if let Err(f) = check_grads(op, case, dev, non_contiguous) {
                let how = if non_contiguous { " (non-contiguous)" } else { "" };
                failures.push((format!("{}{how}", case.id()), f));
            }
        }
    }
    report("gradients", n, failures);
}

#[test]
fn error_inputs_are_rejected_on_cuda() {
    let Some(dev) = ember_core::cuda::testing::cuda_or_skip() else {
        return;
    };
    let (mut n, mut failures) = (0, Vec::new());
    for (op, case) in cases().filter(|(_, c)| c.error) {
        n += 1;
        let inputs = match case
            .inputs
            .iter()
            .map(|t| t.detach().to(dev))
            .collect::<Result<Vec<_>, _>>()
        {
            Ok(i) => i,
            Err(e) => {
                failures.push((case.id(), Failure::Wrong(format!("to(cuda) returned Err: {e}"))));
                continue;
            }
        };
        match no_panic(|| op.run(&inputs, &case.kwargs)) {
            Ok(Err(_)) => {}
            Ok(Ok(_)) => failures.push((
                case.id(),
                Failure::Wrong("PyTorch rejects this input; ember returned a value".into()),
            )),
            Err(m) => failures.push((case.id(), Failure::Wrong(format!("{m} (expected Err)")))),
        }
    }
    report("error inputs", n, failures);
}
