//! Character-level text: a vocabulary of the characters in a corpus, and a dataset of
//! (sequence, next-character sequence) pairs for language models.

use super::read_bytes;
use crate::collate::Collate;
use crate::dataset::{check_index, Dataset};
use crate::error::{arg_err, file_err};
use ember_core::{Result, Tensor};
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

/// Read a UTF-8 text file (gzip-compressed files are read too).
pub fn read_text(path: impl AsRef<Path>) -> Result<String> {
    let path = path.as_ref();
    String::from_utf8(read_bytes(path)?).map_err(|e| file_err(path, format!("not UTF-8 text: {e}")))
}

/// The distinct characters of a corpus, sorted, each with an id.
///
/// ```
/// use ember_data::CharVocab;
/// let v = CharVocab::from_text("hello");
/// assert_eq!(v.len(), 4); // e h l o
/// let ids = v.encode("hole").unwrap();
/// assert_eq!(ids, vec![1, 3, 2, 0]);
/// assert_eq!(v.decode(&ids).unwrap(), "hole");
/// assert!(v.encode("help").is_err()); // 'p' is not in the vocabulary
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CharVocab {
    chars: Vec<char>,
    ids: HashMap<char, i64>,
}

impl CharVocab {
    pub fn from_text(text: &str) -> CharVocab {
        let mut chars: Vec<char> = text.chars().collect();
        chars.sort_unstable();
        chars.dedup();
        CharVocab::from_chars(chars)
    }

    /// A vocabulary from its characters in id order (e.g. restored from a checkpoint).
    pub fn from_chars(chars: Vec<char>) -> CharVocab {
        let ids = chars.iter().enumerate().map(|(i, &c)| (c, i as i64)).collect();
        CharVocab { chars, ids }
    }

    pub fn len(&self) -> usize {
        self.chars.len()
    }

    pub fn is_empty(&self) -> bool {
        self.chars.is_empty()
    }

    pub fn chars(&self) -> &[char] {
        &self.chars
    }

    pub fn id(&self, c: char) -> Option<i64> {
        self.ids.get(&c).copied()
    }

    /// Ids of each character; errors on a character outside the vocabulary.
    pub fn encode(&self, text: &str) -> Result<Vec<i64>> {
        text.chars()
            .enumerate()
            .map(|(i, c)| {
                self.id(c).ok_or_else(|| {
                    arg_err(
                        "CharVocab::encode",
                        format!("character {c:?} at position {i} is not in the vocabulary"),
                    )
                })
            })
            .collect()
    }

    /// The text of a sequence of ids; errors on an id outside the vocabulary.
    pub fn decode(&self, ids: &[i64]) -> Result<String> {
        ids.iter()
            .map(|&i| {
                usize::try_from(i)
                    .ok()
                    .and_then(|i| self.chars.get(i).copied())
                    .ok_or_else(|| {
                        arg_err(
                            "CharVocab::decode",
                            format!("id {i} is outside the vocabulary of {} characters", self.chars.len()),
                        )
                    })
            })
            .collect()
    }
}

/// Windows of a character corpus: sample `i` is `(x, y)` where `x` holds `seq_len` character
/// ids starting at `i * stride` and `y` the same window shifted by one (the next characters),
/// both i64 `[seq_len]`.
///
/// ```
/// use ember_data::{CharDataset, Dataset};
/// let ds = CharDataset::new("abcdefg", 3).unwrap();
/// assert_eq!(ds.len(), 2); // "abc"->"bcd", "def"->"efg"
/// let (x, y) = ds.get(1).unwrap();
/// assert_eq!(ds.vocab().decode(&x.to_vec::<i64>().unwrap()).unwrap(), "def");
/// assert_eq!(ds.vocab().decode(&y.to_vec::<i64>().unwrap()).unwrap(), "efg");
/// ```
#[derive(Debug, Clone)]
pub struct CharDataset {
    vocab: CharVocab,
    ids: Arc<Vec<i64>>,
    seq_len: usize,
    stride: usize,
}

impl CharDataset {
    /// Windows of `seq_len` characters, not overlapping (stride = `seq_len`).
    pub fn new(text: &str, seq_len: usize) -> Result<CharDataset> {
        CharDataset::with_vocab(text, CharVocab::from_text(text), seq_len)
    }

    /// Like `new`, with a given vocabulary (every character of `text` must be in it).
    pub fn with_vocab(text: &str, vocab: CharVocab, seq_len: usize) -> Result<CharDataset> {
        if seq_len == 0 {
            return Err(arg_err("CharDataset", "seq_len must be at least 1"));
        }
        let ids = vocab.encode(text)?;
        if ids.len() < seq_len + 1 {
            return Err(arg_err(
                "CharDataset",
                format!(
                    "a text of {} characters is too short for sequences of {seq_len}",
                    ids.len()
                ),
            ));
        }
        Ok(CharDataset {
            vocab,
            ids: Arc::new(ids),
            seq_len,
            stride: seq_len,
        })
    }

    /// Start a window every `stride` characters (1 = every position).
    pub fn stride(mut self, stride: usize) -> Result<CharDataset> {
        if stride == 0 {
            return Err(arg_err("CharDataset::stride", "stride must be at least 1"));
        }
        self.stride = stride;
        Ok(self)
    }

    pub fn vocab(&self) -> &CharVocab {
        &self.vocab
    }

    pub fn seq_len(&self) -> usize {
        self.seq_len
    }

    /// Every character id of the corpus.
    pub fn ids(&self) -> &[i64] {
        &self.ids
    }

    fn window(&self, i: usize) -> (&[i64], &[i64]) {
        let s = i * self.stride;
        (&self.ids[s..s + self.seq_len], &self.ids[s + 1..s + 1 + self.seq_len])
    }
}

impl Dataset for CharDataset {
    type Item = (Tensor, Tensor);

    fn len(&self) -> usize {
        (self.ids.len() - 1 - self.seq_len) / self.stride + 1
    }

    fn get(&self, index: usize) -> Result<(Tensor, Tensor)> {
        check_index("CharDataset", index, self.len())?;
        let (x, y) = self.window(index);
        Ok((Tensor::from_slice(x), Tensor::from_slice(y)))
    }

    fn get_batch(&self, indices: &[usize]) -> Result<(Tensor, Tensor)>
    where
        (Tensor, Tensor): Collate,
    {
        let mut xs = Vec::with_capacity(indices.len() * self.seq_len);
        let mut ys = Vec::with_capacity(indices.len() * self.seq_len);
        for &i in indices {
            check_index("CharDataset", i, self.len())?;
            let (x, y) = self.window(i);
            xs.extend_from_slice(x);
            ys.extend_from_slice(y);
        }
        let shape = [indices.len(), self.seq_len];
        Ok((Tensor::from_vec(xs, &shape)?, Tensor::from_vec(ys, &shape)?))
    }
}
