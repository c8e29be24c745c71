//! The owner's 24 words (protocol §5): BIP39, English word list, SHA-256 checksum.
//!
//! Input is normalised (NFKD, lower case, single spaces) before decoding. An unknown word and
//! a bad checksum are distinct errors, and an unknown word comes with the nearest word of the
//! list, because a typo is the likeliest mistake of someone typing 24 words from paper.

use bip39::{Language, Mnemonic};
use zeroize::Zeroizing;

use crate::crypto::Secret32;

/// Number of words in a backup phrase.
pub const WORDS: usize = 24;

/// Why a backup phrase was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MnemonicError {
    #[error(
        "a backup phrase has {WORDS} words, but this one has {0}; check that every word was \
         copied"
    )]
    WordCount(usize),
    #[error(
        "word {position} of the backup phrase, \"{word}\", is not in the list of backup words{}",
        suggestion.as_ref().map(|s| format!("; did you mean \"{s}\"?")).unwrap_or_default()
    )]
    UnknownWord {
        /// 1-based.
        position: usize,
        word: String,
        suggestion: Option<String>,
    },
    #[error(
        "the backup phrase fails its checksum: every word is a backup word, but at least one \
         is wrong or out of order; compare each word with the paper copy"
    )]
    Checksum,
}

/// Lower case, NFKD, words separated by single spaces.
pub fn normalize(text: &str) -> Zeroizing<String> {
    use unicode_normalization::UnicodeNormalization;
    let lower: Zeroizing<String> = Zeroizing::new(text.nfkd().collect::<String>().to_lowercase());
    Zeroizing::new(lower.split_whitespace().collect::<Vec<_>>().join(" "))
}

/// The 32 bytes of entropy a 24-word phrase encodes.
pub fn parse(text: &str) -> Result<Secret32, MnemonicError> {
    let text = normalize(text);
    let words: Vec<&str> = text.split(' ').filter(|w| !w.is_empty()).collect();
    if words.len() != WORDS {
        return Err(MnemonicError::WordCount(words.len()));
    }
    let list = Language::English;
    if let Some((i, word)) = words
        .iter()
        .enumerate()
        .find(|(_, w)| list.find_word(w).is_none())
    {
        return Err(MnemonicError::UnknownWord {
            position: i + 1,
            word: (*word).to_owned(),
            suggestion: nearest_word(word),
        });
    }
    let mnemonic = Mnemonic::parse_in_normalized(list, &text).map_err(|e| match e {
        bip39::Error::UnknownWord(i) => MnemonicError::UnknownWord {
            position: i + 1,
            word: words.get(i).copied().unwrap_or_default().to_owned(),
            suggestion: None,
        },
        _ => MnemonicError::Checksum,
    })?;
    let (mut bytes, len) = mnemonic.to_entropy_array();
    let entropy = <[u8; 32]>::try_from(&bytes[..len]).map_err(|_| MnemonicError::Checksum);
    zeroize::Zeroize::zeroize(&mut bytes);
    Ok(Secret32::new(entropy?))
}

/// The 24 words of 32 bytes of entropy.
pub fn words(entropy: &Secret32) -> Zeroizing<String> {
    // 32 bytes is a valid BIP39 entropy length, so this cannot fail.
    let mnemonic = Mnemonic::from_entropy_in(Language::English, entropy.expose())
        .unwrap_or_else(|_| unreachable!("32 bytes of entropy make 24 words"));
    Zeroizing::new(mnemonic.to_string())
}

/// The list word closest to `word` (edit distance at most 2), if there is one.
fn nearest_word(word: &str) -> Option<String> {
    Language::English
        .word_list()
        .iter()
        .map(|w| (strsim::damerau_levenshtein(word, w), *w))
        .filter(|(d, _)| *d <= 2)
        .min_by_key(|(d, _)| *d)
        .map(|(_, w)| w.to_owned())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const PHRASE: &str = "poverty gap ordinary script favorite burst nature wrong piece garage \
                          siren begin village doll junior frown near maze popular sudden horse \
                          remove anger grass";

    #[test]
    fn round_trip_and_normalisation() {
        let entropy = parse(PHRASE).unwrap();
        assert_eq!(
            hex::encode(entropy.expose()),
            "a90bea7160d5403da4dff5a46bef258a2f40815e4aec939132a0ec46dd6bc22b"
        );
        assert_eq!(words(&entropy).as_str(), normalize(PHRASE).as_str());
        let messy = format!("  {}\n", PHRASE.to_uppercase().replace(' ', "  \t"));
        assert_eq!(parse(&messy).unwrap(), entropy);
    }

    #[test]
    fn a_typo_is_an_unknown_word_with_a_suggestion() {
        let typo = PHRASE.replacen("ordinary", "ordinery", 1);
        assert_eq!(
            parse(&typo).unwrap_err(),
            MnemonicError::UnknownWord {
                position: 3,
                word: "ordinery".into(),
                suggestion: Some("ordinary".into())
            }
        );
        let nonsense = PHRASE.replacen("ordinary", "zzzzzzzz", 1);
        let err = parse(&nonsense).unwrap_err();
        assert!(matches!(
            err,
            MnemonicError::UnknownWord {
                suggestion: None,
                ..
            }
        ));
        assert!(err.to_string().contains("word 3"), "{err}");
    }

    #[test]
    fn swapped_words_fail_the_checksum() {
        let swapped = PHRASE.replacen("poverty gap", "gap poverty", 1);
        assert_eq!(parse(&swapped).unwrap_err(), MnemonicError::Checksum);
    }

    #[test]
    fn word_count_is_checked() {
        assert_eq!(
            parse("poverty gap ordinary").unwrap_err(),
            MnemonicError::WordCount(3)
        );
    }
}
