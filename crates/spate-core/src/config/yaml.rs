//! Reads `config.yaml` the way Flink 2.x's `GlobalConfiguration` does: the file is one
//! YAML document whose top level is a mapping; nested mappings flatten to dotted keys
//! (`execution: {checkpointing: {interval: 1 s}}` is `execution.checkpointing.interval`),
//! scalars keep their text, and lists become their YAML flow text (`[a, b]`), which
//! [`parse_list`] reads back.
//!
//! The YAML itself is parsed by `saphyr-parser` (a YAML 1.2 parser that passes the YAML
//! test suite and reports positions). Its events are checked here, not turned into a
//! generic tree first, so that every key keeps its position: a malformed file, a duplicate
//! key (also one that only arises after flattening, like `a.b: 1` next to `a: {b: 2}`), a
//! null value, a key that is not a scalar or a top level that is not a mapping is a
//! [`YamlError`] naming the line and column, never a silent misreading.

use super::InvalidValue;
use std::borrow::Cow;
use std::collections::HashMap;
use std::collections::hash_map::Entry;

use saphyr_parser::{Event, Parser, ScalarStyle, ScanError, Span, Tag};
use thiserror::Error;

/// Nesting deeper than this is refused: no real config file comes close, and the
/// flattening below recurses once per level.
const MAX_DEPTH: usize = 64;

/// At most this many YAML nodes (after expanding aliases): bounds the memory a file full
/// of aliases to aliases ("billion laughs") can claim.
const MAX_NODES: usize = 100_000;

/// A place in the file, 1-based, columns counted in characters (as editors show them).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Position {
    /// The line, from 1.
    pub line: usize,
    /// The column, from 1.
    pub column: usize,
}

impl Position {
    fn of(span: Span) -> Self {
        Position { line: span.start.line(), column: span.start.col() + 1 }
    }
}

impl std::fmt::Display for Position {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}, column {}", self.line, self.column)
    }
}

/// Why a config file was refused, and where.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
#[error("{at}: {kind}")]
pub struct YamlError {
    /// Where the problem is.
    pub at: Position,
    /// What it is.
    pub kind: YamlErrorKind,
}

/// What is wrong with a config file.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum YamlErrorKind {
    /// The text is not valid YAML (the parser's own words).
    #[error("invalid YAML: {0}")]
    Syntax(String),
    /// The same key twice, directly or once flattened.
    #[error("duplicate key '{key}' (first set at {first})")]
    DuplicateKey {
        /// The (flattened) key.
        key: String,
        /// Where it was set first.
        first: Position,
    },
    /// The document is a scalar or a list, not `key: value` pairs.
    #[error("the top level must be a mapping of keys to values, found {found}")]
    TopLevelNotMapping {
        /// What was found instead.
        found: &'static str,
    },
    /// A key that is a list or a mapping.
    #[error("a key must be a scalar, found {found}")]
    KeyNotScalar {
        /// What was found instead.
        found: &'static str,
    },
    /// A key that is empty or null.
    #[error("a key must not be empty or null")]
    EmptyKey,
    /// `key:` with nothing (or `~`, `null`) after it. Flink refuses such a file too
    /// (`Configuration` takes no null values); leaving a key out gives its default.
    #[error("key '{key}' has no value (remove it to use the default, or write '' for an empty string)")]
    NullValue {
        /// The (flattened) key.
        key: String,
    },
    /// YAML 1.1 merge keys are not part of YAML 1.2; refused rather than read as a key
    /// named `<<`.
    #[error("merge keys (<<) are not supported")]
    MergeKey,
    /// A tag other than YAML's own (`!!str`, `!!int`, ...).
    #[error("unsupported tag {0}")]
    UnsupportedTag(String),
    /// More than one document (`---`) in the file.
    #[error("a config file holds one YAML document, found a second one")]
    MultipleDocuments,
    /// Nesting deeper than the limit.
    #[error("nested deeper than {MAX_DEPTH} levels")]
    TooDeep,
    /// More nodes (after expanding aliases) than the limit.
    #[error("more than {MAX_NODES} values once aliases are expanded")]
    TooLarge,
}

