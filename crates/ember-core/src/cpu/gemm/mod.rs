//! ember's own f32 matrix product, for the shapes training runs most: few rows (a batch of
//! 32..512) against a weight, and the same weight many times in a row (an LSTM's `W_hh` at
//! every time step).
//!
//! The structure is the classic one (Goto / BLIS): operands are packed into panels
//! ([`pack`]), a register-blocked microkernel computes one `MR x NR` tile of C over a block of
//! k, and loops around it block k (so a B panel stays in L1) and rows of A (so the packed A
//! block stays in L2). What the `gemm` crate does not offer is [`PackedB`]: B packed once and
//! reused by every later product, which is what a recurrence wants (50 products on one
//! `W_hh`), and a thread split by column panels, so each thread keeps its half of a packed
//! weight in its own L2 from one step to the next. With so few rows, A is read in place when
//! its rows are contiguous and fill whole tiles (packing it would cost every thread as much as
//! a good part of the product); otherwise it is packed.
//!
//! Kernels: AVX-512 (8 x 32), AVX2 + FMA (6 x 16) and a portable one (4 x 8), picked at run
//! time ([`Kernel::detect`]); tests force each one available. Used today through
//! `ops::packed_matmul` and `ops::lstm` (a weight packed once, many products): there it runs
//! at ~2.3x the `gemm` crate's speed for the LSTM step. One-off products stay on the `gemm` crate
//! (`ops::matmul`), which ties or beats this kernel when B must be packed per call (measure with
//! `cargo run --release -p ember-bench --example gemm_shapes`). A matrix-vector product
//! (m == 1) is not this module's job: it gets its own gemv kernel next to this one.

#[cfg(target_arch = "x86_64")]
mod kernel_avx2;
#[cfg(target_arch = "x86_64")]
mod kernel_avx512;
mod kernel_scalar;
mod pack;

use std::cell::Cell;
use std::sync::OnceLock;

/// Depth of one k block: a 32-column B panel block is `KC * 32 * 4` bytes = 32 KiB, inside L1.
const KC: usize = 256;
/// Rows of A per block (in rows, a multiple of every MR): `MC * KC * 4` = 192 KiB of packed A
/// stays in L2 while the B panels pass by.
const MC: usize = 192;

/// A microkernel variant. `detect()` picks the fastest the CPU runs; every variant the CPU
/// supports gives the same results up to float rounding order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kernel {
    Avx512,
    Avx2,
    Scalar,
}

impl Kernel {
    /// The fastest kernel this CPU supports (detected once).
    pub fn detect() -> Kernel {
        static BEST: OnceLock<Kernel> = OnceLock::new();
        *BEST.get_or_init(|| Kernel::available()[0])
    }

    /// Every kernel this CPU can run, fastest first (tests run them all).
    pub fn available() -> Vec<Kernel> {
        let mut v = Vec::new();
        #[cfg(target_arch = "x86_64")]
        {
            if is_x86_feature_detected!("avx512f") {
                v.push(Kernel::Avx512);
            }
            if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
                v.push(Kernel::Avx2);
            }
        }
        v.push(Kernel::Scalar);
        v
    }

    /// Rows of the register tile.
    pub fn mr(self) -> usize {
        match self {
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx512 => kernel_avx512::MR,
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx2 => kernel_avx2::MR,
            _ => kernel_scalar::MR,
        }
    }

    /// Columns of the register tile (the width of a packed B panel).
    pub fn nr(self) -> usize {
        match self {
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx512 => kernel_avx512::NR,
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx2 => kernel_avx2::NR,
            _ => kernel_scalar::NR,
        }
    }

    /// One tile. `a` is the A panel, element `(i, p)` at `a[i * lda + p * ka]` (packed:
    /// `lda = 1`, `ka = mr`; A's own rows: `lda` = its row stride, `ka = 1`), and `b` the B
    /// panel (packed, `ldb = nr`, or B's own rows, `ldb` = its row stride), both starting at
    /// the tile's first k step.
    #[allow(clippy::too_many_arguments)]
    fn tile(
        self,
        kc: usize,
        (a, lda, ka): (&[f32], usize, usize),
        b: &[f32],
        ldb: usize,
        c: CPtr,
        ldc: usize,
        accumulate: bool,
        rows: usize,
        cols: usize,
    ) {
        assert!(kc > 0 && a.len() > (kc - 1) * ka + (self.mr() - 1) * lda && b.len() >= (kc - 1) * ldb + self.nr());
        assert!(rows <= self.mr() && cols <= self.nr());
        // SAFETY: the panels hold kc steps (checked above: A's k steps are `ka` apart and its
        // rows `lda`, B's k steps `ldb`); `c` points at the tile's corner in
        // an output whose extent the driver checked covers `rows` rows of stride `ldc` and
        // `cols` columns, and no other thread writes this tile. The SIMD variants are only
        // reachable for a CPU that reported the feature (`available`).
        unsafe {
            let (a, b) = (a.as_ptr(), b.as_ptr());
            match self {
                #[cfg(target_arch = "x86_64")]
                Kernel::Avx512 => kernel_avx512::kernel(kc, a, lda, ka, b, ldb, c.0, ldc, accumulate, rows, cols),
                #[cfg(target_arch = "x86_64")]
                Kernel::Avx2 => kernel_avx2::kernel(kc, a, lda, ka, b, ldb, c.0, ldc, accumulate, rows, cols),
                _ => kernel_scalar::kernel(kc, a, lda, ka, b, ldb, c.0, ldc, accumulate, rows, cols),
            }
        }
    }
}

