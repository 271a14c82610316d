//! Delimited text tables (CSV, TSV) with a header row, read into numeric feature and target
//! tensors.

use super::read_bytes;
use crate::collate::Collate;
use crate::dataset::{check_index, Dataset};
use crate::error::file_err;
use ember_core::{Result, Tensor};
use std::path::Path;

/// How to read a table.
#[derive(Debug, Clone, Default)]
pub struct CsvOptions {
    /// Field separator; `None` picks a tab for `.tsv`/`.tab` files and a comma otherwise.
    pub delimiter: Option<u8>,
    /// Columns that form the target, by header name (the rest are features).
    pub targets: Vec<String>,
    /// Columns to skip (e.g. an id or a text column).
    pub ignore: Vec<String>,
}

impl CsvOptions {
    /// Options with the given target column(s).
    pub fn targets(names: &[&str]) -> CsvOptions {
        CsvOptions {
            targets: names.iter().map(|s| s.to_string()).collect(),
            ..CsvOptions::default()
        }
    }
}

/// A numeric table: samples are `(features, target)` f32 tensors of shapes `[F]` and `[T]`
/// (a scalar when there is exactly one target column).
///
/// ```
/// use ember_data::{CsvDataset, CsvOptions, Dataset};
/// let text = "x1,x2,y\n1,2,0\n3,4.5,1\n";
/// let ds = CsvDataset::parse(text, "inline.csv", &CsvOptions::targets(&["y"])).unwrap();
/// let (x, y) = ds.get(1).unwrap();
/// assert_eq!(x.to_vec::<f32>().unwrap(), vec![3.0, 4.5]);
/// assert_eq!(y.item().unwrap(), 1.0);
/// let bad = CsvDataset::parse("a,b\n1,oops\n", "bad.csv", &CsvOptions::default()).unwrap_err();
/// assert!(bad.to_string().contains("line 2: column 2 (b)"));
/// ```
#[derive(Debug, Clone)]
pub struct CsvDataset {
    feature_names: Vec<String>,
    target_names: Vec<String>,
    features: Vec<f32>,
    targets: Vec<f32>,
    rows: usize,
}

/// Split one line into fields; double quotes may wrap a field (`""` is a literal quote).
fn split_fields(line: &str, delim: char) -> std::result::Result<Vec<String>, String> {
    let mut fields = Vec::new();
    let mut cur = String::new();
    let mut chars = line.chars().peekable();
    let mut in_quotes = false;
    while let Some(c) = chars.next() {
        match c {
            '"' if in_quotes && chars.peek() == Some(&'"') => {
                cur.push('"');
                chars.next();
            }
            '"' if in_quotes => in_quotes = false,
            '"' if cur.trim().is_empty() => {
                cur.clear();
                in_quotes = true;
            }
            c if c == delim && !in_quotes => fields.push(std::mem::take(&mut cur)),
            c => cur.push(c),
        }
    }
    if in_quotes {
        return Err("unterminated quoted field".into());
    }
    fields.push(cur);
    Ok(fields)
}

impl CsvDataset {
    /// Read a table from a file (gzip-compressed files are read too).
    pub fn from_path(path: impl AsRef<Path>, options: &CsvOptions) -> Result<CsvDataset> {
        let path = path.as_ref();
        let bytes = read_bytes(path)?;
        let text = String::from_utf8(bytes).map_err(|e| file_err(path, format!("not UTF-8 text: {e}")))?;
        let mut opts = options.clone();
        if opts.delimiter.is_none() {
            let name = path.to_string_lossy().to_ascii_lowercase();
            let tsv = [".tsv", ".tab", ".tsv.gz", ".tab.gz"].iter().any(|e| name.ends_with(e));
            opts.delimiter = Some(if tsv { b'\t' } else { b',' });
        }
        CsvDataset::parse(&text, &path.display().to_string(), &opts)
    }