/// Parses the text of a config file into flattened `(key, value)` pairs, in file order.
pub fn parse(text: &str) -> Result<Vec<(String, String)>, YamlError> {
    let Some(root) = load(text)? else {
        // An empty file, or one with only comments: nothing is set (as in Flink).
        return Ok(Vec::new());
    };
    let entries = match root.value {
        Value::Map(entries) => entries,
        Value::Scalar(s) if s.is_null() => return Ok(Vec::new()),
        other => {
            return Err(YamlError { at: root.at, kind: YamlErrorKind::TopLevelNotMapping { found: other.describe() } });
        }
    };
    let mut out = Vec::new();
    let mut seen = HashMap::new();
    flatten(entries, "", &mut seen, &mut out)?;
    Ok(out)
}

/// Reads a list value: the YAML flow form that `config.yaml` lists become (`[a, b]`), or
/// Flink's legacy `a;b` form (as written with `-D`). For list-typed options.
pub fn parse_list(raw: &str) -> Result<Vec<String>, InvalidValue> {
    let raw = raw.trim();
    if !raw.starts_with('[') {
        return Ok(raw.split(';').map(str::trim).filter(|s| !s.is_empty()).map(str::to_string).collect());
    }
    let node = load(raw).map_err(|e| InvalidValue::from(format!("not a YAML list: {}", e.kind)))?;
    match node.map(|n| n.value) {
        Some(Value::Seq(items)) => items
            .into_iter()
            .map(|item| match item.value {
                Value::Scalar(s) if !s.is_null() => Ok(s.text),
                other => Err(format!("expected a list of scalars, found {} in it", other.describe()).into()),
            })
            .collect(),
        _ => Err("not a YAML list".into()),
    }
}

/// A YAML node with the position where it starts.
#[derive(Clone, Debug)]
struct Node {
    at: Position,
    value: Value,
}

#[derive(Clone, Debug)]
enum Value {
    Scalar(Scalar),
    Seq(Vec<Node>),
    Map(Vec<(Node, Node)>),
}

#[derive(Clone, Debug)]
struct Scalar {
    text: String,
    /// Plain (unquoted) and untagged: the only form in which `null`, `~` and the empty
    /// text mean null, and a key may be the merge key `<<`.
    plain: bool,
    /// Whether YAML reads it as typed (a number or boolean where the text is one): plain
    /// and untagged, or tagged with a core type other than `!!str`. A quoted `"4"` is not.
    typed: bool,
    /// Tagged `!!null`.
    null_tag: bool,
}

impl Scalar {
    fn is_null(&self) -> bool {
        self.null_tag || (self.plain && matches!(self.text.as_str(), "" | "~" | "null" | "Null" | "NULL"))
    }
}

impl Value {
    fn describe(&self) -> &'static str {
        match self {
            Value::Scalar(s) if s.is_null() => "null",
            Value::Scalar(_) => "a scalar",
            Value::Seq(_) => "a list",
            Value::Map(_) => "a mapping",
        }
    }
}

/// The document's root node; `None` for a stream without a document.
///
/// `saphyr-parser` 0.3 refuses a tab between `:` and a value that starts with a letter,
/// a digit or `-` (`key:\tvalue`), which YAML allows (tabs are separation white space
/// outside indentation). Such a tab is turned into a space, which means the same and
/// keeps every position, and the text is parsed again.
fn load(text: &str) -> Result<Option<Node>, YamlError> {
    let mut text = Cow::Borrowed(text);
    loop {
        match build(&text) {
            Err(Failure::Scan(e)) => match untab_after_colon(&text, e.marker().index()) {
                Some(fixed) => text = Cow::Owned(fixed),
                None => return Err(scan_error(&e)),
            },
            Err(Failure::Refused(e)) => return Err(e),
            Ok(root) => return Ok(root),
        }
    }
}

/// The text with the tabs just before character `index` made spaces, when they follow
/// a `:` (a key's separator: anywhere else, such as in indentation, a tab stays an
/// error); `None` if there are none (so `load` cannot loop).
fn untab_after_colon(text: &str, index: usize) -> Option<String> {
    let chars: Vec<char> = text.chars().collect();
    let mut i = index.min(chars.len());
    let mut fixed = chars.clone();
    let mut changed = false;
    while i > 0 && matches!(chars[i - 1], ' ' | '\t') {
        if chars[i - 1] == '\t' {
            fixed[i - 1] = ' ';
            changed = true;
        }
        i -= 1;
    }
    (changed && i > 0 && chars[i - 1] == ':').then(|| fixed.into_iter().collect())
}

