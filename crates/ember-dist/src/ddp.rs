//! `DistributedDataParallel`: data-parallel training of one model replica per rank.
//!
//! At construction rank 0's parameters and buffers are broadcast, so every replica starts equal.
//! The parameters are split into buckets of about `bucket_cap_mib` (in reverse registration order,
//! roughly the order backward produces their gradients). A gradient hook on each parameter copies
//! its gradient into its bucket; a full bucket starts a non-blocking all-reduce (mean) at once,
//! while backward goes on computing earlier layers, and later hooks let the transfer progress. When
//! the last parameter's gradient arrives, the hook waits for the buckets and sets every `.grad` to
//! the averaged values (views of the reduced buckets: no further copy). So `loss.backward()` alone
//! leaves averaged gradients, and any optimizer or trainer works unchanged.
//!
//! Buckets start in the same order on every rank (a bucket waits for the ones before it), as MPI
//! requires. Inside [`DistributedDataParallel::no_sync`] gradients only accumulate locally (gradient
//! accumulation); the next backward outside it averages the accumulated sums.

use crate::flat::FlatBuffer;
use crate::group::{ProcessGroup, Work};
use crate::op::ReduceOp;
use ember_core::{autograd, DType, Error, Result, Tensor};
use ember_nn::{Module, Visitor};
use std::sync::{Arc, Mutex, MutexGuard, Weak};

/// Options of [`DistributedDataParallel::with_options`].
#[derive(Debug, Clone)]
pub struct DdpOptions {
    /// Target bucket size in MiB (PyTorch's default is 25; smaller buckets start sooner).
    pub bucket_cap_mib: f64,
    /// Allow parameters that get no gradient in a step (they count as zero). Costs the gradient
    /// of the model input, which marks the end of backward. Without it such a step is an error.
    pub find_unused_parameters: bool,
}

impl Default for DdpOptions {
    fn default() -> Self {
        DdpOptions {
            bucket_cap_mib: 4.0,
            find_unused_parameters: false,
        }
    }
}

/// A module whose gradients are averaged over the ranks of a process group during backward.
pub struct DistributedDataParallel<M: Module> {
    module: M,
    group: ProcessGroup,
    reducer: Arc<Mutex<Reducer>>,
    /// A scalar leaf whose gradient arrives last in backward (only with find_unused_parameters).
    end_marker: Option<Tensor>,
}

struct Bucket {
    dtype: DType,
    len: usize,
    /// (parameter index, offset in the bucket)
    members: Vec<(usize, usize)>,
    buf: Option<FlatBuffer>,
    remaining: usize,
}

struct Reducer {
    group: ProcessGroup,
    params: Vec<Tensor>,
    names: Vec<String>,
    /// parameter index -> (bucket, offset)
    slot: Vec<(usize, usize)>,
    buckets: Vec<Bucket>,
    works: Vec<Option<Work>>,
    ready: Vec<bool>,
    n_ready: usize,
    next_launch: usize,
    sync: bool,
    /// An error raised inside a hook (hooks cannot return one), reported by the next forward.
    error: Option<Error>,
}

/// Returned by [`DistributedDataParallel::no_sync`]; synchronization resumes when it drops.
pub struct NoSyncGuard {
    reducer: Weak<Mutex<Reducer>>,
}

impl Drop for NoSyncGuard {
    fn drop(&mut self) {
        if let Some(r) = self.reducer.upgrade() {
            lock(&r).sync = true;
        }
    }
}

fn lock(r: &Mutex<Reducer>) -> MutexGuard<'_, Reducer> {
    r.lock().unwrap_or_else(|e| e.into_inner())
}

fn ddp_err(msg: String) -> Error {
    Error::Arg {
        op: "DistributedDataParallel",
        msg,
    }
}

impl<M: Module> DistributedDataParallel<M> {
    /// Wrap `module` (default options: 4 MiB buckets, every parameter must get a gradient).
    pub fn new(module: M, group: ProcessGroup) -> Result<Self> {
        Self::with_options(module, group, DdpOptions::default())
    }

