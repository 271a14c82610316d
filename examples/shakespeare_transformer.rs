//! A small decoder-only transformer (GPT-style, causal self-attention) trained on
//! Shakespeare's plays at the character level, then sampled.
//!
//! ```sh
//! cargo run --release -p ember-train --example shakespeare_transformer               # 200 steps, about a minute
//! cargo run --release -p ember-train --example shakespeare_transformer -- --steps 3000
//! ```

use ember_core::{manual_seed, no_grad, Generator, Result, Tensor};
use ember_data::{paths, read_text, CharDataset, CharVocab, DataLoader, Dataset, Subset};
use ember_nn::layers::transformer::{
    TransformerEncoder, TransformerEncoderLayer, TransformerMasks, TransformerOptions,
};
use ember_nn::{functional, Embedding, LayerNorm, Linear, Module, Visitor};
use ember_optim::{AdamConfig, AdamW};
use ember_train::callbacks::GradClip;
use ember_train::{Report, Trainer};

const BLOCK: usize = 64;

/// Token + position embeddings -> pre-norm transformer blocks with a causal mask -> head.
struct CharTransformer {
    tokens: Embedding,
    positions: Embedding,
    blocks: TransformerEncoder,
    norm: LayerNorm,
    head: Linear,
}

impl CharTransformer {
    fn new(vocab: usize) -> Result<CharTransformer> {
        let d = 128;
        let opts = TransformerOptions {
            dim_feedforward: 4 * d,
            dropout: 0.1,
            batch_first: true,
            norm_first: true,
            ..Default::default()
        };
        Ok(CharTransformer {
            tokens: Embedding::new(vocab, d, None)?,
            positions: Embedding::new(BLOCK, d, None)?,
            blocks: TransformerEncoder::new(TransformerEncoderLayer::new(d, 4, opts)?, 3, None)?,
            norm: LayerNorm::new(&[d]),
            head: Linear::new(d, vocab),
        })
    }
}

impl Module for CharTransformer {
    /// `[B, T]` character ids -> `[B, T, vocab]` logits for the next character.
    fn forward(&self, ids: &Tensor) -> Result<Tensor> {
        let t = ids.shape()[1];
        let pos = Tensor::arange(0.0, t as f64, 1.0)?;
        let x = self.tokens.call(ids)?.add(&self.positions.call(&pos)?)?;
        let masks = TransformerMasks {
            is_causal: true,
            ..Default::default()
        };
        self.head.call(&self.norm.call(&self.blocks.forward_with(&x, &masks)?)?)
    }

    fn visit(&self, v: &mut dyn Visitor) {
        v.module("tokens", &self.tokens);
        v.module("positions", &self.positions);
        v.module("blocks", &self.blocks);
        v.module("norm", &self.norm);
        v.module("head", &self.head);
    }
}

fn lm_loss(logits: &Tensor, targets: &Tensor) -> Result<Tensor> {
    let v = *logits.shape().last().unwrap() as isize;
    functional::cross_entropy(
        &logits.reshape(&[-1, v])?,
        &targets.reshape(&[-1])?,
        &Default::default(),
    )
}

/// Continue `prompt` for `n` characters, re-reading the last `BLOCK` characters each step.
fn generate(model: &CharTransformer, vocab: &CharVocab, prompt: &str, n: usize, rng: &mut Generator) -> Result<String> {
    let _ng = no_grad();
    model.eval();
    let mut ids = vocab.encode(prompt)?;
    for _ in 0..n {
        let window = &ids[ids.len().saturating_sub(BLOCK)..];
        let logits = model.forward(&Tensor::from_vec(window.to_vec(), &[1, window.len()])?)?;
        let p = functional::softmax(&logits.select(1, -1)?.reshape(&[-1])?.div_scalar(0.8)?, -1)?.to_vec::<f32>()?;
        let mut u = rng.uniform() as f32;
        let next = p.iter().position(|&pi| {
            u -= pi;
            u <= 0.0
        });
        ids.push(next.unwrap_or(p.len() - 1) as i64);
    }
    vocab.decode(&ids)
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let steps = args
        .iter()
        .position(|a| a == "--steps")
        .and_then(|i| args.get(i + 1)?.parse().ok())
        .unwrap_or(200);
    manual_seed(0);
    let text = read_text(paths::shakespeare_file(None)?)?;
    let data = CharDataset::new(&text, BLOCK)?.stride(BLOCK / 2)?;
    let vocab = data.vocab().clone();
    let batch = 32;
    let mut windows = Generator::new(1).permutation(data.len());
    windows.truncate(steps * batch); // a random sample of the whole corpus, kept short
    let subset = Subset::new(data, windows)?;
    let train = DataLoader::new(subset, batch).shuffle_seed(0).drop_last(true);

    let model = CharTransformer::new(vocab.len())?;
    println!("{} parameters", model.num_parameters());
    let mut opt = AdamW::new(model.parameters(), AdamConfig::adamw(1e-3))?;
    Trainer::new(&model, &mut opt, lm_loss)
        .epochs(1)
        .report(Report::Human)
        .callback(GradClip::new(1.0))
        .fit(&train, None)?;

    let mut rng = Generator::new(7);
    println!(
        "\n--- generated ---\n{}",
        generate(&model, &vocab, "HAMLET.\n", 400, &mut rng)?
    );
    Ok(())
}