fn scan_error(e: &ScanError) -> YamlError {
    let m = e.marker();
    YamlError {
        at: Position { line: m.line(), column: m.col() + 1 },
        kind: YamlErrorKind::Syntax(e.info().to_string()),
    }
}

enum Failure {
    Scan(ScanError),
    Refused(YamlError),
}

impl From<ScanError> for Failure {
    fn from(e: ScanError) -> Self {
        Failure::Scan(e)
    }
}

fn refuse(at: Position, kind: YamlErrorKind) -> Failure {
    Failure::Refused(YamlError { at, kind })
}

/// A collection being built: its position, anchor and children so far.
struct Open {
    at: Position,
    anchor: usize,
    items: Vec<Node>,
    is_map: bool,
}

/// Builds the root node from the parser's events, expanding aliases.
fn build(text: &str) -> Result<Option<Node>, Failure> {
    let mut stack: Vec<Open> = Vec::new();
    let mut anchors: HashMap<usize, (Node, usize)> = HashMap::new();
    let mut nodes = 0usize;
    let mut root: Option<Node> = None;
    let mut documents = 0usize;

    for event in Parser::new_from_str(text) {
        let (event, span) = event?;
        let at = Position::of(span);
        let (node, anchor, size) = match event {
            Event::StreamStart | Event::StreamEnd | Event::DocumentEnd | Event::Nothing => continue,
            Event::DocumentStart(_) => {
                documents += 1;
                if documents > 1 {
                    return Err(refuse(at, YamlErrorKind::MultipleDocuments));
                }
                continue;
            }
            Event::SequenceStart(anchor, ref tag) | Event::MappingStart(anchor, ref tag) => {
                let is_map = matches!(event, Event::MappingStart(..));
                check_collection_tag(tag.as_deref(), is_map, at)?;
                if stack.len() >= MAX_DEPTH {
                    return Err(refuse(at, YamlErrorKind::TooDeep));
                }
                stack.push(Open { at, anchor, items: Vec::new(), is_map });
                continue;
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let Some(open) = stack.pop() else { continue };
                let size = 1 + open.items.iter().map(count).sum::<usize>();
                let value = if open.is_map {
                    let mut pairs = Vec::with_capacity(open.items.len() / 2);
                    let mut items = open.items.into_iter();
                    while let (Some(k), Some(v)) = (items.next(), items.next()) {
                        pairs.push((k, v));
                    }
                    Value::Map(pairs)
                } else {
                    Value::Seq(open.items)
                };
                (Node { at: open.at, value }, open.anchor, size)
            }
            Event::Scalar(text, style, anchor, tag) => {
                nodes += 1;
                (Node { at, value: Value::Scalar(scalar(text.into_owned(), style, tag.as_deref(), at)?) }, anchor, 1)
            }
            Event::Alias(id) => {
                // The parser refuses aliases to unknown anchors itself.
                let Some((node, size)) = anchors.get(&id) else { continue };
                nodes += size;
                let mut node = node.clone();
                node.at = at;
                (node, 0, *size)
            }
        };
        if nodes > MAX_NODES {
            return Err(refuse(at, YamlErrorKind::TooLarge));
        }
        if anchor != 0 {
            anchors.insert(anchor, (node.clone(), size));
        }
        match stack.last_mut() {
            Some(open) => open.items.push(node),
            None => root = Some(node),
        }
    }
    Ok(root)
}

fn count(node: &Node) -> usize {
    match &node.value {
        Value::Scalar(_) => 1,
        Value::Seq(items) => 1 + items.iter().map(count).sum::<usize>(),
        Value::Map(pairs) => 1 + pairs.iter().map(|(k, v)| count(k) + count(v)).sum::<usize>(),
    }
}

fn is_core(tag: &Tag) -> bool {
    tag.is_yaml_core_schema()
}

