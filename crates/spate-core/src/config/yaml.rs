//! The subset of YAML that Flink's `config.yaml` uses: `key: value` lines, nested
//! mappings written by indentation (flattened to dotted keys), `- item` lists (joined
//! with `;`, Flink's legacy list syntax), quotes and `#` comments.
//!
//! A full YAML library would be a large dependency for a file of flat settings; anything
//! outside this subset is an error naming the line rather than a silent misreading.

/// Parses the text of a config file into `(key, value)` pairs in file order.
pub fn parse(text: &str) -> Result<Vec<(String, String)>, String> {
    let mut out: Vec<(String, String)> = Vec::new();
    // Open mappings: (indentation of their keys' parent line, dotted prefix).
    let mut stack: Vec<(usize, String)> = Vec::new();
    let mut list_key: Option<(usize, String)> = None;

    for (index, raw_line) in text.lines().enumerate() {
        let line_no = index + 1;
        let line = strip_comment(raw_line);
        if line.trim().is_empty() || line.trim() == "---" {
            continue;
        }
        if line.contains('\t') && line.trim_start_matches(' ').starts_with('\t') {
            return Err(format!("line {line_no}: indentation must use spaces, not tabs"));
        }
        let indent = line.len() - line.trim_start_matches(' ').len();
        let content = line.trim();

        if let Some(item) = content.strip_prefix("- ").or_else(|| (content == "-").then_some("")) {
            let Some((list_indent, key)) = &list_key else {
                return Err(format!("line {line_no}: a list item must follow a 'key:' line"));
            };
            if indent < *list_indent {
                return Err(format!("line {line_no}: list item is not indented under its key"));
            }
            let item = unquote(item.trim(), line_no)?;
            match out.iter_mut().rev().find(|(k, _)| k == key) {
                Some((_, value)) if !value.is_empty() => {
                    value.push(';');
                    value.push_str(&item);
                }
                Some((_, value)) => *value = item,
                None => out.push((key.clone(), item)),
            }
            continue;
        }

        while let Some((parent_indent, _)) = stack.last() {
            if indent <= *parent_indent {
                stack.pop();
            } else {
                break;
            }
        }
        list_key = None;

        let Some(colon) = find_key_separator(content) else {
            return Err(format!("line {line_no}: expected 'key: value', found '{content}'"));
        };
        let key = unquote(content[..colon].trim(), line_no)?;
        if key.is_empty() {
            return Err(format!("line {line_no}: empty key"));
        }
        let full_key = match stack.last() {
            Some((_, prefix)) => format!("{prefix}.{key}"),
            None => key,
        };
        let value = content[colon + 1..].trim();
        if value.is_empty() {
            // Either a nested mapping or a list follows.
            stack.push((indent, full_key.clone()));
            list_key = Some((indent, full_key));
        } else {
            out.push((full_key, unquote(value, line_no)?));
        }
    }
    Ok(out)
}

/// The position of the `:` that separates key and value (a colon followed by a space or
/// the end of the line, outside quotes).
fn find_key_separator(content: &str) -> Option<usize> {
    let bytes = content.as_bytes();
    let mut quote: Option<u8> = None;
    for (i, &b) in bytes.iter().enumerate() {
        match quote {
            Some(q) if b == q => quote = None,
            Some(_) => {}
            None if b == b'"' || b == b'\'' => quote = Some(b),
            None if b == b':' && (i + 1 == bytes.len() || bytes[i + 1] == b' ') => return Some(i),
            None => {}
        }
    }
    None
}

/// The line without a trailing `# comment` (a `#` at the start or after a space, outside
/// quotes).
fn strip_comment(line: &str) -> &str {
    let bytes = line.as_bytes();
    let mut quote: Option<u8> = None;
    for (i, &b) in bytes.iter().enumerate() {
        match quote {
            Some(q) if b == q => quote = None,
            Some(_) => {}
            None if b == b'"' || b == b'\'' => quote = Some(b),
            None if b == b'#' && (i == 0 || bytes[i - 1] == b' ') => return &line[..i],
            None => {}
        }
    }
    line
}

fn unquote(value: &str, line_no: usize) -> Result<String, String> {
    for q in ['"', '\''] {
        if let Some(rest) = value.strip_prefix(q) {
            return match rest.strip_suffix(q) {
                Some(inner) => Ok(inner.to_string()),
                None => Err(format!("line {line_no}: unterminated quote in {value}")),
            };
        }
    }
    Ok(value.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(text: &str) -> Vec<(String, String)> {
        parse(text).unwrap()
    }

    #[test]
    fn flat_keys_comments_and_quotes() {
        let got = pairs(
            "# Spate\nparallelism.default: 4\nrest.address: \"127.0.0.1\" # loopback\n\nname: 'a # b'\nurl: http://x:1\n",
        );
        assert_eq!(
            got,
            vec![
                ("parallelism.default".into(), "4".into()),
                ("rest.address".into(), "127.0.0.1".into()),
                ("name".into(), "a # b".into()),
                ("url".into(), "http://x:1".into()),
            ]
        );
    }

    #[test]
    fn nested_mappings_flatten_to_dotted_keys() {
        let got = pairs(
            "execution:\n  checkpointing:\n    interval: 1 s\n    mode: EXACTLY_ONCE\n  runtime-mode: BATCH\nparallelism:\n  default: 2\ntop: x\n",
        );
        assert_eq!(
            got,
            vec![
                ("execution.checkpointing.interval".into(), "1 s".into()),
                ("execution.checkpointing.mode".into(), "EXACTLY_ONCE".into()),
                ("execution.runtime-mode".into(), "BATCH".into()),
                ("parallelism.default".into(), "2".into()),
                ("top".into(), "x".into()),
            ]
        );
    }

    #[test]
    fn lists_join_with_semicolons() {
        assert_eq!(pairs("paths:\n  - /a\n  - \"/b\"\n"), vec![("paths".into(), "/a;/b".into())]);
    }

    #[test]
    fn errors_name_the_line() {
        assert!(parse("a: 1\njust words\n").unwrap_err().starts_with("line 2:"));
        assert!(parse("- x\n").unwrap_err().contains("line 1"));
        assert!(parse("a: \"open\n").unwrap_err().contains("unterminated"));
        assert!(parse("\ta: 1\n").unwrap_err().contains("tabs"));
    }
}