/// A read-only strided matrix: element `(i, j)` is `data[off + i * rs + j * cs]`.
#[derive(Clone, Copy)]
pub struct MatRef<'a> {
    pub data: &'a [f32],
    pub off: usize,
    pub rs: usize,
    pub cs: usize,
}

impl MatRef<'_> {
    /// Panics unless every element of a `rows x cols` matrix lies inside `data`.
    fn check(&self, rows: usize, cols: usize) {
        if rows > 0 && cols > 0 {
            let last = self.off + (rows - 1) * self.rs + (cols - 1) * self.cs;
            assert!(last < self.data.len(), "gemm: operand view runs past its buffer");
        }
    }
}

/// B (`k x n`) packed once into the kernel's column panels, for any number of products
/// `A @ B` after ([`gemm_packed`]).
pub struct PackedB {
    kernel: Kernel,
    k: usize,
    n: usize,
    data: Vec<f32>,
}

impl PackedB {
    /// Packs `b` (`k x n`) for `kernel`.
    pub fn new(kernel: Kernel, b: &MatRef<'_>, k: usize, n: usize) -> PackedB {
        b.check(k, n);
        let nr = kernel.nr();
        let mut data = vec![0f32; n.div_ceil(nr) * k * nr];
        pack::pack_b(b, 0, n, k, nr, &mut data);
        PackedB { kernel, k, n, data }
    }

    pub fn k(&self) -> usize {
        self.k
    }

    pub fn n(&self) -> usize {
        self.n
    }

    pub fn kernel(&self) -> Kernel {
        self.kernel
    }
}

/// The output pointer shared by the threads of one product (each writes its own tiles).
#[derive(Clone, Copy)]
struct CPtr(*mut f32);
// SAFETY: threads of one product write disjoint tiles of C; the pointer outlives them (the
// driver's borrow of C spans the parallel section).
unsafe impl Send for CPtr {}
// SAFETY: as above.
unsafe impl Sync for CPtr {}

impl CPtr {
    fn at(self, i: usize) -> CPtr {
        // SAFETY: callers stay inside the output checked by the driver.
        CPtr(unsafe { self.0.add(i) })
    }
}

thread_local! {
    /// Packing buffers reused across calls (a fresh multi-hundred-KiB buffer per product would
    /// be an mmap and page faults each time). Taken out while in use, so re-entry is harmless.
    static SCRATCH_A: Cell<Vec<f32>> = const { Cell::new(Vec::new()) };
    static SCRATCH_B: Cell<Vec<f32>> = const { Cell::new(Vec::new()) };
}

fn with_scratch<R>(
    slot: &'static std::thread::LocalKey<Cell<Vec<f32>>>,
    len: usize,
    f: impl FnOnce(&mut [f32]) -> R,
) -> R {
    let mut buf = slot.with(|s| s.take());
    if buf.len() < len {
        buf.resize(len, 0.0);
    }
    let r = f(&mut buf[..len]);
    slot.with(|s| s.set(buf));
    r
}

