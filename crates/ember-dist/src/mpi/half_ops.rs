//! MPI has no f16 / bf16 types: those travel as 16-bit integers and reduce with these user-defined
//! operators (each pair is combined in f32 and rounded back, as PyTorch's CPU gloo back-end does).

use half::{bf16, f16};
use mpi::ffi;
use std::os::raw::{c_int, c_void};

macro_rules! half_op {
    ($name:ident, $t:ty, $f:expr) => {
        /// # Safety
        /// Called by MPI with two buffers of `*len` elements of the type the operator was made for.
        unsafe extern "C" fn $name(inv: *mut c_void, inout: *mut c_void, len: *mut c_int, _dt: *mut ffi::MPI_Datatype) {
            let n = *len as usize;
            let a = std::slice::from_raw_parts(inv as *const $t, n);
            let b = std::slice::from_raw_parts_mut(inout as *mut $t, n);
            let f: fn(f32, f32) -> f32 = $f;
            for (x, y) in a.iter().zip(b.iter_mut()) {
                *y = <$t>::from_f32(f(x.to_f32(), y.to_f32()));
            }
        }
    };
}

half_op!(f16_sum, f16, |a, b| a + b);
half_op!(f16_max, f16, f32::max);
half_op!(f16_min, f16, f32::min);
half_op!(bf16_sum, bf16, |a, b| a + b);
half_op!(bf16_max, bf16, f32::max);
half_op!(bf16_min, bf16, f32::min);

/// The six operators: f16 sum/max/min, then bf16 sum/max/min.
pub(crate) fn create() -> [ffi::MPI_Op; 6] {
    let fns: [ffi::MPI_User_function; 6] = [
        Some(f16_sum),
        Some(f16_max),
        Some(f16_min),
        Some(bf16_sum),
        Some(bf16_max),
        Some(bf16_min),
    ];
    fns.map(|f| {
        let mut op = std::mem::MaybeUninit::<ffi::MPI_Op>::uninit();
        // SAFETY: MPI is initialized; the functions have MPI_User_function's signature
        unsafe {
            ffi::MPI_Op_create(f, 1, op.as_mut_ptr());
            op.assume_init()
        }
    })
}
