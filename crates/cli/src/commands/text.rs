//! Text from the outside world made safe for a terminal.
//!
//! Alerts carry attacker-controlled text (user agents, display names, app names, cities) and
//! input files carry whatever their author put in them. A terminal interprets escape sequences:
//! printed raw, such text could recolour, move the cursor, rewrite earlier lines or set the
//! window title. Everything the commands print from an alert, a record or a file name goes
//! through [`printable`] first.

/// A single line of text safe to print on a terminal: control characters (escape sequences,
/// line breaks) and bidirectional embeddings, overrides and isolates (which can make a
/// name read backwards) are shown escaped, never interpreted; long text is cut at `max`
/// characters.
pub fn printable(text: &str, max: usize) -> String {
    let mut out = String::with_capacity(text.len().min(max));
    for (count, c) in text.chars().enumerate() {
        if count >= max {
            out.push('…');
            break;
        }
        if c.is_control() || is_bidi_control(c) {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// U+202A–U+202E and U+2066–U+2069: the characters that reorder the text around them.
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_shown_not_interpreted() {
        assert_eq!(printable("a\u{1b}[31mred\nline", 100), "a\\u{1b}[31mred\\nline");
        assert_eq!(printable("a\u{9b}2Jb\rc\u{7}", 100), "a\\u{9b}2Jb\\rc\\u{7}");
        assert_eq!(printable("evil\u{202e}txt.exe", 100), "evil\\u{202e}txt.exe");
        assert_eq!(printable("Zürich – 東京", 100), "Zürich – 東京");
        assert_eq!(printable("abcdef", 3), "abc…");
    }
}
