//! Run the chunks of one small job on the calling thread and one persistent helper thread,
//! with a fork-join cost well under a microsecond when the helper is awake.
//!
//! Why not rayon: user code calls ops from a thread outside rayon's pool, and a rayon `join`
//! from outside injects the job, wakes a worker and blocks the caller on a condvar — measured
//! 5-25 us per call on this 2-core machine (`ember-bench --example fork_cost`), more than a
//! whole batch-1 matrix-vector product. Here the caller works too, and the helper spins for a
//! short while after each job (like an OpenMP worker), so back-to-back small ops pay a few
//! atomic operations each. After [`SPIN`] without work the helper parks, and the next job
//! wakes it (one futex call).
//!
//! The caller takes chunks from the front and the helper from the back, one at a time, until
//! they meet. On a quiet machine each thread gets about the same half of the job on every call
//! (so a weight matrix split by rows stays in each core's own L2); when the helper is late
//! (parked, or descheduled on a busy machine) the caller simply takes more chunks, so a slow
//! helper costs at most the one chunk it is running.
//!
//! Only one job runs at a time: a second caller (another user thread, a rayon worker inside a
//! larger parallel op) finds the pair busy and runs its chunks itself, so nesting is safe.
//!
//! On a loaded machine (more runnable threads than cores) a spinning helper hurts: it takes
//! time slices from the caller, and when it is descheduled holding a chunk the caller waits a
//! whole slice for it. So the caller watches each job ([`Backoff`]): when the helper stalled it
//! mid-job, or took no chunk of several jobs in a row, the pair runs solo (chunks in order on
//! the caller, the helper parks) for a spell, then tries again. The spell starts short
//! ([`SOLO_MIN`]: a virtual core is now and then held up by its host for a moment, which says
//! little about the next millisecond) and doubles while the trouble repeats, up to
//! [`SOLO_MAX`] (another process keeps the second core busy).

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::*};
use std::sync::{Mutex, OnceLock};
use std::thread::Thread;
use std::time::{Duration, Instant};

/// How long the helper spins waiting for the next job before it parks: long enough to span
/// the gaps between the ops of a small model, short enough not to burn a core for long after.
const SPIN: Duration = Duration::from_micros(200);

/// The first solo spell after the helper was found late or stalled.
const SOLO_MIN: Duration = Duration::from_millis(2);

/// The longest solo spell, reached when the trouble comes back after every spell.
const SOLO_MAX: Duration = Duration::from_millis(64);

/// A spell of this long without trouble brings the next solo spell back to [`SOLO_MIN`].
const CALM: Duration = Duration::from_millis(500);

/// Jobs in a row the helper may miss (take no chunk of) before the pair goes solo.
const MISSES: u32 = 3;

/// The caller's record of how the helper kept up: decides when the pair runs solo.
#[derive(Debug, Default)]
pub struct Backoff {
    misses: u32,
    solo_until: Option<Instant>,
    /// The length of the last solo spell and when it was set (none yet: none).
    last_spell: Option<(Duration, Instant)>,
}

impl Backoff {
    /// Whether jobs should run solo at `now`.
    pub fn solo(&mut self, now: Instant) -> bool {
        match self.solo_until {
            Some(t) if now < t => true,
            Some(_) => {
                self.solo_until = None;
                false
            }
            None => false,
        }
    }

    /// Records a finished job: how many chunks the helper ran, whether the caller had to
    /// wait for a chunk the helper was holding (it was descheduled mid-chunk), and whether the
    /// job had to wake the parked helper. Waking takes a while (tens of microseconds where the
    /// idle core is a halted virtual CPU), so a woken helper missing the job says nothing
    /// about the machine: counting those misses sent the pair solo again right after each
    /// solo spell, and the helper never caught up.
    pub fn record(&mut self, helper_chunks: usize, stalled: bool, woken: bool, now: Instant) {
        if helper_chunks > 0 {
            self.misses = 0;
        } else if !woken {
            self.misses += 1;
        }
        if stalled || self.misses >= MISSES {
            self.misses = 0;
            let spell = match self.last_spell {
                Some((len, at)) if now.saturating_duration_since(at) < len + CALM => (len * 2).min(SOLO_MAX),
                _ => SOLO_MIN,
            };
            self.last_spell = Some((spell, now));
            self.solo_until = Some(now + spell);
        }
    }
}

