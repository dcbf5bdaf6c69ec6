//! The local model's weight matrices: our Q4_1 kernel (`powerbirth_q41`) where the GGUF holds
//! Q4_1, candle's `QMatMul` otherwise; and projections that share their input (query, key and
//! value; gate and up) stacked into one matrix, one product for all of them.

use std::sync::Arc;

use candle_core::quantized::{QMatMul, QTensor};
use candle_core::{CpuStorage, CustomOp1, D, Layout, Module, Result, Shape, Tensor, bail};
use powerbirth_q41::Q41Matrix;

/// A weight matrix: regrouped Q4_1 when it is one, candle's `QMatMul` otherwise.
#[derive(Debug, Clone)]
pub(super) enum Linear {
    Q41(Arc<Q41Matrix>),
    Candle(QMatMul),
}

impl Linear {
    pub(super) fn new(tensor: QTensor) -> Result<Self> {
        Ok(match Q41Matrix::from_qtensor(&tensor)? {
            Some(matrix) => Linear::Q41(Arc::new(matrix)),
            None => Linear::Candle(QMatMul::from_qtensor(tensor)?),
        })
    }

    pub(super) fn forward(&self, x: &Tensor) -> Result<Tensor> {
        match self {
            Linear::Q41(matrix) => x.apply_op1_no_bwd(&Q41Op(Arc::clone(matrix))),
            Linear::Candle(inner) => inner.forward(x),
        }
    }
}

/// `x @ wᵀ` over the last dimension of `x`, as a candle op (forward only).
struct Q41Op(Arc<Q41Matrix>);

impl CustomOp1 for Q41Op {
    fn name(&self) -> &'static str {
        "q4_1-matmul"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let CpuStorage::F32(data) = storage else {
            bail!("q4_1-matmul: f32 activations expected")
        };
        let Some((start, end)) = layout.contiguous_offsets() else {
            bail!("q4_1-matmul: contiguous activations expected")
        };
        let mut dims = layout.shape().dims().to_vec();
        let Some(last) = dims.last_mut() else {
            bail!("q4_1-matmul: a scalar has no rows")
        };
        *last = self.0.rows();
        let shape = Shape::from(dims);
        let mut dst = vec![0f32; shape.elem_count()];
        self.0.matmul(&data[start..end], &mut dst);
        Ok((CpuStorage::F32(dst), shape))
    }
}

/// Matrices applied to the same input, as one product when they can be stacked.
#[derive(Debug)]
pub(super) enum Projection {
    /// One stacked matrix and the width of each part's output.
    Stacked(Linear, Vec<usize>),
    Separate(Vec<Linear>),
}

impl Projection {
    pub(super) fn new(tensors: Vec<QTensor>) -> Result<Self> {
        let mut matrices = Vec::with_capacity(tensors.len());
        for tensor in &tensors {
            match Q41Matrix::from_qtensor(tensor)? {
                Some(matrix) => matrices.push(matrix),
                None => break,
            }
        }
        if matrices.len() == tensors.len() {
            let widths = matrices.iter().map(Q41Matrix::rows).collect();
            if let Some(stacked) = Q41Matrix::stack(&matrices) {
                return Ok(Projection::Stacked(Linear::Q41(Arc::new(stacked)), widths));
            }
        }
        Ok(Projection::Separate(
            tensors
                .into_iter()
                .map(Linear::new)
                .collect::<Result<_>>()?,
        ))
    }

    /// Each part's output, in order (views into one product when stacked).
    pub(super) fn forward(&self, x: &Tensor) -> Result<Vec<Tensor>> {
        match self {
            Projection::Stacked(linear, widths) => {
                let y = linear.forward(x)?;
                let mut at = 0;
                widths
                    .iter()
                    .map(|&width| {
                        at += width;
                        y.narrow(D::Minus1, at - width, width)
                    })
                    .collect()
            }
            Projection::Separate(parts) => parts.iter().map(|p| p.forward(x)).collect(),
        }
    }
}
