//! A character-level LSTM language model on Shakespeare's plays: train briefly, then write
//! some new "Shakespeare" one character at a time.
//!
//! ```sh
//! cargo run --release -p ember-train --example shakespeare_lstm              # 150 steps, about a minute
//! cargo run --release -p ember-train --example shakespeare_lstm -- --steps 3000
//! ```

use ember_core::{manual_seed, no_grad, Generator, Result, Tensor};
use ember_data::{paths, read_text, CharDataset, CharVocab, DataLoader, Dataset, Subset};
use ember_nn::{functional, Embedding, Linear, Module, RnnOptions, Visitor, LSTM};
use ember_optim::{Adam, AdamConfig};
use ember_train::callbacks::GradClip;
use ember_train::{Report, Trainer};

/// Embedding -> 2-layer LSTM -> linear head over the characters.
struct CharLstm {
    embed: Embedding,
    lstm: LSTM,
    head: Linear,
}

impl CharLstm {
    fn new(vocab: usize) -> Result<CharLstm> {
        Ok(CharLstm {
            embed: Embedding::new(vocab, 64, None)?,
            lstm: LSTM::new(64, 256, RnnOptions::default().num_layers(2).batch_first(true))?,
            head: Linear::new(256, vocab),
        })
    }

    /// Logits `[B, T, vocab]` and the final LSTM state, from optional initial state.
    fn step(&self, ids: &Tensor, state: Option<(&Tensor, &Tensor)>) -> Result<(Tensor, (Tensor, Tensor))> {
        let (h, state) = self.lstm.forward_with(&self.embed.call(ids)?, state)?;
        Ok((self.head.call(&h)?, state))
    }
}

impl Module for CharLstm {
    fn forward(&self, ids: &Tensor) -> Result<Tensor> {
        Ok(self.step(ids, None)?.0)
    }

    fn visit(&self, v: &mut dyn Visitor) {
        v.module("embed", &self.embed);
        v.module("lstm", &self.lstm);
        v.module("head", &self.head);
    }
}

/// Next-character cross-entropy over every position of `[B, T, V]` logits.
fn lm_loss(logits: &Tensor, targets: &Tensor) -> Result<Tensor> {
    let v = *logits.shape().last().unwrap() as isize;
    functional::cross_entropy(
        &logits.reshape(&[-1, v])?,
        &targets.reshape(&[-1])?,
        &Default::default(),
    )
}

/// Draw an index from softmax(logits / temperature).
fn sample(logits: &Tensor, temperature: f64, rng: &mut Generator) -> Result<i64> {
    let p = functional::softmax(&logits.div_scalar(temperature)?, -1)?.to_vec::<f32>()?;
    let mut u = rng.uniform() as f32;
    for (i, &pi) in p.iter().enumerate() {
        u -= pi;
        if u <= 0.0 {
            return Ok(i as i64);
        }
    }
    Ok(p.len() as i64 - 1)
}

/// Continue `prompt` for `n` characters, carrying the LSTM state.
fn generate(model: &CharLstm, vocab: &CharVocab, prompt: &str, n: usize, rng: &mut Generator) -> Result<String> {
    let _ng = no_grad();
    model.eval();
    let ids = vocab.encode(prompt)?;
    let (logits, mut state) = model.step(&Tensor::from_vec(ids.clone(), &[1, ids.len()])?, None)?;
    let mut next = sample(&logits.select(1, -1)?.reshape(&[-1])?, 0.8, rng)?;
    let mut out = vec![next];
    for _ in 1..n {
        let (logits, s) = model.step(&Tensor::from_vec(vec![next], &[1, 1])?, Some((&state.0, &state.1)))?;
        state = s;
        next = sample(&logits.reshape(&[-1])?, 0.8, rng)?;
        out.push(next);
    }
    Ok(format!("{prompt}{}", vocab.decode(&out)?))
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let steps = args
        .iter()
        .position(|a| a == "--steps")
        .and_then(|i| args.get(i + 1)?.parse().ok())
        .unwrap_or(150);
    manual_seed(0);
    let text = read_text(paths::shakespeare_file(None)?)?;
    let data = CharDataset::new(&text, 64)?.stride(32)?;
    let vocab = data.vocab().clone();
    println!(
        "{} characters, vocabulary of {}, {} windows of 64",
        text.len(),
        vocab.len(),
        data.len()
    );
    let batch = 32;
    let mut windows = Generator::new(1).permutation(data.len());
    windows.truncate(steps * batch); // a random sample of the whole corpus, kept short
    let subset = Subset::new(data, windows)?;
    let train = DataLoader::new(subset, batch).shuffle_seed(0).drop_last(true);

    let model = CharLstm::new(vocab.len())?;
    let mut opt = Adam::new(model.parameters(), AdamConfig::new(3e-3))?;
    Trainer::new(&model, &mut opt, lm_loss)
        .epochs(1)
        .report(Report::Human)
        .callback(GradClip::new(1.0))
        .fit(&train, None)?;

    let mut rng = Generator::new(7);
    println!(
        "\n--- generated ---\n{}",
        generate(&model, &vocab, "ROMEO.\n", 400, &mut rng)?
    );
    Ok(())
}
