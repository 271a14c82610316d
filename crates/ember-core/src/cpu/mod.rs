//! CPU kernels: contiguous fast paths the compiler vectorizes, strided fallbacks, and rayon
//! parallelism only above a size threshold so small ops stay on the calling thread.

pub mod conv_kernels;
pub mod copy;
pub mod elementwise;
pub mod gemm;
pub mod gemv;
pub mod lstm_kernels;
pub mod math;
pub mod pair;
pub mod pool_kernels;
pub mod upsample_kernels;
pub mod vmath;

/// Below this many elements an elementwise op runs on the calling thread: forking to rayon
/// costs a few microseconds, more than the work itself.
pub const PAR_THRESHOLD: usize = 1 << 15;

/// Chunk size for parallel elementwise loops (a multiple of every SIMD width).
pub const PAR_CHUNK: usize = 1 << 14;