/// `!` alone: YAML's non-specific tag ("no particular type"; the parser gives it an
/// empty handle).
fn is_non_specific(tag: &Tag) -> bool {
    tag.handle.is_empty() && tag.suffix == "!"
}

/// A tag as it would be written in the file.
fn tag_name(tag: &Tag) -> String {
    if is_core(tag) { format!("!!{}", tag.suffix) } else { format!("{}{}", tag.handle, tag.suffix) }
}

fn scalar(text: String, style: ScalarStyle, tag: Option<&Tag>, at: Position) -> Result<Scalar, Failure> {
    let typed = match tag {
        None => style == ScalarStyle::Plain,
        Some(t) if is_non_specific(t) => false,
        Some(t) if is_core(t) && t.suffix == "str" => false,
        Some(t) if is_core(t) && matches!(t.suffix.as_str(), "null" | "bool" | "int" | "float") => true,
        Some(t) => return Err(refuse(at, YamlErrorKind::UnsupportedTag(tag_name(t)))),
    };
    let null_tag = tag.is_some_and(|t| is_core(t) && t.suffix == "null");
    Ok(Scalar { text, plain: tag.is_none() && style == ScalarStyle::Plain, typed, null_tag })
}

fn check_collection_tag(tag: Option<&Tag>, is_map: bool, at: Position) -> Result<(), Failure> {
    match tag {
        None => Ok(()),
        Some(t) if is_non_specific(t) || (is_core(t) && t.suffix == if is_map { "map" } else { "seq" }) => Ok(()),
        Some(t) => Err(refuse(at, YamlErrorKind::UnsupportedTag(tag_name(t)))),
    }
}

/// Flattens a mapping's entries under `prefix` into `out`; `seen` holds where each
/// flattened key was set, to refuse duplicates.
fn flatten(
    entries: Vec<(Node, Node)>,
    prefix: &str,
    seen: &mut HashMap<String, Position>,
    out: &mut Vec<(String, String)>,
) -> Result<(), YamlError> {
    // Duplicates among this mapping's own keys, also those whose values are mappings
    // (`a: {x: 1}` twice flattens without a collision but is still a duplicate key).
    let mut own: HashMap<String, Position> = HashMap::new();
    for (key, value) in entries {
        let name = match key.value {
            Value::Scalar(s) if s.plain && s.text == "<<" => {
                return Err(YamlError { at: key.at, kind: YamlErrorKind::MergeKey });
            }
            Value::Scalar(s) if s.is_null() || s.text.is_empty() => {
                return Err(YamlError { at: key.at, kind: YamlErrorKind::EmptyKey });
            }
            Value::Scalar(s) => s.text,
            other => {
                return Err(YamlError { at: key.at, kind: YamlErrorKind::KeyNotScalar { found: other.describe() } });
            }
        };
        let full = if prefix.is_empty() { name.clone() } else { format!("{prefix}.{name}") };
        match own.entry(name) {
            Entry::Occupied(first) => {
                return Err(YamlError {
                    at: key.at,
                    kind: YamlErrorKind::DuplicateKey { key: full, first: *first.get() },
                });
            }
            Entry::Vacant(slot) => {
                slot.insert(key.at);
            }
        }
        match value.value {
            Value::Map(inner) => flatten(inner, &full, seen, out)?,
            Value::Scalar(s) if s.is_null() => {
                return Err(YamlError { at: value.at, kind: YamlErrorKind::NullValue { key: full } });
            }
            leaf => {
                if let Some(first) = seen.get(&full) {
                    return Err(YamlError {
                        at: key.at,
                        kind: YamlErrorKind::DuplicateKey { key: full, first: *first },
                    });
                }
                seen.insert(full.clone(), key.at);
                let text = match leaf {
                    Value::Scalar(s) => s.text,
                    list => flow_text(&list),
                };
                out.push((full, text));
            }
        }
    }
    Ok(())
}

