//! The speed work (issue 21) changes how the numbers are computed, never which: the forked
//! transformer with its Q4_1 kernel gives candle's logits bit for bit, and decoding several
//! sequences in one pass gives each the logits it gets alone.

use candle_transformers::models::quantized_llama::ModelWeights;

use super::super::llama::Model;
use super::*;

fn bits(t: &Tensor) -> Vec<u32> {
    let v = t
        .flatten_all()
        .and_then(|t| t.to_vec1::<f32>())
        .expect("logits");
    v.iter().map(|f| f.to_bits()).collect()
}

fn ids(tokens: &[u32]) -> Tensor {
    Tensor::new(tokens, &Device::Cpu)
        .and_then(|t| t.unsqueeze(0))
        .expect("ids")
}

fn argmax(logits: &Tensor) -> u32 {
    logits
        .squeeze(0)
        .and_then(|l| l.argmax(0))
        .and_then(|t| t.to_scalar::<u32>())
        .expect("argmax")
}

/// A long prompt read in two steps (as the prefix cache reads it), then greedy decode steps:
/// every logit equals candle's `quantized_llama`, the model the gateway ran before. Long enough
/// (over 512 positions) that gemm splits the attention's summed dimension in blocks, where a
/// different order of work would show (splitting the prompt's attention by query rows did).
#[test]
fn logits_equal_candles_quantized_llama_bit_for_bit() {
    let Some(path) = model_path() else { return };
    let open = || {
        let mut file = File::open(&path).expect("open model");
        let content = gguf_file::Content::read(&mut file).expect("read GGUF");
        (content, file)
    };
    let (content, mut file) = open();
    let mut reference = ModelWeights::from_gguf(content, &mut file, &Device::Cpu).expect("candle");
    let (content, mut file) = open();
    let mut ours = Model::from_gguf(content, &mut file).expect("ours");

    let prompt: Vec<u32> = (0..700u32).map(|i| 200 + (i * 7919) % 40000).collect();
    let (head, tail) = prompt.split_at(691);
    reference.forward(&ids(head), 0).expect("candle head");
    ours.forward(&ids(head), 0).expect("our head");
    let mut expected = reference
        .forward(&ids(tail), head.len())
        .expect("candle tail");
    let mut got = ours.forward(&ids(tail), head.len()).expect("our tail");
    for step in 0..24 {
        assert_eq!(bits(&got), bits(&expected), "logits differ at step {step}");
        let next = argmax(&expected);
        let at = prompt.len() + step;
        expected = reference.forward(&ids(&[next]), at).expect("candle step");
        got = ours.forward(&ids(&[next]), at).expect("our step");
    }
    assert_eq!(bits(&got), bits(&expected));
}

/// Three sequences of different lengths decoded together for six steps: each gets, bit for bit,
/// the logits (hence the tokens at temperature 0) it gets when decoded alone.
#[test]
fn batched_decoding_equals_one_sequence_at_a_time() {
    let Some(model) = shared_model() else { return };
    let base = model.inner.shared.weights.clone();
    let prompts: [Vec<u32>; 3] = [
        (0..12).map(|i| 300 + i * 7).collect(),
        (0..25).map(|i| 900 + i * 3).collect(),
        (0..5).map(|i| 50 + i).collect(),
    ];
    let mut alone = Vec::new();
    for prompt in &prompts {
        let mut seq = base.clone();
        let mut logits = seq.forward(&ids(prompt), 0).expect("prompt");
        let mut steps = Vec::new();
        for step in 0..6 {
            let next = argmax(&logits);
            logits = seq
                .forward(&ids(&[next]), prompt.len() + step)
                .expect("step");
            steps.push((next, bits(&logits)));
        }
        alone.push(steps);
    }
    let mut seqs: Vec<Model> = prompts.iter().map(|_| base.clone()).collect();
    let mut next: Vec<u32> = prompts
        .iter()
        .zip(seqs.iter_mut())
        .map(|(prompt, seq)| argmax(&seq.forward(&ids(prompt), 0).expect("prompt")))
        .collect();
    let by_step: Vec<Vec<&(u32, Vec<u32>)>> = (0..6)
        .map(|step| alone.iter().map(|steps| &steps[step]).collect())
        .collect();
    for (step, expected) in by_step.iter().enumerate() {
        let mut refs: Vec<&mut Model> = seqs.iter_mut().collect();
        let logits = Model::decode_batch(&mut refs, &next).expect("batched step");
        for (i, (logits, token)) in logits.iter().zip(next.iter_mut()).enumerate() {
            let (expected_token, expected_bits) = expected[i];
            assert_eq!(*token, *expected_token, "sequence {i} token at step {step}");
            assert_eq!(
                &bits(logits),
                expected_bits,
                "sequence {i} logits at step {step}"
            );
            *token = argmax(logits);
        }
    }
}

