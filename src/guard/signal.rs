//! The signals: kinds of lexicon terms that the rules combine or that modify other terms. The
//! code knows each by name; the lexicon files (`symptoms.toml`, `context.toml`,
//! `medication_dosing.toml`) say which words express it in each language.

macro_rules! signals {
    ($($(#[doc = $doc:literal])* $variant:ident => $name:literal,)*) => {
        /// A kind of term the rules read. Named in the lexicon files by its snake_case name.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Signal {
            $($(#[doc = $doc])* $variant,)*
        }

        impl Signal {
            /// Every signal, in declaration order.
            pub const ALL: &'static [Signal] = &[$(Signal::$variant,)*];

            /// The name used in the lexicon files and `rules.toml`.
            pub fn name(self) -> &'static str {
                match self {
                    $(Signal::$variant => $name,)*
                }
            }
        }
    };
}

signals! {
    /// "dor de cabeça", "headache".
    Headache => "headache",
    /// Blurred vision, spots, flashes.
    Visual => "visual",
    /// Any swelling ("inchaço", "swollen").
    Swelling => "swelling",
    /// Face or hands: swelling there is a warning sign, feet alone are not.
    FaceOrHands => "face_or_hands",
    /// "de repente", "suddenly".
    Sudden => "sudden",
    /// Pain in the upper belly / under the ribs.
    Epigastric => "epigastric",
    /// "não passa", "won't go away": makes a headache a red flag.
    Persistent => "persistent",
    /// Contractions, labour.
    Contraction => "contraction",
    /// Fever words ("febre").
    Fever => "fever",
    /// Words that make a nearby number a temperature ("temperatura", "termômetro").
    Temperature => "temperature",
    /// "graus", "°C", "F" after a number.
    TemperatureUnit => "temperature_unit",
    /// Weather words: `39 graus lá fora` is not a fever.
    Weather => "weather",
    /// "pressão", "bp": makes `16/11` a blood pressure.
    BloodPressure => "blood_pressure",
    /// "pressão alta", "high blood pressure".
    HighBloodPressure => "high_blood_pressure",
    /// "semanas", "weeks" after (or before) a number: a gestational age.
    WeekUnit => "week_unit",
    /// "meses", "months" after a number: a gestational age in months.
    MonthUnit => "month_unit",
    /// Medicine names and words for medicine.
    Medicine => "medicine",
    /// "quantos mg", "how much": with a medicine, a dosing request.
    DoseQuestion => "dose_question",
    /// "posso tomar", "can I take": with an amount in digits, a dosing request.
    DoseRequest => "dose_request",
    /// "mg", "comprimidos", "tablets" after a number: an amount of medicine.
    DoseUnit => "dose_unit",
    /// "g", "gramas": an amount only next to a medicine.
    MassUnit => "mass_unit",
    /// "a cada", "vezes ao dia", "every": with an amount, a dose instruction.
    DoseSchedule => "dose_schedule",
    /// "tome", "take": with an amount, a dose instruction.
    TakeVerb => "take_verb",
    /// "dois", "two": a number in words before a unit.
    NumberWord => "number_word",
    /// "não tenho", "sem", "no": negates a symptom just after it.
    Negation => "negation",
    /// "já passou", "went away": the symptom is past.
    Resolved => "resolved",
    /// "o que é", "what are the signs of": a question about the sign, not the sign.
    Informational => "informational",
    /// "se eu tiver", "what if": a hypothetical.
    Hypothetical => "hypothetical",
    /// "mas", "but": ends a clause like a full stop.
    ClauseBreak => "clause_break",
    /// "sangramento na gengiva": a red-flag word inside it does not count.
    BenignPhrase => "benign_phrase",
    /// Common words: only vote for the message's language.
    Stopword => "stopword",
    /// "meu marido", "my husband": symptoms after it, in its part of the sentence, are someone
    /// else's, until a [`Signal::SelfReference`] brings the sentence back to her or the baby.
    ThirdParty => "third_party",
    /// "eu", "estou", "bebê", "i", "my", "baby": ends a third-party mention.
    SelfReference => "self_reference",
    /// "grávida", "gestante", "pregnant": a third party in the same sentence is a pregnant woman,
    /// whose danger signs count ("minha irmã está grávida e sangrando").
    Pregnancy => "pregnancy",
    /// "líquido", "água", "fluid": with a [`Signal::Leaking`] word, fluid loss.
    Fluid => "fluid",
    /// "vazando", "escorrendo", "leaking": with a [`Signal::Fluid`] word, fluid loss.
    Leaking => "leaking",
    /// "forte", "intensa", "severe": makes upper-belly pain a red flag.
    Severe => "severe",
    /// "enjoo", "vomitando", "nausea": with upper-belly pain, a red flag (HELLP).
    Nausea => "nausea",
    /// "vermelha", "quente", "red", "hot": an inflamed wound or leg.
    Inflamed => "inflamed",
    /// "pus", "secreção", "cheiro ruim", "smells bad": signs of infection.
    Infection => "infection",
    /// "cicatriz", "pontos", "incision": a caesarean or perineal wound.
    Wound => "wound",
    /// "corrimento", "lóquio", "discharge": with an infection sign, puerperal infection.
    Discharge => "discharge",
    /// "panturrilha", "uma perna", "left leg": with swelling or inflammation, a possible clot.
    OneLeg => "one_leg",
    /// "a pior que já tive", "worst ever": with a headache, a red flag (a strong headache alone
    /// is not, it is common).
    Worst => "worst",
    /// "mama", "seio", "breast": red, hot or hard, a breast infection after birth (mastitis).
    Breast => "breast",
    /// "ferro", "magnésio", "iron": a medicine only in a message about taking it.
    Supplement => "supplement",
    /// "mexe", "chutes", "kicks": the baby's movements; with a [`Signal::Decrease`] word nearby,
    /// reduced fetal movement ("os chutes diminuíram", "kicks have dropped off").
    FetalMovement => "fetal_movement",
    /// "diminuíram", "quase nada", "fewer", "barely": with [`Signal::FetalMovement`], less of it.
    Decrease => "decrease",
    /// "abriu", "soltaram", "came apart", "gaping": with a [`Signal::Wound`] word, a wound that
    /// opened (fifth pass).
    Opened => "opened",
    /// "peito", "chest": with a [`Signal::Radiating`] word, chest pain spreading to the arm or jaw.
    Chest => "chest",
    /// "braço esquerdo", "queixo", "left arm", "jaw": where chest pain spreads.
    Radiating => "radiating",
    /// "quilos", "kg", "too weak to stand": with vomiting, weight loss or weakness from it.
    Wasting => "wasting",
    /// "min", "minutos", "minutes" after a number: an interval of contractions, never a dose.
    MinuteUnit => "minute_unit",
    /// "não aguento mais", "can't take it anymore": despair; with [`Signal::Decided`], self-harm.
    Despair => "despair",
    /// "já decidi", "já sei o que vou fazer", "i've decided": a decision, self-harm with despair.
    Decided => "decided",
    /// "fico imaginando", "me vem a cena", "picturing", "urge to": an intrusive image or urge;
    /// with a [`Signal::HarmAct`] on the baby, thoughts of harming the baby.
    Intrusive => "intrusive",
    /// "derrubar ele da escada", "dropping her in the bath": what an intrusive image shows.
    HarmAct => "harm_act",
    /// "a caixa toda", "the whole pen": a whole package; with [`Signal::Death`], a lethality
    /// question (self-harm).
    WholeAmount => "whole_amount",
    /// "eu morro", "will i die", "kill me".
    Death => "death",
    /// "tremendo", "se sacudindo", "jerking": with a [`Signal::SeizureSign`], a seizure described
    /// by a witness.
    Shaking => "shaking",
    /// "durinha", "olho virado", "espumando", "stiff", "foaming" (not "confused": "i'm shaking and
    /// confused" is no seizure).
    SeizureSign => "seizure_sign",
    /// "uma vez por semana", "every few days": contractions this seldom are no preterm labour.
    Occasional => "occasional",
    /// "não amolece", "não relaxa", "dor constante", "won't soften", "constant pain": with a
    /// [`Signal::Contraction`] word, a belly that stays hard (placental abruption; sixth pass).
    Unrelenting => "unrelenting",
    /// "absorvente", "pad": with a [`Signal::Soaked`] word, heavy bleeding after birth.
    Pad => "pad",
    /// "encharco", "enchendo", "soaking", "going through": a pad filled by blood.
    Soaked => "soaked",
    /// "azia", "queimação", "heartburn": alone a normal discomfort; unrelieved, worse than ever,
    /// or with swelling of the face or hands, a warning sign (sixth pass).
    Heartburn => "heartburn",
    /// "tonta quando levanto", "boca seca", "haven't peed": with vomiting, dehydration.
    Dehydration => "dehydration",
    /// "me dei socos", "bati a cabeça", "punched myself": with [`Signal::UntilBleeding`],
    /// self-injury (sixth pass).
    SelfHit => "self_hit",
    /// "até sangrar", "until it bled".
    UntilBleeding => "until_bleeding",
    /// "se acontecer alguma coisa comigo", "if anything happens to me": with a decision or
    /// despair, a farewell (self-harm).
    Farewell => "farewell",
    /// "faca", "lâmina", "knife", "razor": with [`Signal::Wrist`], self-harm.
    Blade => "blade",
    /// "pulso", "wrist".
    Wrist => "wrist",
    /// "dei minhas coisas", "gave away my stuff": with [`Signal::Settled`] (a note, a strange
    /// calm), preparations (self-harm).
    GaveAway => "gave_away",
    /// "carta", "bilhete", "em paz", "note", "calm now", "peaceful".
    Settled => "settled",
    /// "tomei", "engoli", "swallowed": with [`Signal::Drowsy`], a medicine and a bulk amount, an
    /// overdose in progress (seventh pass).
    Ingested => "ingested",
    /// "um punhado", "todos os", "a handful": many at once (a count of ten or more before a
    /// medicine or a dose unit counts too).
    Bulk => "bulk",
    /// "sono", "zonza", "sleepy", "woozy": drowsy after swallowing.
    Drowsy => "drowsy",
    /// "se ela morresse", "não acordasse", "if she died", "didnt wake up": with
    /// [`Signal::Relief`], a wish to be gone (self-harm; a relative's report counts).
    Gone => "gone",
    /// "alívio", "seria melhor", "better off", "relief".
    Relief => "relief",
    /// "qual altura", "quantos andares", "how high", "which floor": with [`Signal::Fatal`], a fall
    /// researched as a method.
    FallHeight => "fall_height",
    /// "fatal", "mata", "não sobreviver", "to die".
    Fatal => "fatal",
    /// "se despedindo", "adeus", "tell the baby", "goodbye": with [`Signal::Unreachable`], a
    /// goodbye relayed by someone who cannot reach her.
    Goodbye => "goodbye",
    /// "desligado", "não atende", "voicemail", "not picking up".
    Unreachable => "unreachable",
    /// "arde para fazer xixi", "burning when i pee": with [`Signal::Chills`] or
    /// [`Signal::Flank`], a kidney infection.
    Urinary => "urinary",
    /// "calafrio", "chills".
    Chills => "chills",
    /// "lombo", "costas do lado direito", "flank": back pain on one side.
    Flank => "flank",
    /// "pescoço", "nuca", "neck": with a visual disturbance, a red flag.
    Neck => "neck",
    /// "apertado", "esmagando", "tight", "crushing": with [`Signal::Chest`] after a caesarean.
    Tight => "tight",
    /// "cólicas", "cramps": with [`Signal::PelvicPressure`], preterm labour signs.
    Cramp => "cramp",
    /// "pressão lá embaixo", "pelvic pressure".
    PelvicPressure => "pelvic_pressure",
    /// "mobilograma", "kick count": with a count below `[kick_count]` per hour or two, reduced
    /// fetal movement.
    KickCount => "kick_count",
    /// "a médica passou", "prescribed": a prescription told back; a number of times a day in it
    /// is no dosing request unless the message asks.
    Prescribed => "prescribed",
}

/// A set of signals, one bit each (see [`Signal::bit`]). 128 bits since the sixth pass: the fifth
/// left 62 of 64 in use.
pub type Signals = u128;

impl Signal {
    pub fn from_name(name: &str) -> Option<Signal> {
        Signal::ALL.iter().copied().find(|s| s.name() == name)
    }

    /// Bit for signal sets (there are at most 128 signals).
    pub fn bit(self) -> Signals {
        1 << (self as u32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_signal_has_a_distinct_name_and_bit() {
        assert!(Signal::ALL.len() <= Signals::BITS as usize);
        for (i, s) in Signal::ALL.iter().enumerate() {
            assert_eq!(Signal::from_name(s.name()), Some(*s));
            assert_eq!(s.bit(), 1 << i);
        }
    }
}