/// The YAML flow form of a value, as Flink's `YamlParserUtils.toYAMLString` writes a list
/// found in `config.yaml` (`[a, b]`, `[{x: 1}]`): scalars stay plain where that reads
/// back as the same text, else they are quoted.
fn flow_text(value: &Value) -> String {
    match value {
        Value::Scalar(s) if s.is_null() => "null".into(),
        Value::Scalar(s) => flow_scalar(s),
        Value::Seq(items) => {
            let items: Vec<String> = items.iter().map(|n| flow_text(&n.value)).collect();
            format!("[{}]", items.join(", "))
        }
        Value::Map(pairs) => {
            let pairs: Vec<String> =
                pairs.iter().map(|(k, v)| format!("{}: {}", flow_text(&k.value), flow_text(&v.value))).collect();
            format!("{{{}}}", pairs.join(", "))
        }
    }
}

fn flow_scalar(s: &Scalar) -> String {
    let text = s.text.as_str();
    // A quoted "true" or "4" is a string; written plain it would read as a boolean or a
    // number, so it keeps its quotes.
    if plain_safe(text) && (s.typed || !looks_typed(text)) {
        return text.to_string();
    }
    if text.chars().any(|c| c.is_control()) {
        let mut out = String::from("\"");
        for c in text.chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '\t' => out.push_str("\\t"),
                '\r' => out.push_str("\\r"),
                c if c.is_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
                c => out.push(c),
            }
        }
        out.push('"');
        out
    } else {
        format!("'{}'", text.replace('\'', "''"))
    }
}

/// Whether `text` can be written as a plain scalar inside a flow collection.
fn plain_safe(text: &str) -> bool {
    let Some(first) = text.chars().next() else { return false };
    !"-?:,[]{}#&*!|>'\"%@`".contains(first)
        && !first.is_whitespace()
        && !text.ends_with(char::is_whitespace)
        && !text.ends_with(':')
        && !text.contains(": ")
        && !text.contains(" #")
        && !text.contains(|c: char| ",[]{}".contains(c) || c.is_control())
}

