//! Making log text safe for each output format.
//!
//! Everything that comes from a Graph record (display names, user agents, app names, city names,
//! audit properties, even user principal names) is attacker-controlled: a user can name
//! themselves `<script>` or `Bob\r\nBcc: x@evil.test`, and a phishing kit chooses its user agent.
//! It is data, and each format gets its own escaping. Control characters and Unicode direction
//! overrides (which can make text read backwards) never reach any output.

/// Unicode bidirectional controls that can disguise text ("Trojan Source").
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}' | '\u{061C}')
}

/// One line of at most `max` characters: control characters (CR and LF included) and direction
/// overrides become spaces, runs of whitespace collapse, and a cut is marked with `…`.
pub fn one_line(text: &str, max: usize) -> String {
    let mut out = String::with_capacity(text.len().min(max.saturating_add(4)));
    let mut count = 0;
    let mut pending_space = false;
    for c in text.chars() {
        if c.is_control() || c.is_whitespace() || is_bidi_control(c) {
            pending_space = count > 0;
            continue;
        }
        if pending_space {
            if count + 1 >= max {
                out.push('…');
                return out;
            }
            out.push(' ');
            count += 1;
            pending_space = false;
        }
        if count >= max {
            out.push('…');
            return out;
        }
        out.push(c);
        count += 1;
    }
    out
}

/// Escapes text for HTML element content and double- or single-quoted attribute values.
pub fn html(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() || is_bidi_control(c) => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// Escapes Markdown that Teams renders in Adaptive Card text (emphasis, links, lists, headings,
/// HTML), so log text shows literally.
pub fn markdown(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    for c in one_line(text, usize::MAX).chars() {
        match c {
            '\\' | '`' | '*' | '_' | '{' | '}' | '[' | ']' | '(' | ')' | '#' | '+' | '-' | '.' | '!' | '|' | '~'
            | '>' => {
                out.push('\\');
                out.push(c);
            }
            '<' => out.push_str("&lt;"),
            '&' => out.push_str("&amp;"),
            c => out.push(c),
        }
    }
    out
}

/// Escapes text for Slack `mrkdwn`: `&`, `<` and `>` are the only control characters Slack
/// documents, and escaping `<` is what keeps `<!channel>` and `<https://evil|bank>` out.
pub fn slack(text: &str) -> String {
    one_line(text, usize::MAX).replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// Percent-encodes a path segment (alert ids are hex by contract; anything else is encoded).
pub fn path_segment(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_neutralises_line_breaks_and_overrides() {
        assert_eq!(one_line("Bob\r\nBcc: evil@x.test", 100), "Bob Bcc: evil@x.test");
        assert_eq!(one_line("  a \t\t b  ", 100), "a b");
        assert_eq!(one_line("abc\u{202E}fed", 100), "abc fed");
        assert_eq!(one_line("abcdef", 3), "abc…");
        assert_eq!(one_line("ab cdef", 3), "ab…");
        assert_eq!(one_line("", 3), "");
    }

    #[test]
    fn html_escapes_markup_and_quotes() {
        assert_eq!(
            html(r#"<script>alert("x")</script> & 'q'"#),
            "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;q&#39;"
        );
        assert_eq!(html("a\r\nb"), "a  b");
    }

    #[test]
    fn markdown_and_slack_show_text_literally() {
        assert_eq!(markdown("[click](https://evil.test) **x**"), r"\[click\]\(https://evil\.test\) \*\*x\*\*");
        assert_eq!(
            slack("<!channel> <https://evil.test|bank> & co"),
            "&lt;!channel&gt; &lt;https://evil.test|bank&gt; &amp; co"
        );
        assert_eq!(path_segment("ab12"), "ab12");
        assert_eq!(path_segment("a/b?c"), "a%2Fb%3Fc");
    }
}
