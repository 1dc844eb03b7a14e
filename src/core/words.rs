//! Splitting a command string into words the way a POSIX shell would (quotes
//! and backslashes), without running a shell: no expansion, no injection.

use super::error::{shown, Error, Result};

pub fn split(s: &str) -> Result<Vec<String>> {
    let mut words = vec![];
    let mut cur = String::new();
    let mut in_word = false;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => cur.push(c),
                        None => return Err(Error::new(format!("unterminated ' quote in {}", shown(s)))),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(c @ ('"' | '\\' | '$' | '`')) => cur.push(c),
                            Some('\n') => {}
                            Some(c) => {
                                cur.push('\\');
                                cur.push(c);
                            }
                            None => return Err(Error::new(format!("unterminated \" quote in {}", shown(s)))),
                        },
                        Some(c) => cur.push(c),
                        None => return Err(Error::new(format!("unterminated \" quote in {}", shown(s)))),
                    }
                }
            }
            '\\' => {
                in_word = true;
                match chars.next() {
                    Some('\n') => {}
                    Some(c) => cur.push(c),
                    None => return Err(Error::new(format!("trailing backslash in {}", shown(s)))),
                }
            }
            // sh's blanks only (not every Unicode space: a no-break space stays in the word).
            ' ' | '\t' | '\n' => {
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            c => {
                in_word = true;
                cur.push(c);
            }
        }
    }
    if in_word {
        words.push(cur);
    }
    Ok(words)
}

/// Quotes a word for a POSIX shell (for printing runnable commands).
pub fn quote(w: &str) -> String {
    if !w.is_empty() && w.chars().all(|c| c.is_ascii_alphanumeric() || "-_./:=@,+%".contains(c)) {
        w.to_string()
    } else {
        format!("'{}'", w.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words() {
        assert_eq!(split("ls -l /tmp").unwrap(), ["ls", "-l", "/tmp"]);
        assert_eq!(
            split(r#"echo "a b" 'c d' e\ f"#).unwrap(),
            ["echo", "a b", "c d", "e f"]
        );
        assert_eq!(
            split(r#"sh -c 'echo $HOME; rm -rf x'"#).unwrap(),
            ["sh", "-c", "echo $HOME; rm -rf x"]
        );
        assert_eq!(split(r#"a "" b"#).unwrap(), ["a", "", "b"]);
        assert_eq!(split(r#""x\"y""#).unwrap(), [r#"x"y"#]);
        assert_eq!(split("  ").unwrap(), Vec::<String>::new());
        assert_eq!(split("a\u{a0}b\rc\u{b}d\te").unwrap(), ["a\u{a0}b\rc\u{b}d", "e"]);
        let long = format!("'{}", "x".repeat(1 << 20));
        let e = split(&long).unwrap_err().to_string();
        assert!(e.len() < 200 && e.ends_with("…(1048577 bytes)"), "{e}");
        assert!(split("echo 'oops").is_err());
        assert!(split("echo \"oops").is_err());
    }

    #[test]
    fn quoting_round_trips() {
        for w in ["plain", "a b", "it's", "", "$x;rm"] {
            assert_eq!(split(&quote(w)).unwrap(), [w]);
        }
    }
}