/// Whether plain `text` would be read as null, a boolean or a number.
fn looks_typed(text: &str) -> bool {
    let lower = text.to_ascii_lowercase();
    if matches!(
        lower.as_str(),
        "~" | "null" | "true" | "false" | "yes" | "no" | "on" | "off" | ".inf" | "-.inf" | ".nan"
    ) {
        return true;
    }
    let digits = lower.strip_prefix(['-', '+']).unwrap_or(&lower);
    !digits.is_empty()
        && digits.starts_with(|c: char| c.is_ascii_digit() || c == '.')
        && digits.chars().all(|c| c.is_ascii_hexdigit() || matches!(c, '.' | 'e' | 'x' | 'o' | '_' | '+' | '-'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(text: &str) -> Vec<(String, String)> {
        parse(text).unwrap_or_else(|e| panic!("{text:?}: {e}"))
    }

    fn pair(k: &str, v: &str) -> (String, String) {
        (k.to_string(), v.to_string())
    }

    fn err(text: &str) -> YamlError {
        match parse(text) {
            Ok(p) => panic!("{text:?} was accepted as {p:?}"),
            Err(e) => e,
        }
    }

    #[test]
    fn flat_keys_comments_and_quotes() {
        let got = pairs(
            "# Spate\nparallelism.default: 4\nrest.address: \"127.0.0.1\" # loopback\n\nname: 'a # b'\nurl: http://x:1\n",
        );
        assert_eq!(
            got,
            vec![
                pair("parallelism.default", "4"),
                pair("rest.address", "127.0.0.1"),
                pair("name", "a # b"),
                pair("url", "http://x:1"),
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
                pair("execution.checkpointing.interval", "1 s"),
                pair("execution.checkpointing.mode", "EXACTLY_ONCE"),
                pair("execution.runtime-mode", "BATCH"),
                pair("parallelism.default", "2"),
                pair("top", "x"),
            ]
        );
    }

    #[test]
    fn flat_and_nested_keys_mix() {
        let got = pairs("execution.checkpointing:\n  interval: 1 s\nexecution:\n  checkpointing.mode: AT_LEAST_ONCE\n");
        assert_eq!(
            got,
            vec![
                pair("execution.checkpointing.interval", "1 s"),
                pair("execution.checkpointing.mode", "AT_LEAST_ONCE")
            ]
        );
    }

    #[test]
    fn flow_mappings_are_mappings() {
        assert_eq!(pairs("{parallelism.default: 2}\n"), vec![pair("parallelism.default", "2")]);
        assert_eq!(
            pairs("execution: {checkpointing: {interval: 1 s}}\n"),
            vec![pair("execution.checkpointing.interval", "1 s")]
        );
    }

    #[test]
    fn scalars_keep_their_text() {
        let got = pairs("a: true\nb: 4\nc: 1 s\nd: 0.5\ne: ''\nf: \"null\"\ng: !!str 7\nh: |\n  two\n  lines\n");
        assert_eq!(
            got,
            vec![
                pair("a", "true"),
                pair("b", "4"),
                pair("c", "1 s"),
                pair("d", "0.5"),
                pair("e", ""),
                pair("f", "null"),
                pair("g", "7"),
                pair("h", "two\nlines\n"),
            ]
        );
    }

    #[test]
    fn a_tab_after_the_colon_separates_like_a_space() {
        assert_eq!(pairs("key:\tvalue\n"), vec![pair("key", "value")]);
        assert_eq!(pairs("a:\t-5\nb:\t\t2 s\nc: \tx\n"), vec![pair("a", "-5"), pair("b", "2 s"), pair("c", "x")]);
        assert_eq!(pairs("outer:\n  inner:\tv\n"), vec![pair("outer.inner", "v")]);
        // A tab inside a quoted value stays a tab.
        assert_eq!(pairs("k:\t\"a:\tb\"\n"), vec![pair("k", "a:\tb")]);
        // Tabs are still no indentation.
        assert!(matches!(err("a:\n\tb: 1\n").kind, YamlErrorKind::Syntax(_)));
    }

    #[test]
    fn lists_become_flow_text_as_in_flink() {
        assert_eq!(pairs("paths:\n  - /a\n  - \"/b\"\n"), vec![pair("paths", "[/a, /b]")]);
        assert_eq!(
            pairs("p: [x, 'true', 3, ~, 'a, b', \"it's\"]\n"),
            vec![pair("p", "[x, 'true', 3, null, 'a, b', it's]")]
        );
        assert_eq!(pairs("p: []\nq: [[a], {k: v}]\n"), vec![pair("p", "[]"), pair("q", "[[a], {k: v}]")]);
    }

    #[test]
    fn list_values_read_back() {
        for (text, want) in [
            ("paths:\n  - /a\n  - \"/b\"\n", vec!["/a", "/b"]),
            ("p: [x, 'a, b', \"it's\", 'true']\n", vec!["x", "a, b", "it's", "true"]),
            ("p: ['tab\there']\n", vec!["tab\there"]),
        ] {
            let (_, value) = pairs(text).remove(0);
            assert_eq!(parse_list(&value).unwrap(), want, "{value}");
        }
        assert_eq!(parse_list("a; b;c").unwrap(), vec!["a", "b", "c"]);
        assert_eq!(parse_list("").unwrap(), Vec::<String>::new());
        assert!(parse_list("[a, [b]]").is_err());
        assert!(parse_list("[a").is_err());
    }

    #[test]
    fn empty_documents_set_nothing() {
        for text in ["", "# only a comment\n", "---\n", "~\n", "\u{feff}"] {
            assert_eq!(pairs(text), vec![], "{text:?}");
        }
        assert_eq!(pairs("a: {}\n"), vec![]);
    }

    #[test]
    fn aliases_expand() {
        let got = pairs("base: &b {x: 1}\ncopy: *b\nv: &v 5 s\nw: *v\n");
        assert_eq!(got, vec![pair("base.x", "1"), pair("copy.x", "1"), pair("v", "5 s"), pair("w", "5 s")]);
    }

    #[test]
    fn invalid_yaml_names_line_and_column() {
        let e = err("a: 1\nb: \"open\n");
        assert_eq!(e.at.line, 2, "{e}");
        assert!(e.to_string().starts_with("line 2, column 4: invalid YAML"), "{e}");
        // Inconsistent indentation: the old parser re-nested `c` under `a`.
        let e = err("a:\n    b: 1\n  c: 2\n");
        assert_eq!(e.at, Position { line: 3, column: 3 }, "{e}");
        let e = err("a: b: c\n");
        assert_eq!(e.at, Position { line: 1, column: 5 }, "{e}");
    }

    #[test]
    fn duplicate_keys_are_refused() {
        let e = err("a: 1\nb: 2\na: 3\n");
        assert_eq!(e.at, Position { line: 3, column: 1 });
        assert_eq!(e.kind, YamlErrorKind::DuplicateKey { key: "a".into(), first: Position { line: 1, column: 1 } });
        let e = err("x:\n  a: {p: 1}\n  a: {q: 2}\n");
        assert_eq!(e.kind, YamlErrorKind::DuplicateKey { key: "x.a".into(), first: Position { line: 2, column: 3 } });
    }

    #[test]
    fn duplicates_after_flattening_are_refused() {
        let e = err("a.b: 1\na:\n  b: 2\n");
        assert_eq!(e.at, Position { line: 3, column: 3 });
        assert_eq!(e.kind, YamlErrorKind::DuplicateKey { key: "a.b".into(), first: Position { line: 1, column: 1 } });
        assert!(e.to_string().contains("duplicate key 'a.b' (first set at line 1, column 1)"), "{e}");
        assert!(matches!(err("a: {b.c: 1}\na.b: {c: 2}\n").kind, YamlErrorKind::DuplicateKey { .. }));
        // A key and a longer key under it are two keys, as in Flink.
        assert_eq!(pairs("a: 1\na.b: 2\n"), vec![pair("a", "1"), pair("a.b", "2")]);
    }

    #[test]
    fn the_top_level_must_be_a_mapping() {
        let e = err("parallelism default\n");
        assert_eq!(e.at, Position { line: 1, column: 1 });
        assert_eq!(e.kind, YamlErrorKind::TopLevelNotMapping { found: "a scalar" });
        assert_eq!(err("- x\n- y\n").kind, YamlErrorKind::TopLevelNotMapping { found: "a list" });
    }

    #[test]
    fn keys_must_be_scalars() {
        let e = err("ok: 1\n? [a, b]\n: 2\n");
        assert_eq!(e.at, Position { line: 2, column: 3 });
        assert_eq!(e.kind, YamlErrorKind::KeyNotScalar { found: "a list" });
        assert_eq!(err("{x: 1}: 2\n").kind, YamlErrorKind::KeyNotScalar { found: "a mapping" });
        assert_eq!(err("\"\": 1\n").kind, YamlErrorKind::EmptyKey);
        assert_eq!(err("~: 1\n").kind, YamlErrorKind::EmptyKey);
    }

    #[test]
    fn null_values_are_refused_as_flink_does() {
        let e = err("a: 1\nb:\nc: 3\n");
        assert_eq!(e.kind, YamlErrorKind::NullValue { key: "b".into() });
        assert_eq!(e.at.line, 2);
        for text in ["x: ~\n", "x: null\n", "x: !!null ''\n", "outer:\n  inner:\n"] {
            assert!(matches!(err(text).kind, YamlErrorKind::NullValue { .. }), "{text:?}");
        }
        // Quoted, it is text.
        assert_eq!(pairs("x: 'null'\n"), vec![pair("x", "null")]);
    }

    #[test]
    fn other_refusals() {
        assert_eq!(err("a: 1\n---\nb: 2\n").kind, YamlErrorKind::MultipleDocuments);
        assert_eq!(err("base: &b {x: 1}\nother:\n  <<: *b\n").kind, YamlErrorKind::MergeKey);
        assert_eq!(err("a: !secret x\n").kind, YamlErrorKind::UnsupportedTag("!secret".into()));
        assert_eq!(err("a: !!binary eA==\n").kind, YamlErrorKind::UnsupportedTag("!!binary".into()));
        assert_eq!(pairs("a: ! 4\nb: !!int 5\n"), vec![pair("a", "4"), pair("b", "5")]);
        let deep = format!("{}1{}", "[".repeat(MAX_DEPTH + 1), "]".repeat(MAX_DEPTH + 1));
        assert_eq!(err(&format!("a: {deep}\n")).kind, YamlErrorKind::TooDeep);
        let mut laughs = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..8 {
            let prev = format!("*a{}", i - 1);
            laughs.push_str(&format!("a{i}: &a{i} [{}]\n", vec![prev; 10].join(", ")));
        }
        assert_eq!(err(&laughs).kind, YamlErrorKind::TooLarge);
    }
}
