//! The per-epoch `data_wait_fraction`: the share of training time the model spent waiting for
//! the next batch. A loader that sleeps before every batch must show up as mostly waiting; the
//! same batches handed over at once must not.

use ember_core::{DType, Result, Tensor};
use ember_nn::{functional, Linear, Module};
use ember_optim::{Sgd, SgdConfig};
use ember_train::{BatchSource, Trainer};
use std::time::Duration;

/// Four batches of 8 examples, each delayed by `delay` before it is handed over.
struct SlowSource {
    delay: Duration,
}

impl BatchSource for SlowSource {
    fn batches_per_epoch(&self) -> usize {
        4
    }

    fn batches(&self, _epoch: u64, start: usize) -> Box<dyn Iterator<Item = Result<(Tensor, Tensor)>> + '_> {
        Box::new((start..4).map(move |_| {
            std::thread::sleep(self.delay);
            Ok((Tensor::randn(&[8, 4]), Tensor::zeros_dtype(&[8], DType::I64)?))
        }))
    }
}

fn wait_fraction(delay: Duration) -> f64 {
    let model = Linear::new(4, 3);
    let mut opt = Sgd::new(model.parameters(), SgdConfig::new(0.1)).unwrap();
    let report = Trainer::new(&model, &mut opt, |out: &Tensor, y: &Tensor| {
        functional::cross_entropy(out, y, &Default::default())
    })
    .progress(false)
    .fit(&SlowSource { delay }, None)
    .unwrap();
    let f = report.history[0].data_wait_fraction;
    assert!((0.0..=1.0).contains(&f), "fraction out of range: {f}");
    f
}

#[test]
fn a_slow_loader_is_reported_as_waiting() {
    // 4 x 50 ms of sleeping against a few microseconds of a 4->3 linear step
    let slow = wait_fraction(Duration::from_millis(50));
    assert!(slow > 0.9, "a loader that sleeps 50 ms per batch: wait fraction {slow}");
}

#[test]
fn a_ready_loader_is_not_reported_as_waiting() {
    let fast = wait_fraction(Duration::ZERO);
    assert!(fast < 0.9, "batches handed over at once: wait fraction {fast}");
}

#[test]
fn the_fraction_is_in_the_json_line() {
    let m = ember_train::EpochMetrics {
        data_wait_fraction: 0.25,
        ..Default::default()
    };
    assert!(
        m.to_json_line().contains("\"data_wait_fraction\":0.25"),
        "{}",
        m.to_json_line()
    );
    assert_eq!(m.get("data_wait_fraction"), Some(0.25));
}