/// Where a task's B panels come from.
enum BSource<'a> {
    Packed(&'a PackedB),
    Strided(MatRef<'a>),
}

/// `C = A @ B` (or `C += A @ B` when `accumulate`), `A` `m x k`, `B` `k x n` strided, `C`
/// row-major with row stride `ldc` (`c.len() >= (m - 1) * ldc + n`). `threads > 1` splits the
/// work over rayon's pool.
#[allow(clippy::too_many_arguments)]
pub fn gemm(
    kernel: Kernel,
    m: usize,
    k: usize,
    n: usize,
    a: &MatRef<'_>,
    b: &MatRef<'_>,
    c: &mut [f32],
    ldc: usize,
    accumulate: bool,
    threads: usize,
) {
    b.check(k, n);
    drive(kernel, m, k, n, a, BSource::Strided(*b), c, ldc, accumulate, threads);
}

/// As [`gemm`] with B packed beforehand: `C (+)= A @ B`, `A` `m x b.k()`.
pub fn gemm_packed(m: usize, a: &MatRef<'_>, b: &PackedB, c: &mut [f32], ldc: usize, accumulate: bool, threads: usize) {
    drive(
        b.kernel,
        m,
        b.k,
        b.n,
        a,
        BSource::Packed(b),
        c,
        ldc,
        accumulate,
        threads,
    );
}

#[allow(clippy::too_many_arguments)]
fn drive(
    kernel: Kernel,
    m: usize,
    k: usize,
    n: usize,
    a: &MatRef<'_>,
    b: BSource<'_>,
    c: &mut [f32],
    ldc: usize,
    accumulate: bool,
    threads: usize,
) {
    if m == 0 || n == 0 {
        return;
    }
    assert!(ldc >= n && c.len() >= (m - 1) * ldc + n, "gemm: output too small");
    if k == 0 {
        // an empty sum: the product is zero
        if !accumulate {
            for row in c.chunks_mut(ldc).take(m) {
                row[..n].fill(0.0);
            }
        }
        return;
    }
    a.check(m, k);
    let (mr, nr) = (kernel.mr(), kernel.nr());
    let (mp, np) = (m.div_ceil(mr), n.div_ceil(nr));
    let cp = CPtr(c.as_mut_ptr());
    // Split by column panels where there are enough (each thread then reads only its part of
    // B: a pre-packed weight stays in that core's L2 across calls), else by row panels.
    let threads = threads.max(1);
    let (row_tasks, col_tasks) = if threads == 1 {
        (1, 1)
    } else if np >= threads {
        (1, threads)
    } else {
        (threads.min(mp), 1)
    };
    let run = |t: usize| {
        let (ti, tj) = (t / col_tasks, t % col_tasks);
        let (p0, p1) = (ti * mp / row_tasks, (ti + 1) * mp / row_tasks);
        let (q0, q1) = (tj * np / col_tasks, (tj + 1) * np / col_tasks);
        let (r0, rows) = (p0 * mr, (p1 * mr).min(m) - p0 * mr);
        let (c0, cols) = (q0 * nr, (q1 * nr).min(n) - q0 * nr);
        if rows == 0 || cols == 0 {
            return;
        }
        // A's rows read in place where they are contiguous and fill whole tiles (few rows, as
        // a recurrence's batch: packing them costs each thread as much as a good part of the
        // product); packed otherwise
        let direct = a.cs == 1 && rows % mr == 0;
        let pack_len = if direct { 0 } else { (p1 - p0) * k * mr };
        with_scratch(&SCRATCH_A, pack_len, |scratch| {
            let ap = if direct {
                ASource::Rows {
                    data: a.data,
                    start: a.off + r0 * a.rs,
                    rs: a.rs,
                }
            } else {
                pack::pack_a(a, r0, rows, k, mr, scratch);
                ASource::Packed(scratch)
            };
            let out = cp.at(r0 * ldc + c0);
            match &b {
                BSource::Packed(pb) => {
                    let bp = BPanels {
                        data: &pb.data[q0 * k * nr..q1 * k * nr],
                        start: 0,
                        panel_step: k * nr,
                        ldb: nr,
                        tail: None,
                    };
                    block(kernel, rows, k, cols, &ap, &bp, out, ldc, accumulate);
                }
                BSource::Strided(bm) if bm.cs == 1 => {
                    // B read in place; only a partial last panel is packed
                    let full = cols / nr;
                    let tail_cols = cols - full * nr;
                    with_scratch(&SCRATCH_B, if tail_cols > 0 { k * nr } else { 0 }, |tp| {
                        if tail_cols > 0 {
                            pack::pack_b(bm, c0 + full * nr, tail_cols, k, nr, tp);
                        }
                        let bp = BPanels {
                            data: bm.data,
                            start: bm.off + c0,
                            panel_step: nr,
                            ldb: bm.rs,
                            tail: (tail_cols > 0).then_some((full, &*tp)),
                        };
                        block(kernel, rows, k, cols, &ap, &bp, out, ldc, accumulate);
                    })
                }
                BSource::Strided(bm) => with_scratch(&SCRATCH_B, (q1 - q0) * k * nr, |bp| {
                    pack::pack_b(bm, c0, cols, k, nr, bp);
                    let bp = BPanels {
                        data: bp,
                        start: 0,
                        panel_step: k * nr,
                        ldb: nr,
                        tail: None,
                    };
                    block(kernel, rows, k, cols, &ap, &bp, out, ldc, accumulate);
                }),
            }
        });
    };
    let tasks = row_tasks * col_tasks;
    if tasks == 1 {
        run(0);
    } else {
        use rayon::prelude::*;
        (0..tasks).into_par_iter().for_each(run);
    }
}

/// One thread's B column panels: packed (`[k][nr]` each), or read in place from a B whose rows
/// are contiguous (no packing pass: with few rows of A each B value is used only `m` times, so
/// a copy of B costs as much as a good part of the product), with a packed last panel where
/// the columns do not fill it (the kernel reads whole panels).
struct BPanels<'a> {
    data: &'a [f32],
    /// index of panel 0, k step 0 in `data`
    start: usize,
    /// distance between panels, and between k steps of a panel
    panel_step: usize,
    ldb: usize,
    /// `(panel index, packed [k][nr] panel)` replacing that panel
    tail: Option<(usize, &'a [f32])>,
}

impl BPanels<'_> {
    /// Panel `jp` from k step `p0` on, and its k stride.
    fn at(&self, jp: usize, p0: usize, nr: usize) -> (&[f32], usize) {
        match self.tail {
            Some((t, panel)) if t == jp => (&panel[p0 * nr..], nr),
            _ => (
                &self.data[self.start + jp * self.panel_step + p0 * self.ldb..],
                self.ldb,
            ),
        }
    }
}

