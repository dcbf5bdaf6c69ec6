//! The input guard on a 500-character message: the per-request cost of the guardrails on the
//! chat path (target ≤ 30 µs, issue #4). Also the output check and a streamed answer fed in
//! 4-byte deltas, for reference; and what the streaming guard adds to a streamed answer: the time
//! to its first released text (word deltas) and, printed once, the share of deltas whose text goes
//! out with them (the chunk ratio). `cargo bench --bench guard -- --warm-up-time 1 --measurement-time 3`.

use std::hint::black_box;
use std::path::Path;

use criterion::{Criterion, criterion_group, criterion_main};
use powerbirth::guard::{Guard, Lang};

/// A realistic long message: informal Portuguese, clinical words, a negation, a number, PII.
const MESSAGE_PT: &str = "oi, boa noite! to com 34 semanas e desde ontem to com uma dor de cabeça \
chata, tomei paracetamol de manhã e melhorou um pouco mas voltou. não tenho sangramento nem \
febre, o nenem ta mexendo normal graças a deus. medi a pressão na farmácia e deu 13 por 8, a \
moça disse que tava ok. meus pés incham bastante no fim do dia, é normal? também queria saber \
se posso continuar fazendo caminhada e o que comer pra ajudar no inchaço. meu telefone é (11) \
91234-5678 se precisar. obrigada pela ajuda de sempre, vcs são ótimas!!";

const MESSAGE_EN: &str = "hi! I'm 34 weeks pregnant and since yesterday I've had a mild \
headache, I took tylenol this morning and it got a bit better but it came back. no bleeding or \
fever and the baby is moving normally thank god. the pharmacist measured my blood pressure and \
it was 130/80, she said that's fine. my feet swell a lot at the end of the day, is that normal? \
I also wanted to ask whether I can keep going for walks and what to eat to help with swelling. \
thank you so much, you are always so helpful, really appreciate it!!";

const ANSWER_PT: &str = "Que bom que o bebê está mexendo bem! Inchaço nos pés no fim do dia é \
comum no terceiro trimestre: descanse com as pernas elevadas, beba água e evite ficar muito \
tempo em pé. Caminhadas leves costumam ser boas, se a sua equipe de pré-natal liberou. Se a dor \
de cabeça ficar forte, não passar ou vier com visão embaçada, procure a maternidade.";

fn bench(c: &mut Criterion) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("guard");
    let guard = Guard::load(&dir).expect("shipped guard data loads");
    assert!((480..=560).contains(&MESSAGE_PT.chars().count()));
    let v = guard.check_input(MESSAGE_PT, Some("pt-BR"));
    assert!(v.redacted.is_some() && !v.is_urgent(), "{v:?}");

    c.bench_function("check_input 500 chars pt-BR", |b| {
        b.iter(|| guard.check_input(black_box(MESSAGE_PT), Some("pt-BR")))
    });
    c.bench_function("check_input 500 chars en", |b| {
        b.iter(|| guard.check_input(black_box(MESSAGE_EN), Some("en")))
    });
    c.bench_function("check_output 380 chars pt-BR", |b| {
        b.iter(|| guard.check_output(black_box(ANSWER_PT), Lang::PtBr))
    });
    c.bench_function("stream 380 chars pt-BR in 4-byte deltas", |b| {
        let deltas: Vec<&str> = ANSWER_PT
            .char_indices()
            .step_by(4)
            .map(|(i, _)| i)
            .chain([ANSWER_PT.len()])
            .collect::<Vec<_>>()
            .windows(2)
            .map(|w| &ANSWER_PT[w[0]..w[1]])
            .collect();
        b.iter(|| {
            let mut s = guard.stream_guard(Lang::PtBr);
            for d in &deltas {
                black_box(s.push(d).unwrap());
            }
            s.finish().unwrap()
        })
    });
    bench_stream_release(c, &guard);
}

/// Time to the first released text of an answer fed word by word (what the guard adds to the
/// client's time-to-first-token), and the chunk ratio, printed: deltas whose whole text went out
/// with them.
fn bench_stream_release(c: &mut Criterion, guard: &Guard) {
    let words: Vec<&str> = ANSWER_PT.split_inclusive(' ').collect();
    let mut s = guard.stream_guard(Lang::PtBr);
    let at_once = words.iter().filter(|w| s.push(w).unwrap() == **w).count();
    println!(
        "stream guard chunk ratio: {at_once}/{} word deltas released with the delta that brought them",
        words.len()
    );
    c.bench_function("stream first released text, word deltas pt-BR", |b| {
        b.iter(|| {
            let mut s = guard.stream_guard(Lang::PtBr);
            for w in &words {
                let out = s.push(black_box(w)).unwrap();
                if !out.is_empty() {
                    return out;
                }
            }
            s.finish().unwrap()
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