    pub fn with_options(module: M, group: ProcessGroup, options: DdpOptions) -> Result<Self> {
        if options.bucket_cap_mib.is_nan() || options.bucket_cap_mib <= 0.0 {
            return Err(ddp_err(format!(
                "bucket_cap_mib must be positive, got {}",
                options.bucket_cap_mib
            )));
        }
        // every replica starts from rank 0's weights
        {
            let _g = autograd::no_grad();
            for (_, p) in module.named_parameters() {
                group.broadcast(&p, 0)?;
            }
            for (_, b) in module.named_buffers() {
                if b.dtype() != DType::Bool {
                    group.broadcast(&b, 0)?;
                }
            }
        }
        let (names, params): (Vec<String>, Vec<Tensor>) = module
            .named_parameters()
            .into_iter()
            .filter(|(_, p)| p.requires_grad())
            .unzip();
        let cap = (options.bucket_cap_mib * 1024.0 * 1024.0) as usize;
        let (buckets, slot) = plan_buckets(&params, cap);
        let n = params.len();
        let reducer = Arc::new(Mutex::new(Reducer {
            group: group.clone(),
            params: params.clone(),
            names,
            slot,
            works: (0..buckets.len()).map(|_| None).collect(),
            buckets,
            ready: vec![false; n],
            n_ready: 0,
            next_launch: 0,
            sync: true,
            error: None,
        }));
        for (i, p) in params.iter().enumerate() {
            // Weak: the parameter owns its hook, the hook must not own the parameter back
            let weak = Arc::downgrade(&reducer);
            p.register_hook(move |g| {
                let r = weak.upgrade()?;
                let mut r = lock(&r);
                r.on_grad(i, g)
            });
        }
        let end_marker = if options.find_unused_parameters {
            let m = Tensor::zeros(&[]).requires_grad_(true);
            let weak = Arc::downgrade(&reducer);
            m.register_hook(move |_| {
                let r = weak.upgrade()?;
                let mut r = lock(&r);
                r.on_backward_end();
                None
            });
            Some(m)
        } else {
            None
        };
        Ok(DistributedDataParallel {
            module,
            group,
            reducer,
            end_marker,
        })
    }

    /// The wrapped module.
    pub fn module(&self) -> &M {
        &self.module
    }

    pub fn group(&self) -> &ProcessGroup {
        &self.group
    }

    /// How the parameters were bucketed: the parameter names of each bucket, in launch order.
    pub fn buckets(&self) -> Vec<Vec<String>> {
        let r = lock(&self.reducer);
        r.buckets
            .iter()
            .map(|b| b.members.iter().map(|&(p, _)| r.names[p].clone()).collect())
            .collect()
    }

    /// Skip gradient averaging until the guard drops: backward passes only accumulate local
    /// gradients (gradient accumulation over several micro-batches).
    pub fn no_sync(&self) -> NoSyncGuard {
        lock(&self.reducer).sync = false;
        NoSyncGuard {
            reducer: Arc::downgrade(&self.reducer),
        }
    }

    /// Errors from the last backward (a failed collective, parameters without gradient).
    pub fn check(&self) -> Result<()> {
        let mut r = lock(&self.reducer);
        if let Some(e) = r.error.take() {
            r.reset();
            return Err(e);
        }
        if r.n_ready > 0 {
            let missing: Vec<&str> = (0..r.params.len())
                .filter(|&i| !r.ready[i])
                .map(|i| r.names[i].as_str())
                .collect();
            let msg = format!(
                "the last backward produced no gradient for {} parameter(s): {}; their buckets could \
                 not be averaged. Use every parameter in forward, or build with \
                 DdpOptions {{ find_unused_parameters: true, .. }}",
                missing.len(),
                missing.join(", ")
            );
            r.reset();
            return Err(ddp_err(msg));
        }
        Ok(())
    }
}

impl<M: Module> Module for DistributedDataParallel<M> {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        self.check()?;
        match &self.end_marker {
            Some(m) => {
                // a node older than the whole model: its gradient is computed last in backward
                let x2 = autograd::record("ddp_backward_end", x.detach(), &[m], |_| {
                    Box::new(|_g| Ok(vec![Some(Tensor::zeros(&[]))]))
                });
                self.module.call(&x2)
            }
            None => self.module.call(x),
        }
    }
    // the wrapper is transparent: same parameter names and state dict as the module
    fn visit(&self, v: &mut dyn Visitor) {
        self.module.visit(v)
    }
    fn set_own_training(&self, training: bool) {
        self.module.set_own_training(training)
    }
    fn own_training(&self) -> Option<bool> {
        self.module.own_training()
    }
    fn type_name(&self) -> String {
        self.module.type_name()
    }
    fn extra_repr(&self) -> String {
        self.module.extra_repr()
    }
}

/// Buckets of consecutive same-dtype parameters, from the last parameter to the first.
fn plan_buckets(params: &[Tensor], cap_bytes: usize) -> (Vec<Bucket>, Vec<(usize, usize)>) {
    let mut buckets: Vec<Bucket> = Vec::new();
    let mut slot = vec![(0, 0); params.len()];
    for i in (0..params.len()).rev() {
        let p = &params[i];
        let bytes = p.numel() * p.dtype().size_in_bytes();
        let fits = buckets
            .last()
            .is_some_and(|b| b.dtype == p.dtype() && b.len * p.dtype().size_in_bytes() + bytes <= cap_bytes);
        if !fits {
            buckets.push(Bucket {
                dtype: p.dtype(),
                len: 0,
                members: Vec::new(),
                buf: None,
                remaining: 0,
            });
        }
        let b = buckets.len() - 1;
        let bucket = &mut buckets[b];
        slot[i] = (b, bucket.len);
        bucket.members.push((i, bucket.len));
        bucket.len += p.numel();
        bucket.remaining += 1;
    }
    (buckets, slot)
}