/// Most chunks one job may have (they are counted in 16 bits).
pub const MAX_CHUNKS: usize = u16::MAX as usize;

/// A borrowed job, sent to the helper as a raw pointer (the caller waits for every chunk the
/// helper took before the borrow ends).
#[derive(Clone, Copy)]
struct JobRef(*const (dyn Fn(usize) + Sync));

// SAFETY: the pointee is `Sync`, and `run` keeps it alive until the helper has finished with it.
unsafe impl Send for JobRef {}

/// The chunks not yet taken of job `id`: `front..back`, packed in one word so that a claim is
/// one compare-exchange that also checks the job is still the current one.
fn pack(id: u32, front: u16, back: u16) -> u64 {
    (u64::from(id) << 32) | (u64::from(front) << 16) | u64::from(back)
}

fn unpack(w: u64) -> (u32, u16, u16) {
    ((w >> 32) as u32, (w >> 16) as u16, w as u16)
}

struct Helper {
    /// The id of the last posted job.
    posted: AtomicU64,
    /// The untaken chunks of the current job (see `pack`).
    range: AtomicU64,
    /// Chunks of the current job that are finished (run, failed, or dropped after a panic).
    done: AtomicUsize,
    /// Chunks of the current job the helper took.
    helper_took: AtomicUsize,
    /// How the helper kept up (only the caller holding the pair touches it).
    backoff: Mutex<Backoff>,
    job: Mutex<Option<JobRef>>,
    /// The helper is parked (or about to park): the caller must unpark it.
    sleeping: AtomicBool,
    /// A chunk run by the helper panicked.
    panicked: AtomicBool,
    /// A caller holds the pair.
    busy: AtomicBool,
    thread: OnceLock<Thread>,
}

static HELPER: OnceLock<&'static Helper> = OnceLock::new();

fn helper() -> &'static Helper {
    HELPER.get_or_init(|| {
        let h: &'static Helper = Box::leak(Box::new(Helper {
            posted: AtomicU64::new(0),
            range: AtomicU64::new(0),
            done: AtomicUsize::new(0),
            helper_took: AtomicUsize::new(0),
            backoff: Mutex::new(Backoff::default()),
            job: Mutex::new(None),
            sleeping: AtomicBool::new(false),
            panicked: AtomicBool::new(false),
            busy: AtomicBool::new(false),
            thread: OnceLock::new(),
        }));
        let t = std::thread::Builder::new()
            .name("ember-pair".into())
            .spawn(move || helper_loop(h))
            .expect("spawn ember's pair helper thread");
        let _ = h.thread.set(t.thread().clone());
        h
    })
}

/// Take one chunk of job `id`: from the front (the caller) or the back (the helper).
fn claim(h: &Helper, id: u32, from_back: bool) -> Option<usize> {
    let mut cur = h.range.load(Acquire);
    loop {
        let (jid, front, back) = unpack(cur);
        if jid != id || front >= back {
            return None;
        }
        let (next, chunk) = if from_back {
            (pack(id, front, back - 1), back - 1)
        } else {
            (pack(id, front + 1, back), front)
        };
        match h.range.compare_exchange_weak(cur, next, AcqRel, Acquire) {
            Ok(_) => return Some(usize::from(chunk)),
            Err(now) => cur = now,
        }
    }
}

fn helper_loop(h: &'static Helper) {
    let mut seen = 0u64;
    loop {
        let mut since = Instant::now();
        let mut spins = 0u32;
        while h.posted.load(Acquire) == seen {
            std::hint::spin_loop();
            spins = spins.wrapping_add(1);
            if spins.is_multiple_of(256) && since.elapsed() > SPIN {
                // SeqCst on both sides: either the caller sees `sleeping` and unparks, or we
                // see its new job here and do not park
                h.sleeping.store(true, SeqCst);
                if h.posted.load(SeqCst) == seen {
                    std::thread::park();
                }
                h.sleeping.store(false, SeqCst);
                since = Instant::now();
            }
        }
        seen = h.posted.load(Acquire);
        while let Some(c) = claim(h, seen as u32, true) {
            h.helper_took.fetch_add(1, Relaxed);
            let job = h.job.lock().unwrap_or_else(|e| e.into_inner()).expect("a posted job");
            // SAFETY: we hold an unfinished chunk of job `seen`, so its caller is still waiting
            // (it returns only once `done` counts every chunk) and the closure is alive; the
            // slot holds this job's pointer until then.
            let f = unsafe { &*job.0 };
            if catch_unwind(AssertUnwindSafe(|| f(c))).is_err() {
                h.panicked.store(true, Release);
            }
            h.done.fetch_add(1, Release);
        }
    }
}

