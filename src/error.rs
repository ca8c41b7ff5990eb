//! Errors users see. Each renders as one line that says what is wrong and how to fix it; no
//! backtraces, no multi-line dumps.

/// Flattens an error and its causes into a single line.
pub fn one_line(e: &anyhow::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    for cause in e.chain() {
        let text = cause.to_string().split_whitespace().collect::<Vec<_>>().join(" ");
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
    }
    parts.join(": ")
}

/// Problems with input that the user can fix.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    #[error("the message is {size} bytes, over the {limit}-byte limit; split it or raise the limit")]
    TooLarge { size: usize, limit: usize },
    #[error("the input is not valid UTF-8 (byte {at}); convert it to UTF-8 first")]
    NotUtf8 { at: usize },
    #[error("the message is empty; pass text as an argument or on stdin")]
    Empty,
}

/// Largest message accepted anywhere. Support messages are short; a megabyte of text is a
/// paste accident, and we refuse it whole rather than classify a truncation.
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024;

pub fn check_message(text: &str) -> Result<(), InputError> {
    if text.len() > MAX_MESSAGE_BYTES {
        return Err(InputError::TooLarge { size: text.len(), limit: MAX_MESSAGE_BYTES });
    }
    if text.trim().is_empty() {
        return Err(InputError::Empty);
    }
    Ok(())
}

pub fn utf8(bytes: Vec<u8>) -> Result<String, InputError> {
    String::from_utf8(bytes).map_err(|e| InputError::NotUtf8 { at: e.utf8_error().valid_up_to() })
}