    /// Parse table text; `name` is used in error messages in place of a file path.
    pub fn parse(text: &str, name: &str, options: &CsvOptions) -> Result<CsvDataset> {
        let at = |line: usize, msg: String| file_err(Path::new(name), format!("line {line}: {msg}"));
        let delim = options.delimiter.unwrap_or(b',') as char;
        let mut lines = text
            .lines()
            .enumerate()
            .map(|(i, l)| (i + 1, l.strip_suffix('\r').unwrap_or(l)));
        let Some((_, header_line)) = lines.next() else {
            return Err(file_err(Path::new(name), "empty file: expected a header row"));
        };
        let header: Vec<String> = split_fields(header_line, delim)
            .map_err(|m| at(1, m))?
            .into_iter()
            .map(|h| h.trim().to_string())
            .collect();
        for wanted in options.targets.iter().chain(&options.ignore) {
            if !header.contains(wanted) {
                return Err(file_err(
                    Path::new(name),
                    format!("no column named {wanted:?}; the header has {header:?}"),
                ));
            }
        }
        // role of each column: Some(true) target, Some(false) feature, None ignored
        let roles: Vec<Option<bool>> = header
            .iter()
            .map(|h| {
                if options.ignore.contains(h) {
                    None
                } else {
                    Some(options.targets.contains(h))
                }
            })
            .collect();
        // targets keep the order the caller listed them in
        let target_cols: Vec<usize> = options
            .targets
            .iter()
            .map(|t| header.iter().position(|h| h == t).expect("checked above"))
            .collect();
        let feature_cols: Vec<usize> = (0..header.len()).filter(|&c| roles[c] == Some(false)).collect();
        let mut ds = CsvDataset {
            feature_names: feature_cols.iter().map(|&c| header[c].clone()).collect(),
            target_names: options.targets.clone(),
            features: Vec::new(),
            targets: Vec::new(),
            rows: 0,
        };
        let mut values = vec![0f32; header.len()];
        for (line_no, line) in lines {
            if line.trim().is_empty() {
                continue;
            }
            let fields = split_fields(line, delim).map_err(|m| at(line_no, m))?;
            if fields.len() != header.len() {
                return Err(at(
                    line_no,
                    format!(
                        "expected {} fields (as in the header), found {}",
                        header.len(),
                        fields.len()
                    ),
                ));
            }
            for (c, field) in fields.iter().enumerate() {
                if roles[c].is_none() {
                    continue;
                }
                let f = field.trim();
                values[c] = f.parse::<f64>().map(|v| v as f32).map_err(|_| {
                    let what = if f.is_empty() {
                        "empty value".to_string()
                    } else {
                        format!("cannot parse {f:?} as a number")
                    };
                    at(line_no, format!("column {} ({}): {what}", c + 1, header[c]))
                })?;
            }
            ds.features.extend(feature_cols.iter().map(|&c| values[c]));
            ds.targets.extend(target_cols.iter().map(|&c| values[c]));
            ds.rows += 1;
        }
        Ok(ds)
    }

    pub fn feature_names(&self) -> &[String] {
        &self.feature_names
    }

    pub fn target_names(&self) -> &[String] {
        &self.target_names
    }

    /// All features as one `[rows, F]` tensor.
    pub fn features(&self) -> Result<Tensor> {
        Tensor::from_vec(self.features.clone(), &[self.rows, self.feature_names.len()])
    }

    /// All targets as one `[rows, T]` tensor (`[rows]` for one target column).
    pub fn targets(&self) -> Result<Tensor> {
        Tensor::from_vec(self.targets.clone(), &self.target_shape(self.rows))
    }

    fn target_shape(&self, rows: usize) -> Vec<usize> {
        match self.target_names.len() {
            1 => vec![rows],
            t => vec![rows, t],
        }
    }

    fn gather(&self, indices: &[usize]) -> Result<(Vec<f32>, Vec<f32>)> {
        let (f, t) = (self.feature_names.len(), self.target_names.len());
        let mut x = Vec::with_capacity(indices.len() * f);
        let mut y = Vec::with_capacity(indices.len() * t);
        for &i in indices {
            check_index("CsvDataset", i, self.rows)?;
            x.extend_from_slice(&self.features[i * f..(i + 1) * f]);
            y.extend_from_slice(&self.targets[i * t..(i + 1) * t]);
        }
        Ok((x, y))
    }
}

impl Dataset for CsvDataset {
    type Item = (Tensor, Tensor);

    fn len(&self) -> usize {
        self.rows
    }

    fn get(&self, index: usize) -> Result<(Tensor, Tensor)> {
        let (x, y) = self.gather(&[index])?;
        let mut ts = self.target_shape(1);
        ts.remove(0);
        Ok((
            Tensor::from_vec(x, &[self.feature_names.len()])?,
            Tensor::from_vec(y, &ts)?,
        ))
    }

    fn get_batch(&self, indices: &[usize]) -> Result<(Tensor, Tensor)>
    where
        (Tensor, Tensor): Collate,
    {
        let (x, y) = self.gather(indices)?;
        Ok((
            Tensor::from_vec(x, &[indices.len(), self.feature_names.len()])?,
            Tensor::from_vec(y, &self.target_shape(indices.len()))?,
        ))
    }
}