/// After the caller's last chunk: drop the chunks nobody took (after a panic), wait until
/// every chunk is finished (so the caller's borrow outlives the helper's use of it), note how
/// the helper kept up, release the pair. True when a chunk run by the helper panicked.
fn finish(h: &Helper, id: u32, chunks: usize, woken: bool) -> bool {
    let mut cur = h.range.load(Acquire);
    loop {
        let (_, front, back) = unpack(cur);
        let left = usize::from(back.saturating_sub(front));
        match h
            .range
            .compare_exchange_weak(cur, pack(id, back, back), AcqRel, Acquire)
        {
            Ok(_) => {
                h.done.fetch_add(left, Release);
                break;
            }
            Err(now) => cur = now,
        }
    }
    let mut spins = 0u32;
    let mut stalled = false;
    while h.done.load(Acquire) != chunks {
        std::hint::spin_loop();
        spins = spins.wrapping_add(1);
        if spins > 1 << 12 {
            // the helper was descheduled mid-chunk (a busy machine): let it run
            stalled = true;
            std::thread::yield_now();
        }
    }
    let took = h.helper_took.load(Relaxed);
    lock(&h.backoff).record(took, stalled, woken, Instant::now());
    // read before releasing the pair, so the flag is this job's
    let helper_panicked = h.panicked.swap(false, AcqRel);
    h.busy.store(false, Release);
    helper_panicked
}