/// Through the engine: requests of different lengths sent at once to a worker that decodes
/// four together (joining and leaving the batch as they start and end) get the same text and
/// token counts as each alone on a worker that decodes one at a time.
#[test]
fn requests_decoded_together_answer_as_one_at_a_time() {
    let Some(together) = own_model(LocalOptions {
        batch: 4,
        ..LocalOptions::default()
    }) else {
        return;
    };
    let alone = own_model(LocalOptions {
        batch: 1,
        ..LocalOptions::default()
    })
    .expect("the model loaded once loads again");
    let requests = [
        ask("What is the capital of France?", 12),
        ask("Write a long essay about the history of Rome.", 30),
        ask("Posso tomar café na gravidez?", 20),
        ask("Name three fruits.", 6),
        ask("Quantas consultas de pré-natal devo fazer?", 16),
    ];
    let expected: Vec<_> = requests
        .iter()
        .map(|r| collect(&alone, r.clone()))
        .collect();
    let receivers: Vec<_> = requests
        .iter()
        .map(|r| together.generate(r.clone()).expect("queued"))
        .collect();
    for (mut receiver, (deltas, done)) in receivers.into_iter().zip(expected) {
        let mut text = String::new();
        let mut last = None;
        while let Some(event) = receiver.blocking_recv() {
            match event {
                GenEvent::Delta(piece) => text.push_str(&piece),
                other => last = Some(other),
            }
        }
        assert_eq!(text, deltas.concat());
        assert_eq!(last, Some(done));
    }
    assert!(
        together.inner.shared.batched_steps.load(Ordering::Relaxed) > 0,
        "no step decoded more than one request"
    );
    assert_eq!(alone.inner.shared.batched_steps.load(Ordering::Relaxed), 0);
}

/// The kernel alone, on random matrices.
mod kernel {
    use candle_core::quantized::{GgmlDType, QMatMul, QTensor};
    use candle_core::{Device, Module, Tensor};

    use powerbirth_q41::Q41Matrix;

    /// Deterministic values in [-1, 1) with a few exact zeros and a wide spread of magnitudes.
    fn values(len: usize, seed: u64) -> Vec<f32> {
        let mut state = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (0..len)
            .map(|i| {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let unit = (state >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0;
                if i % 97 == 0 {
                    0.0
                } else {
                    unit * (1.0 + (i % 7) as f32)
                }
            })
            .collect()
    }

    /// Every output equals candle's Q4_1 product bit for bit: row counts that fill a tile, leave a
    /// partial one and a single row (decode), and an output count that leaves a partial group.
    #[test]
    fn q41_matches_candle_bit_for_bit() {
        for (m, n, k) in [
            (1, 64, 192),
            (3, 20, 64),
            (4, 48, 128),
            (9, 40, 64),
            (17, 8, 256),
        ] {
            let w = Tensor::from_vec(values(n * k, 7 + n as u64), (n, k), &Device::Cpu).unwrap();
            let q = QTensor::quantize(&w, GgmlDType::Q4_1).unwrap();
            let ours = Q41Matrix::from_qtensor(&q).unwrap().expect("a Q4_1 matrix");
            let candle = QMatMul::from_qtensor(q).unwrap();
            let x = values(m * k, 11 + m as u64);
            let expected = candle
                .forward(&Tensor::from_vec(x.clone(), (m, k), &Device::Cpu).unwrap())
                .unwrap()
                .flatten_all()
                .unwrap()
                .to_vec1::<f32>()
                .unwrap();
            let mut got = vec![f32::NAN; m * n];
            ours.matmul(&x, &mut got);
            let bits = |v: &[f32]| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&got), bits(&expected), "m={m} n={n} k={k}");
        }
    }

    #[test]
    fn other_types_and_shapes_are_left_to_candle() {
        let w = Tensor::from_vec(values(32 * 8, 3), (8, 32), &Device::Cpu).unwrap();
        let q8 = QTensor::quantize(&w, GgmlDType::Q8_0).unwrap();
        assert!(Q41Matrix::from_qtensor(&q8).unwrap().is_none());
        let v = Tensor::from_vec(values(64, 3), 64, &Device::Cpu).unwrap();
        let q1 = QTensor::quantize(&v, GgmlDType::Q4_1).unwrap();
        assert!(
            Q41Matrix::from_qtensor(&q1).unwrap().is_none(),
            "a vector is not a matrix"
        );
    }
}
