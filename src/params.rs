//! Command-line parameters: `--key value`, `-p N` and `-D key=value`, as Flink's
//! `ParameterTool` and `flink run` read them.

use std::fmt::Display;
use std::str::FromStr;

use crate::error::{Error, Result};

/// The parameters a program was started with.
///
/// Parsing never fails on its own: problems are kept and reported by
/// [`StreamEnv::from_params`](crate::StreamEnv::from_params) (or [`Params::check`]), so
/// that `main` can read parameters in one line.
#[derive(Clone, Debug, Default)]
pub struct Params {
    values: Vec<(String, Option<String>)>,
    dynamic: Vec<String>,
    errors: Vec<String>,
}

fn looks_like_number(arg: &str) -> bool {
    arg.parse::<f64>().is_ok()
}

impl Params {
    /// The parameters of this process (`std::env::args`, without the program name).
    pub fn from_args() -> Self {
        Self::parse(std::env::args().skip(1))
    }

    /// Parses a list of arguments.
    ///
    /// ```
    /// use spate::Params;
    /// let p = Params::parse(["--input", "a.txt", "--input=b.txt", "-p", "2", "-D", "execution.runtime-mode=BATCH", "--plan"]);
    /// assert_eq!(p.get_all("input"), vec!["a.txt", "b.txt"]);
    /// assert_eq!(p.get("parallelism"), Some("2"));
    /// assert!(p.has("plan"));
    /// assert_eq!(p.dynamic_properties(), ["execution.runtime-mode=BATCH"]);
    /// ```
    pub fn parse<I, S>(args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut params = Params::default();
        let mut args = args.into_iter().map(Into::into).peekable();
        while let Some(arg) = args.next() {
            if arg == "-D" {
                match args.next() {
                    Some(assignment) => params.dynamic.push(assignment),
                    None => params.errors.push("-D needs a key=value after it".into()),
                }
            } else if let Some(assignment) = arg.strip_prefix("-D") {
                params.dynamic.push(assignment.to_string());
            } else if arg == "-p" {
                match args.next() {
                    Some(n) => params.values.push(("parallelism".into(), Some(n))),
                    None => params.errors.push("-p needs a number after it".into()),
                }
            } else if let Some(key) = arg.strip_prefix("--") {
                if key.is_empty() {
                    params.errors.push("'--' must be followed by a parameter name".into());
                } else if let Some((k, v)) = key.split_once('=') {
                    params.values.push((k.to_string(), Some(v.to_string())));
                } else {
                    let value = match args.peek() {
                        Some(next) if !next.starts_with('-') || looks_like_number(next) => args.next(),
                        _ => None,
                    };
                    params.values.push((key.to_string(), value));
                }
            } else {
                params.errors.push(format!("unexpected argument '{arg}' (parameters are written --key value)"));
            }
        }
        params
    }

    /// Fails with the first problem found while parsing.
    pub fn check(&self) -> Result<()> {
        match self.errors.first() {
            Some(e) => Err(Error::Arguments(e.clone())),
            None => Ok(()),
        }
    }

    /// The last value of `--key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.values.iter().rev().find(|(k, _)| k == key).and_then(|(_, v)| v.as_deref())
    }

    /// Every value of a repeated `--key`.
    pub fn get_all(&self, key: &str) -> Vec<&str> {
        self.values.iter().filter(|(k, _)| k == key).filter_map(|(_, v)| v.as_deref()).collect()
    }

    /// Whether `--key` was given (with or without a value).
    pub fn has(&self, key: &str) -> bool {
        self.values.iter().any(|(k, _)| k == key)
    }

    /// The value of `--key`, or an error saying it is missing.
    pub fn required(&self, key: &str) -> Result<&str> {
        self.get(key).ok_or_else(|| Error::MissingParameter(key.to_string()))
    }

    /// The value of `--key`, or `default`.
    pub fn get_or<'a>(&'a self, key: &str, default: &'a str) -> &'a str {
        self.get(key).unwrap_or(default)
    }

    /// The value of `--key` parsed as `T`, if given; the error names the parameter.
    pub fn parsed<T>(&self, key: &str) -> Result<Option<T>>
    where
        T: FromStr,
        T::Err: Display,
    {
        match self.get(key) {
            None if self.has(key) => Err(Error::InvalidParameter {
                key: key.into(),
                value: String::new(),
                reason: "a value is required".into(),
            }),
            None => Ok(None),
            Some(v) => v.parse().map(Some).map_err(|e: T::Err| Error::InvalidParameter {
                key: key.into(),
                value: v.into(),
                reason: e.to_string(),
            }),
        }
    }

    /// The `-D key=value` assignments, in order.
    pub fn dynamic_properties(&self) -> &[String] {
        &self.dynamic
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_values_and_negative_numbers() {
        let p = Params::parse(["--plan", "--offset", "-5", "--name", "x", "--verbose"]);
        assert!(p.has("plan") && p.get("plan").is_none());
        assert_eq!(p.parsed::<i32>("offset").unwrap(), Some(-5));
        assert_eq!(p.get("name"), Some("x"));
        assert!(p.has("verbose"));
        p.check().unwrap();
    }

    #[test]
    fn problems_are_kept_and_reported() {
        let err = Params::parse(["input.txt"]).check().unwrap_err().to_string();
        assert!(err.contains("unexpected argument 'input.txt'"), "{err}");
        assert!(Params::parse(["-p"]).check().is_err());
        assert!(Params::parse(["-D"]).check().is_err());
        let p = Params::parse(["--count", "many"]);
        let err = p.parsed::<u64>("count").unwrap_err().to_string();
        assert_eq!(err, "invalid value 'many' for --count: invalid digit found in string");
        assert_eq!(
            Params::parse::<[&str; 0], &str>([]).required("input").unwrap_err().to_string(),
            "missing required parameter --input"
        );
    }
}