impl Reducer {
    /// A parameter's gradient of this backward is final: bucket it, start full buckets, and
    /// when it is the last one, finish. Returns the replacement for this gradient, if any.
    fn on_grad(&mut self, i: usize, g: &Tensor) -> Option<Tensor> {
        if !self.sync || self.error.is_some() {
            return None;
        }
        match self.add_grad(i, g) {
            Ok(r) => r,
            Err(e) => {
                self.error = Some(e);
                None
            }
        }
    }

    fn add_grad(&mut self, i: usize, g: &Tensor) -> Result<Option<Tensor>> {
        if self.ready[i] {
            return Err(ddp_err(format!(
                "parameter {} got two gradients in one backward before they were averaged",
                self.names[i]
            )));
        }
        // under no_sync earlier backwards accumulated into .grad: average the sum
        let full = match self.params[i].grad() {
            Some(prev) => prev.add(&g.reshape_to(prev.shape())?)?,
            None => g.clone(),
        };
        let (b, off) = self.slot[i];
        let bucket = &mut self.buckets[b];
        if bucket.buf.is_none() {
            bucket.buf = Some(FlatBuffer::zeros(bucket.dtype, bucket.len)?);
        }
        bucket.buf.as_mut().expect("allocated above").write_at(off, &full)?;
        bucket.remaining -= 1;
        self.ready[i] = true;
        self.n_ready += 1;
        self.launch_ready()?;
        if self.n_ready == self.params.len() {
            return self.finish(Some(i));
        }
        Ok(None)
    }

    /// Start every full bucket whose predecessors have started; let the others progress.
    fn launch_ready(&mut self) -> Result<()> {
        while self.next_launch < self.buckets.len() && self.buckets[self.next_launch].remaining == 0 {
            let b = self.next_launch;
            let buf = match self.buckets[b].buf.take() {
                Some(buf) => buf,
                None => FlatBuffer::zeros(self.buckets[b].dtype, self.buckets[b].len)?,
            };
            self.works[b] = Some(self.group.all_reduce_async(buf, ReduceOp::Mean)?);
            self.next_launch += 1;
        }
        for w in self.works.iter_mut().flatten() {
            w.test()?;
        }
        Ok(())
    }

    /// With find_unused_parameters: backward is over; parameters without a gradient count as zero.
    fn on_backward_end(&mut self) {
        if !self.sync || self.error.is_some() || self.n_ready == 0 {
            return;
        }
        let r = (|| {
            for i in 0..self.params.len() {
                if !self.ready[i] {
                    let (b, _) = self.slot[i];
                    let bucket = &mut self.buckets[b];
                    if bucket.buf.is_none() {
                        bucket.buf = Some(FlatBuffer::zeros(bucket.dtype, bucket.len)?);
                    }
                    // the slot is zero already (fresh buffer), unless .grad was accumulated
                    if let Some(prev) = self.params[i].grad() {
                        let off = self.slot[i].1;
                        bucket.buf.as_mut().expect("allocated above").write_at(off, &prev)?;
                    }
                    bucket.remaining -= 1;
                    self.ready[i] = true;
                    self.n_ready += 1;
                }
            }
            self.launch_ready()?;
            self.finish(None).map(|_| ())
        })();
        if let Err(e) = r {
            self.error = Some(e);
        }
    }

    /// Wait for every bucket and point each `.grad` at its averaged slice. `last` is the parameter
    /// whose hook is running: the engine accumulates the returned tensor into its `.grad` itself.
    fn finish(&mut self, last: Option<usize>) -> Result<Option<Tensor>> {
        let mut replacement = None;
        for b in 0..self.buckets.len() {
            let work = self.works[b]
                .take()
                .ok_or_else(|| ddp_err(format!("bucket {b} was never started")))?;
            let flat = work.wait()?.into_tensor();
            for &(p, off) in &self.buckets[b].members {
                let param = &self.params[p];
                let view = flat.narrow(0, off, param.numel())?.reshape_to(param.shape())?;
                if Some(p) == last {
                    param.set_grad(None);
                    replacement = Some(view);
                } else {
                    param.set_grad(Some(view));
                }
            }
        }
        self.reset();
        Ok(replacement)
    }

    fn reset(&mut self) {
        self.ready.iter_mut().for_each(|r| *r = false);
        self.n_ready = 0;
        self.next_launch = 0;
        for b in &mut self.buckets {
            b.remaining = b.members.len();
            b.buf = None;
        }
        // a failed step may leave work in flight: dropping it waits for it
        self.works.iter_mut().for_each(|w| *w = None);
    }
}
