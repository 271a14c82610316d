//! Every CUDA C kernel source compiles to PTX with NVRTC — no GPU needed, only the NVRTC
//! library (CI installs the `nvidia-cuda-nvrtc` wheel and puts its lib folder on
//! LD_LIBRARY_PATH). A kernel that does not compile fails this test with NVRTC's log.
//!
//! Where NVRTC is missing the test prints why and passes, unless `EMBER_REQUIRE_NVRTC=1` (as
//! CI sets), in which case a missing library is a failure too.
#![cfg(feature = "cuda")]

use ember_core::cuda::{kernels, nvrtc};

fn nvrtc_or_skip() -> bool {
    match nvrtc::check_nvrtc() {
        Ok(()) => true,
        Err(e) if std::env::var("EMBER_REQUIRE_NVRTC").as_deref() == Ok("1") => {
            panic!("EMBER_REQUIRE_NVRTC=1 but NVRTC cannot be loaded: {e}")
        }
        Err(e) => {
            println!("skipped: {e}");
            false
        }
    }
}

#[test]
fn every_kernel_source_compiles_to_ptx() {
    if !nvrtc_or_skip() {
        return;
    }
    let mut failures = Vec::new();
    for (name, _) in kernels::SOURCES {
        match nvrtc::compile(name) {
            Ok(ptx) => {
                let text = ptx.to_src();
                assert!(
                    text.contains(".entry"),
                    "{name}.cu compiled to PTX with no kernel entry"
                );
            }
            Err(e) => failures.push(e.to_string()),
        }
    }
    assert!(
        failures.is_empty(),
        "kernel sources failed to compile:\n{}",
        failures.join("\n\n")
    );
}

/// Every kernel a launcher asks for exists in the PTX of the module `module_of` maps it to, so
/// a renamed kernel fails here and not on a user's GPU.
#[test]
fn every_launched_kernel_exists_in_its_module() {
    if !nvrtc_or_skip() {
        return;
    }
    let ptx = nvrtc::all_ptx().unwrap();
    for kernel in ember_core::cuda::launched_kernel_names() {
        let module = kernels::module_of(kernel).unwrap_or_else(|| panic!("no module for kernel {kernel}"));
        let text = ptx[module].to_src();
        let entry = format!(".entry {kernel}(");
        assert!(text.contains(&entry), "kernel {kernel} not found in {module}.cu's PTX");
    }
}

/// A compile error is reported as an `Err` with NVRTC's log, not a panic.
#[test]
fn a_broken_source_is_an_error_with_the_log() {
    if !nvrtc_or_skip() {
        return;
    }
    let r = cudarc::nvrtc::compile_ptx("extern \"C\" __global__ void k(float* x) { x[0] = undefined_name; }");
    assert!(r.is_err());
}