/// Run `f(c)` for every chunk `c < chunks` (at most [`MAX_CHUNKS`]), on the calling thread and
/// the helper when the rayon pool allows more than one thread and the pair is free, else all
/// here in order. A panic in any chunk propagates to the caller once no chunk is running.
///
/// `EMBER_PAIR=0` turns the helper off (every job then runs in order on the caller). On a
/// quiet 2-core machine it takes W8's batch-1 MLP from ~25 to ~16 us; on a loaded one the
/// caller's [`Backoff`] sends the pair solo.
pub fn run(chunks: usize, f: &(dyn Fn(usize) + Sync)) {
    static ON: OnceLock<bool> = OnceLock::new();
    let on = *ON.get_or_init(|| std::env::var("EMBER_PAIR").map_or(true, |v| v != "0"));
    run_with(on, chunks, f)
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// `run`, with the helper allowed or not.
fn run_with(helper_on: bool, chunks: usize, f: &(dyn Fn(usize) + Sync)) {
    assert!(chunks <= MAX_CHUNKS, "pair::run: {chunks} chunks, at most {MAX_CHUNKS}");
    if !helper_on || chunks < 2 || rayon::current_num_threads() < 2 {
        (0..chunks).for_each(f);
        return;
    }
    let h = helper();
    if h.busy.swap(true, Acquire) {
        (0..chunks).for_each(f);
        return;
    }
    if lock(&h.backoff).solo(Instant::now()) {
        h.busy.store(false, Release);
        (0..chunks).for_each(f);
        return;
    }
    // SAFETY (of the lifetime erasure): `finish` below blocks until every chunk is finished,
    // before `f`'s borrow ends, on every path out of this function (the caller's chunks run
    // under catch_unwind).
    let ptr: *const (dyn Fn(usize) + Sync + '_) = f;
    let ptr: *const (dyn Fn(usize) + Sync + 'static) = unsafe { std::mem::transmute(ptr) };
    *h.job.lock().unwrap_or_else(|e| e.into_inner()) = Some(JobRef(ptr));
    h.done.store(0, Relaxed);
    h.helper_took.store(0, Relaxed);
    let next = h.posted.load(Relaxed) + 1;
    let id = next as u32;
    h.range.store(pack(id, 0, chunks as u16), Release);
    h.posted.store(next, SeqCst);
    let woken = h.sleeping.load(SeqCst);
    if woken {
        if let Some(t) = h.thread.get() {
            t.unpark();
        }
    }
    let mut failure = None;
    while let Some(c) = claim(h, id, false) {
        let r = catch_unwind(AssertUnwindSafe(|| f(c)));
        h.done.fetch_add(1, Release);
        if let Err(e) = r {
            failure = Some(e);
            break;
        }
    }
    let helper_panicked = finish(h, id, chunks, woken);
    if let Some(e) = failure {
        std::panic::resume_unwind(e);
    }
    if helper_panicked {
        panic!("ember: a kernel chunk run on the pair helper thread panicked");
    }
}

/// Split `n` items into chunks of `per` (a multiple of `align`, at least `min`), about `parts`
/// of them: the chunk size.
pub fn chunk_len(n: usize, parts: usize, align: usize, min: usize) -> usize {
    let align = align.max(1);
    let per = n.div_ceil(parts.max(1)).max(min).max(1);
    per.div_ceil(align) * align
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count_runs(chunks: usize) -> Vec<u64> {
        let hits: Vec<AtomicU64> = (0..chunks).map(|_| AtomicU64::new(0)).collect();
        run_with(true, chunks, &|c| {
            hits[c].fetch_add(1, SeqCst);
        });
        hits.iter().map(|h| h.load(SeqCst)).collect()
    }

    #[test]
    fn every_chunk_runs_once() {
        for round in 0..2000 {
            let chunks = round % 9;
            assert_eq!(count_runs(chunks), vec![1; chunks]);
        }
    }

    #[test]
    fn nested_and_concurrent_calls_run_inline() {
        let total = AtomicU64::new(0);
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| {
                    for _ in 0..200 {
                        run_with(true, 3, &|_| {
                            run_with(true, 2, &|_| {
                                total.fetch_add(1, SeqCst);
                            })
                        });
                    }
                });
            }
        });
        assert_eq!(total.load(SeqCst), 4 * 200 * 6);
    }

    #[test]
    fn after_a_long_pause_the_parked_helper_wakes() {
        assert_eq!(count_runs(4), vec![1; 4]);
        std::thread::sleep(SPIN * 5);
        assert_eq!(count_runs(4), vec![1; 4]);
    }

    #[test]
    fn a_panic_in_any_chunk_propagates() {
        for bad in 0..4 {
            let r = catch_unwind(|| {
                run_with(true, 4, &|c| {
                    std::thread::sleep(Duration::from_micros(50));
                    assert!(c != bad, "chunk {c} fails");
                })
            });
            assert!(r.is_err());
            // the pair is usable again
            assert_eq!(count_runs(5), vec![1; 5]);
        }
    }

    #[test]
    fn backoff_goes_solo_after_misses_or_a_stall_and_comes_back() {
        let t0 = Instant::now();
        let mut b = Backoff::default();
        assert!(!b.solo(t0));
        // a late helper now and then is normal: no back-off
        for _ in 0..10 {
            b.record(0, false, false, t0);
            b.record(2, false, false, t0);
        }
        // nor are misses of jobs that had to wake it
        for _ in 0..MISSES * 2 {
            b.record(0, false, true, t0);
        }
        assert!(!b.solo(t0));
        for _ in 0..MISSES {
            b.record(0, false, false, t0);
        }
        assert!(b.solo(t0) && b.solo(t0 + SOLO_MIN / 2));
        assert!(!b.solo(t0 + SOLO_MIN), "the first spell is short");
        // trouble right after the spell: the next spell is twice as long, and so on up to
        // the longest
        let t1 = t0 + SOLO_MIN;
        b.record(3, true, false, t1);
        assert!(b.solo(t1 + SOLO_MIN) && !b.solo(t1 + SOLO_MIN * 2));
        let mut t = t1 + SOLO_MIN * 2;
        for _ in 0..10 {
            b.record(1, true, false, t);
            t += SOLO_MAX;
        }
        assert!(b.solo(t - SOLO_MAX / 2) && !b.solo(t));
        // after a calm stretch a stall costs the short spell again
        let t2 = t + CALM * 2;
        b.record(3, true, false, t2);
        assert!(b.solo(t2) && !b.solo(t2 + SOLO_MIN));
    }

    #[test]
    fn solo_jobs_still_run_every_chunk() {
        let h = helper();
        lock(&h.backoff).record(0, true, false, Instant::now());
        assert_eq!(count_runs(6), vec![1; 6]);
        *lock(&h.backoff) = Backoff::default();
    }

    #[test]
    fn chunk_lengths() {
        assert_eq!(chunk_len(512, 8, 4, 16), 64);
        assert_eq!(chunk_len(10, 8, 4, 16), 16);
        assert_eq!(chunk_len(100, 3, 4, 1), 36);
        assert_eq!(chunk_len(0, 3, 4, 0), 4);
    }
}
