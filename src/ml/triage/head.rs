//! The classification head: one linear layer (encoder dimension → classes) over the frozen
//! encoder's sentence embeddings, trained with candle's AdamW on a class-weighted cross-entropy,
//! with early stopping on validation macro-F1. Deterministic on CPU: the weights start at zero
//! (the loss is convex, so no random start is needed) and the mini-batch order comes from a
//! seeded ChaCha8 generator.

use candle_core::{D, DType, Device, Tensor, Var};
use candle_nn::{AdamW, Optimizer, ParamsAdamW};
use rand::SeedableRng;
use rand::seq::SliceRandom;

use super::TriageError;
use super::config::HeadParams;

/// A trained head: `logits = weights · x + bias`, `weights` row-major `[classes, dim]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Head {
    pub weights: Vec<f32>,
    pub bias: Vec<f32>,
    pub classes: usize,
    pub dim: usize,
}

impl Head {
    /// Softmax probabilities of one embedding (plain Rust: four dot products on the request path).
    pub fn proba(&self, x: &[f32]) -> Vec<f64> {
        let logits: Vec<f64> = (0..self.classes)
            .map(|c| {
                let row = &self.weights[c * self.dim..(c + 1) * self.dim];
                let dot: f64 = row.iter().zip(x).map(|(w, v)| f64::from(w * v)).sum();
                dot + f64::from(self.bias[c])
            })
            .collect();
        let max = logits.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let exp: Vec<f64> = logits.iter().map(|l| (l - max).exp()).collect();
        let sum: f64 = exp.iter().sum();
        exp.into_iter().map(|e| e / sum).collect()
    }
}

/// What training did.
#[derive(Debug, Clone)]
pub struct Trained {
    pub head: Head,
    /// Epochs run before early stopping (or `max_epochs`).
    pub epochs: usize,
    /// The epoch (1-based) whose weights were kept.
    pub best_epoch: usize,
    pub best_validation_f1: f64,
}

/// The training rows: embeddings, classes and per-row loss weights.
pub struct Rows<'a> {
    pub x: &'a [Vec<f32>],
    pub y: &'a [usize],
    pub weight: &'a [f32],
}

/// Trains the head on `train`, keeping the weights of the epoch with the best macro-F1 on
/// `validation` (the first such epoch on ties); stops after `patience` epochs without a better one.
pub fn train(
    train: &Rows,
    validation: (&[Vec<f32>], &[usize]),
    classes: usize,
    params: &HeadParams,
    seed: u64,
) -> Result<Trained, TriageError> {
    let err = |e: candle_core::Error| TriageError::Train(e.to_string());
    let dim = train.x.first().map_or(0, Vec::len);
    if dim == 0 || train.x.len() != train.y.len() {
        return Err(TriageError::Train("no training rows".into()));
    }
    let dev = Device::Cpu;
    let w = Var::from_tensor(&Tensor::zeros((classes, dim), DType::F32, &dev).map_err(err)?)
        .map_err(err)?;
    let b =
        Var::from_tensor(&Tensor::zeros(classes, DType::F32, &dev).map_err(err)?).map_err(err)?;
    let mut opt = AdamW::new(
        vec![w.clone(), b.clone()],
        ParamsAdamW {
            lr: params.learning_rate,
            weight_decay: params.weight_decay,
            ..ParamsAdamW::default()
        },
    )
    .map_err(err)?;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut order: Vec<usize> = (0..train.x.len()).collect();
    let snapshot = |w: &Var, b: &Var| -> Result<Head, candle_core::Error> {
        Ok(Head {
            weights: w.as_tensor().flatten_all()?.to_vec1()?,
            bias: b.as_tensor().to_vec1()?,
            classes,
            dim,
        })
    };
    let mut best: Option<(f64, usize, Head)> = None;
    let mut epochs = 0;
    for epoch in 1..=params.max_epochs {
        epochs = epoch;
        order.shuffle(&mut rng);
        for batch in order.chunks(params.batch_size) {
            let loss = batch_loss(train, batch, &w, &b, dim).map_err(err)?;
            opt.backward_step(&loss).map_err(err)?;
        }
        let head = snapshot(&w, &b).map_err(err)?;
        let predicted: Vec<usize> = validation
            .0
            .iter()
            .map(|x| crate::ml::train::metrics::argmax(&head.proba(x)))
            .collect();
        let f1 = crate::ml::train::metrics::f1_macro(validation.1, &predicted);
        if best.as_ref().is_none_or(|(f, _, _)| f1 > *f) {
            best = Some((f1, epoch, head));
        } else if best
            .as_ref()
            .is_some_and(|(_, e, _)| epoch - e >= params.patience)
        {
            break;
        }
    }
    let (best_validation_f1, best_epoch, head) =
        best.ok_or_else(|| TriageError::Train("no epoch ran".into()))?;
    Ok(Trained {
        head,
        epochs,
        best_epoch,
        best_validation_f1,
    })
}

/// The weighted cross-entropy of one mini-batch: `−Σ wᵢ log p(yᵢ|xᵢ) / Σ wᵢ`.
fn batch_loss(
    rows: &Rows,
    batch: &[usize],
    w: &Var,
    b: &Var,
    dim: usize,
) -> Result<Tensor, candle_core::Error> {
    let dev = Device::Cpu;
    let flat: Vec<f32> = batch
        .iter()
        .flat_map(|&i| rows.x[i].iter().copied())
        .collect();
    let x = Tensor::from_vec(flat, (batch.len(), dim), &dev)?; // [batch, dim]
    let y: Vec<u32> = batch.iter().map(|&i| rows.y[i] as u32).collect();
    let wt: Vec<f32> = batch.iter().map(|&i| rows.weight[i]).collect();
    weighted_cross_entropy(&x, y, wt, w, b)
}

/// `−Σ wᵢ log p(yᵢ|xᵢ) / Σ wᵢ` of the head `w`, `b` on inputs `x` `[batch, dim]` with labels `y`
/// and weights `wt` (one each per row): the head-only and the encoder-layer training share it.
pub(super) fn weighted_cross_entropy(
    x: &Tensor,
    y: Vec<u32>,
    wt: Vec<f32>,
    w: &Var,
    b: &Var,
) -> Result<Tensor, candle_core::Error> {
    let dev = Device::Cpu;
    let n = y.len();
    let y = Tensor::from_vec(y, (n, 1), &dev)?; // [batch, 1]
    let wt = Tensor::from_vec(wt, n, &dev)?; // [batch]
    let logits = x
        .matmul(&w.as_tensor().t()?)?
        .broadcast_add(b.as_tensor())?; // [batch, classes]
    let logp = candle_nn::ops::log_softmax(&logits, D::Minus1)?;
    let picked = logp.gather(&y, 1)?.squeeze(1)?; // [batch]
    let total = (picked * &wt)?.sum_all()?;
    total.neg()? / f64::from(wt.sum_all()?.to_scalar::<f32>()?)
}
