//! Device-parametrized tests: write a test body once, get one `#[test]` per device.
//!
//! ```ignore
//! ember_core::device_tests! {
//!     fn add_works(dev) {
//!         let x = Tensor::new(&[1.0f32, 2.0]).to(dev)?;
//!         assert_eq!(x.add(&x)?.to_vec::<f32>()?, vec![2.0, 4.0]);
//!         Ok(())
//!     }
//! }
//! ```
//! expands to a module `add_works` with tests `cpu` and `cuda`. The CUDA instance runs where a
//! GPU can be used and otherwise prints `skipped: no CUDA device (<reason>)` and passes, so the
//! same suite runs on every machine and is real wherever a GPU exists. With
//! `EMBER_REQUIRE_CUDA=1` (set by `tools/cuda_device_check.sh` on a GPU machine) a skip is a
//! failure instead, so a run meant for the GPU cannot pass without using it.

/// Why the CUDA instance of a device test must skip here, if it must.
pub fn cuda_skip_reason() -> Option<String> {
    super::unavailable_reason(0)
}

/// `cuda:0` for a test that needs a GPU, or `None` after printing why it skips; a panic instead
/// under `EMBER_REQUIRE_CUDA=1`. For GPU-only tests outside `device_tests!`.
pub fn cuda_or_skip() -> Option<crate::Device> {
    match cuda_skip_reason() {
        Some(why) if std::env::var("EMBER_REQUIRE_CUDA").as_deref() == Ok("1") => {
            panic!("EMBER_REQUIRE_CUDA=1 but no CUDA device: {why}")
        }
        Some(why) => {
            println!("skipped: no CUDA device ({why})");
            None
        }
        None => Some(crate::Device::Cuda(0)),
    }
}

/// See the module docs.
#[macro_export]
macro_rules! device_tests {
    ($(fn $name:ident($dev:ident) $body:block)*) => {
        $(
            #[allow(non_snake_case)]
            mod $name {
                #[allow(unused_imports)]
                use super::*;

                fn body($dev: $crate::Device) -> $crate::Result<()> $body

                #[test]
                fn cpu() {
                    body($crate::Device::Cpu).unwrap();
                }

                #[test]
                fn cuda() {
                    if let Some(dev) = $crate::cuda::testing::cuda_or_skip() {
                        body(dev).unwrap();
                    }
                }
            }
        )*
    };
}
