//! Language detection for English, Portuguese and Spanish, from the words of a normalised message.
//!
//! Support messages are short, so a stop-word vote plus the accent marks counted during
//! normalisation is enough. Words shared by two of the languages (`de`, `que`, `como`, `para`,
//! `no`) are left out on purpose.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

pub use crate::lexicon::Votes;
use crate::normalize::ScriptHints;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Language {
    En,
    Pt,
    Es,
}

impl Language {
    pub const ALL: [Language; 3] = [Language::En, Language::Pt, Language::Es];

    pub fn code(self) -> &'static str {
        match self {
            Language::En => "en",
            Language::Pt => "pt",
            Language::Es => "es",
        }
    }
}

impl fmt::Display for Language {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl FromStr for Language {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "en" | "en-us" | "en-gb" | "english" => Ok(Language::En),
            "pt" | "pt-br" | "pt-pt" | "portuguese" | "português" => Ok(Language::Pt),
            "es" | "es-es" | "es-mx" | "es-ar" | "spanish" | "español" => Ok(Language::Es),
            other => Err(format!("unknown language `{other}`: use en, pt or es")),
        }
    }
}

const EN: &[&str] = &[
    "the", "is", "are", "and", "my", "our", "we", "i", "to", "of", "in", "it", "does", "do", "how", "what", "where", "can", "with", "for",
    "not", "but", "have", "has", "this", "that", "why", "any", "get", "gets", "who", "key", "keys", "was", "isn't", "don't", "can't",
    "doesn't", "there", "from", "after", "again", "still", "should", "would", "could", "you", "me", "it's", "hi", "hello", "thanks",
    "please", "works", "work", "an", "be", "on", "just", "new", "every",
];
const PT: &[&str] = &[
    "o", "os", "as", "e", "um", "uma", "do", "da", "dos", "das", "nao", "com", "pra", "meu", "minha", "nosso", "nossa", "onde", "tem",
    "isso", "eu", "voce", "chave", "chaves", "consigo", "mas", "ja", "sao", "foi", "quem", "pode", "esqueci", "dao", "dando", "novo",
    "nova", "alguem", "ajuda", "obrigado", "obrigada", "pessoal", "mais", "ele", "ela", "ao", "na", "no", "em", "num", "numa", "seu",
    "sua", "estou", "tenho", "preciso", "acho", "agora", "ainda", "todas", "todos", "chamadas", "vejo", "oi", "ola", "bom", "dia", "hoje",
    "gerei", "tambem",
];
const ES: &[&str] = &[
    "el", "la", "los", "las", "y", "un", "una", "del", "con", "mi", "nuestro", "nuestra", "donde", "tiene", "eso", "yo", "llave", "clave",
    "claves", "puedo", "pero", "ya", "son", "fue", "quien", "puede", "olvide", "dan", "nuevo", "nueva", "alguien", "ayuda", "gracias",
    "hola", "soy", "aqui", "al", "lo", "le", "muy", "es", "hay", "su", "estoy", "tengo", "necesito", "creo", "ahora", "todavia", "todas",
    "todos", "llamadas", "veo", "buenos", "dias", "hoy", "tambien", "usted", "porque", "cual", "sin", "rol",
];

/// The stop-word lists, each with its language's bit (1 = en, 2 = pt, 4 = es): the classifier's
/// lexicon counts them in the same pass that finds the concepts.
pub fn stop_words() -> [(&'static [&'static str], u8); 3] {
    [(EN, 1), (PT, 2), (ES, 4)]
}

/// The language of a message from its stop-word votes (counted by the classifier's lexicon, in
/// the pass that finds the concepts) and the accents seen while normalising. The most votes
/// win; ties and silence fall back to English.
pub fn decide(votes: Votes, hints: ScriptHints) -> Language {
    let (en, pt, es) = (votes.en, votes.pt + 2 * hints.portuguese, votes.es + 2 * hints.spanish);
    if pt > en && pt > es {
        Language::Pt
    } else if es > en && es > pt {
        Language::Es
    } else if en == 0 && pt > 0 && pt == es {
        // Iberian text with no decisive word: accents decide, Portuguese on a tie.
        if hints.spanish > hints.portuguese {
            Language::Es
        } else {
            Language::Pt
        }
    } else {
        Language::En
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The language the classifier gives `text`: the votes are counted by its lexicon.
    fn lang(text: &str) -> Language {
        static CLASSIFIER: std::sync::OnceLock<crate::Classifier> = std::sync::OnceLock::new();
        CLASSIFIER.get_or_init(|| crate::Classifier::load(None).expect("built-in pack")).classify(text).language
    }

    #[test]
    fn each_language_is_recognised_from_a_short_support_message() {
        assert_eq!(lang("My app key has no role and every call fails"), Language::En);
        assert_eq!(lang("A chave não tem nenhum perfil e dá 403"), Language::Pt);
        assert_eq!(lang("La llave no tiene ningún rol y da 403"), Language::Es);
    }

    #[test]
    fn text_without_stop_words_falls_back_to_english() {
        assert_eq!(lang("appKey 401"), Language::En);
    }

    #[test]
    fn language_codes_parse_in_common_spellings() {
        assert_eq!("pt-BR".parse::<Language>(), Ok(Language::Pt));
        assert!("fr".parse::<Language>().is_err());
    }
}