/// One thread's A: packed `[k][mr]` panels, or A's own rows (contiguous, row stride `rs`).
enum ASource<'a> {
    Packed(&'a [f32]),
    Rows { data: &'a [f32], start: usize, rs: usize },
}

impl ASource<'_> {
    /// Row panel `ip` from k step `p0` on, with its row and k strides.
    fn at(&self, ip: usize, p0: usize, k: usize, mr: usize) -> (&[f32], usize, usize) {
        match *self {
            ASource::Packed(ap) => (&ap[ip * k * mr + p0 * mr..], 1, mr),
            ASource::Rows { data, start, rs } => (&data[start + ip * mr * rs + p0..], rs, 1),
        }
    }
}

/// One thread's share: `C (+)= A @ B` over A (`rows x k`) and B panels (`k x cols`),
/// blocked over k (B panel block in L1) and rows (A block in L2).
#[allow(clippy::too_many_arguments)]
fn block(
    kernel: Kernel,
    rows: usize,
    k: usize,
    cols: usize,
    ap: &ASource<'_>,
    bp: &BPanels<'_>,
    c: CPtr,
    ldc: usize,
    accumulate: bool,
) {
    let (mr, nr) = (kernel.mr(), kernel.nr());
    let (mp, np) = (rows.div_ceil(mr), cols.div_ceil(nr));
    let mc = (MC / mr).max(1);
    for p0 in (0..k).step_by(KC) {
        let kc = KC.min(k - p0);
        let acc = accumulate || p0 > 0;
        for ib in (0..mp).step_by(mc) {
            for jp in 0..np {
                let (b_panel, ldb) = bp.at(jp, p0, nr);
                let cols_here = nr.min(cols - jp * nr);
                for ip in ib..(ib + mc).min(mp) {
                    let a_panel = ap.at(ip, p0, k, mr);
                    let rows_here = mr.min(rows - ip * mr);
                    let tile = c.at(ip * mr * ldc + jp * nr);
                    kernel.tile(kc, a_panel, b_panel, ldb, tile, ldc, acc, rows_here, cols_here);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
