//! Random number generation: a global generator (`manual_seed`) and explicit `Generator`s,
//! both reproducible streams from a seed.

use parking_lot::Mutex;

/// A seeded pseudo-random stream (xoshiro256++; seeded through splitmix64).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Generator {
    s: [u64; 4],
    seed: u64,
}

fn splitmix64(x: &mut u64) -> u64 {
    *x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *x;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl Generator {
    pub fn new(seed: u64) -> Generator {
        let mut x = seed;
        Generator {
            s: [
                splitmix64(&mut x),
                splitmix64(&mut x),
                splitmix64(&mut x),
                splitmix64(&mut x),
            ],
            seed,
        }
    }

    /// The seed this generator was created or last reseeded with.
    pub fn initial_seed(&self) -> u64 {
        self.seed
    }

    pub fn manual_seed(&mut self, seed: u64) {
        *self = Generator::new(seed);
    }

    /// The full state (for checkpoints), restorable with `set_state`.
    pub fn state(&self) -> [u64; 5] {
        [self.s[0], self.s[1], self.s[2], self.s[3], self.seed]
    }

    pub fn set_state(&mut self, st: [u64; 5]) {
        self.s = [st[0], st[1], st[2], st[3]];
        self.seed = st[4];
    }

    #[inline]
    pub fn next_u64(&mut self) -> u64 {
        let s = &mut self.s;
        let result = s[0].wrapping_add(s[3]).rotate_left(23).wrapping_add(s[0]);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        result
    }

    /// Uniform in [0, 1) with 53 random bits.
    #[inline]
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Standard normal (Box-Muller; one value per call, the pair's second is discarded for
    /// simplicity of state).
    #[inline]
    pub fn normal(&mut self) -> f64 {
        let u1 = 1.0 - self.uniform(); // (0, 1]
        let u2 = self.uniform();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }

    /// Uniform integer in [lo, hi).
    #[inline]
    pub fn int_range(&mut self, lo: i64, hi: i64) -> i64 {
        let span = (hi - lo) as u64;
        // Lemire's nearly-divisionless method would be faster; modulo bias is < 2^-40 here.
        lo + (self.next_u64() % span) as i64
    }

    /// A random permutation of 0..n (Fisher-Yates).
    pub fn permutation(&mut self, n: usize) -> Vec<usize> {
        let mut p: Vec<usize> = (0..n).collect();
        for i in (1..n).rev() {
            let j = (self.next_u64() % (i as u64 + 1)) as usize;
            p.swap(i, j);
        }
        p
    }
}

static GLOBAL: Mutex<Option<Generator>> = Mutex::new(None);

/// Seed the global generator used by `rand`, `randn`, dropout, init, shuffling, ...
pub fn manual_seed(seed: u64) {
    *GLOBAL.lock() = Some(Generator::new(seed));
}

/// Run `f` with the global generator (seeded with 0 until `manual_seed` is called... except
/// that a fresh process without `manual_seed` seeds from the clock, like PyTorch).
pub fn with_global<T>(f: impl FnOnce(&mut Generator) -> T) -> T {
    let mut g = GLOBAL.lock();
    let gen = g.get_or_insert_with(|| {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        Generator::new(t)
    });
    f(gen)
}

/// The global generator's state (for checkpoints).
pub fn global_state() -> [u64; 5] {
    with_global(|g| g.state())
}

/// Restore the global generator's state.
pub fn set_global_state(st: [u64; 5]) {
    with_global(|g| g.set_state(st))
}
