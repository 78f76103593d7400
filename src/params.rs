//! Command-line parameters: `--key value`, `-p N` and `-D key=value`, as Flink's
//! `ParameterTool` and `flink run` read them.
//!
//! They are read in one of two ways. Leniently ([`Params::parse`], [`Params::from_args`]),
//! as Flink's `ParameterTool` does: any `--key` is taken, and a program asks for the keys
//! it knows. Or strictly against a [`Usage`] that declares the flags a program accepts
//! ([`Params::parse_strict`], [`Params::from_args_or_exit`]): then a misspelled flag, a
//! missing value or a stray argument is an error naming it, instead of a job that runs
//! with a default nobody asked for, and the same declaration prints the program's usage.

use std::fmt::{self, Display};
use std::io::Write;
use std::str::FromStr;

use crate::error::{Error, Result};

/// The parameters a program was started with.
///
/// Lenient parsing ([`Params::parse`]) never fails on its own: problems are kept and
/// reported by [`StreamEnv::from_params`](crate::StreamEnv::from_params) (or
/// [`Params::check`]), so that `main` can read parameters in one line. Strict parsing
/// against a [`Usage`] ([`Params::parse_strict`]) fails at once instead.
#[derive(Clone, Debug, Default)]
pub struct Params {
    values: Vec<(String, Option<String>)>,
    dynamic: Vec<String>,
    errors: Vec<Problem>,
}

/// A problem found while parsing, kept until [`Params::check`] reports it. A private
/// copy of the matching [`Error`] variants because `Params` is `Clone` and `Error` is
/// not.
#[derive(Clone, Debug)]
enum Problem {
    Unknown { flag: String, suggestion: Option<String> },
    NoValue { flag: String },
    UnexpectedValue { flag: String, value: String },
    Repeated { flag: String },
    Positional { argument: String, after: Option<String> },
    Other(String),
}

impl Problem {
    fn to_error(&self) -> Error {
        match self.clone() {
            Problem::Unknown { flag, suggestion } => Error::UnknownParameter { flag, suggestion },
            Problem::NoValue { flag } => Error::MissingValue { flag },
            Problem::UnexpectedValue { flag, value } => Error::UnexpectedValue { flag, value },
            Problem::Repeated { flag } => Error::RepeatedParameter { flag },
            Problem::Positional { argument, after } => Error::UnexpectedArgument { argument, after },
            Problem::Other(message) => Error::Arguments(message),
        }
    }
}

fn looks_like_number(arg: &str) -> bool {
    arg.parse::<f64>().is_ok()
}

/// Whether `next` can be the value of the flag before it: anything but another flag. A
/// negative number is a value, as in Flink's `ParameterTool`.
fn is_value(next: &str) -> bool {
    !next.starts_with('-') || looks_like_number(next)
}

/// The arguments of this process without the program name. `std::env::args` would
/// panic on an argument that is not UTF-8; this reports it instead (and parses its lossy
/// form, so that the other arguments are still read).
fn process_args() -> (Vec<String>, Option<Problem>) {
    let mut problem = None;
    let args = std::env::args_os()
        .skip(1)
        .map(|arg| {
            arg.into_string().unwrap_or_else(|arg| {
                let lossy = arg.to_string_lossy().into_owned();
                problem.get_or_insert_with(|| Problem::Other(format!("argument '{lossy}' is not valid UTF-8")));
                lossy
            })
        })
        .collect();
    (args, problem)
}

impl Params {
    /// The parameters of this process (`std::env::args`, without the program name),
    /// parsed leniently: see [`Params::parse`].
    pub fn from_args() -> Self {
        let (args, problem) = process_args();
        let mut params = Self::parse(args);
        if let Some(problem) = problem {
            params.errors.insert(0, problem);
        }
        params
    }

    /// Parses a list of arguments leniently: every `--key` is taken, with the argument
    /// after it as its value unless that is another flag. This is Flink's
    /// `ParameterTool` behaviour, and what programs that declare nothing get; a program
    /// that wants misspelled or unknown flags rejected uses [`Params::parse_strict`].
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
                    None => params.errors.push(Problem::NoValue { flag: arg }),
                }
            } else if let Some(assignment) = arg.strip_prefix("-D") {
                params.dynamic.push(assignment.to_string());
            } else if arg == "-p" {
                match args.next() {
                    Some(n) => params.values.push(("parallelism".into(), Some(n))),
                    None => params.errors.push(Problem::NoValue { flag: arg }),
                }
            } else if let Some(key) = arg.strip_prefix("--") {
                if key.is_empty() {
                    params.errors.push(Problem::Other("'--' must be followed by a parameter name".into()));
                } else if let Some((k, v)) = key.split_once('=') {
                    params.values.push((k.to_string(), Some(v.to_string())));
                } else {
                    let value = args.next_if(|next| is_value(next));
                    params.values.push((key.to_string(), value));
                }
            } else {
                params.errors.push(Problem::Positional { argument: arg, after: None });
            }
        }
        params
    }

    /// Parses a list of arguments against the flags `usage` declares, failing on the
    /// first thing that does not fit, so that a typo stops the program instead of being
    /// ignored:
    ///
    /// - a flag not declared: [`Error::UnknownParameter`], with the closest declared flag
    ///   as a suggestion;
    /// - a flag that takes a value at the end of the line or before another flag:
    ///   [`Error::MissingValue`] (a value that starts with `-` is written `--key=-value`;
    ///   negative numbers need no `=`);
    /// - `--flag=value` for a flag that takes none: [`Error::UnexpectedValue`];
    /// - a flag that is not [`repeatable`](Flag::repeatable) given twice:
    ///   [`Error::RepeatedParameter`] (as Flink's `MultipleParameterTool` refuses to read
    ///   one value of a key given several; a plain `ParameterTool` keeps the last one
    ///   silently, which is how lenient parsing behaves);
    /// - an argument that is not a flag or a flag's value: [`Error::UnexpectedArgument`];
    /// - a [`required`](Flag::required) flag not given: [`Error::MissingParameter`].
    ///
    /// `-p N` / `--parallelism N` and `-D key=value` (read by
    /// [`StreamEnv::from_params`](crate::StreamEnv::from_params)) are always accepted.
    /// `--help` or `-h` anywhere makes it return [`Error::HelpRequested`], whose message
    /// is the usage text, whatever else is wrong with the line.
    ///
    /// ```
    /// use spate::{Error, Flag, Params, Usage};
    ///
    /// let usage = Usage::new("wordcount", "Counts the words of text files.")
    ///     .flag(Flag::value("input", "FILE", "a file to count").repeatable())
    ///     .flag(Flag::switch("plan", "prints the plan instead of running"));
    ///
    /// let params = Params::parse_strict(["--input", "a.txt", "--input=b.txt", "-p", "2"], &usage)?;
    /// assert_eq!(params.get_all("input"), ["a.txt", "b.txt"]);
    /// assert_eq!(params.get("parallelism"), Some("2"));
    ///
    /// let err = Params::parse_strict(["--inptu", "a.txt"], &usage).unwrap_err();
    /// assert_eq!(err.to_string(), "unknown parameter --inptu (did you mean --input?)");
    /// assert!(matches!(Params::parse_strict(["--input"], &usage), Err(Error::MissingValue { flag }) if flag == "--input"));
    /// assert!(matches!(Params::parse_strict(["--plan=yes"], &usage), Err(Error::UnexpectedValue { .. })));
    /// assert!(matches!(Params::parse_strict(["--help"], &usage), Err(Error::HelpRequested { .. })));
    /// # Ok::<(), Error>(())
    /// ```
    pub fn parse_strict<I, S>(args: I, usage: &Usage) -> Result<Self>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut params = Params::default();
        let mut help = false;
        let mut args = args.into_iter().map(Into::into).peekable();
        // The switch just read, if any: an argument after it may have been meant as its value.
        let mut after_switch: Option<String> = None;
        while let Some(arg) = args.next() {
            let previous_switch = after_switch.take();
            if arg == "-h" {
                help = true;
            } else if arg == "-D" {
                match args.next_if(|next| is_value(next)) {
                    Some(assignment) => params.dynamic.push(assignment),
                    None => params.errors.push(Problem::NoValue { flag: arg }),
                }
            } else if let Some(assignment) = arg.strip_prefix("-D") {
                params.dynamic.push(assignment.to_string());
            } else if arg == "-p" {
                match args.next_if(|next| is_value(next)) {
                    Some(n) => params.record(&PARALLELISM, arg, Some(n)),
                    None => params.errors.push(Problem::NoValue { flag: arg }),
                }
            } else if let Some(body) = arg.strip_prefix("--") {
                let (name, inline) = match body.split_once('=') {
                    Some((name, value)) => (name, Some(value.to_string())),
                    None => (body, None),
                };
                let written = format!("--{name}");
                if name.is_empty() {
                    params.errors.push(Problem::Other("'--' must be followed by a parameter name".into()));
                    continue;
                }
                match usage.lookup(name) {
                    None => params.errors.push(Problem::Unknown { flag: written, suggestion: usage.suggest(name) }),
                    Some(flag) if flag.value.is_some() => {
                        match inline.or_else(|| args.next_if(|next| is_value(next))) {
                            Some(value) => params.record(flag, written, Some(value)),
                            None => params.errors.push(Problem::NoValue { flag: written }),
                        }
                    }
                    Some(flag) => match inline {
                        Some(value) => params.errors.push(Problem::UnexpectedValue { flag: written, value }),
                        None if flag.name == HELP.name => help = true,
                        None => {
                            params.record(flag, written.clone(), None);
                            after_switch = Some(written);
                        }
                    },
                }
            } else if arg.len() > 1 && arg.starts_with('-') && !looks_like_number(&arg) {
                // `-input`, `-x`: Spate's only single-dash flags are -p, -D and -h.
                let suggestion = usage.suggest(arg.trim_start_matches('-'));
                params.errors.push(Problem::Unknown { flag: arg, suggestion });
            } else {
                params.errors.push(Problem::Positional { argument: arg, after: previous_switch });
            }
        }
        if help {
            return Err(Error::HelpRequested { usage: usage.to_string() });
        }
        params.check()?;
        if let Some(missing) = usage.flags.iter().find(|f| f.required && !params.has(f.name)) {
            return Err(Error::MissingParameter(missing.name.to_string()));
        }
        Ok(params)
    }

    /// The parameters of this process parsed strictly against `usage`: see
    /// [`Params::parse_strict`]. An argument that is not UTF-8 is an
    /// [`Error::Arguments`].
    pub fn from_args_strict(usage: &Usage) -> Result<Self> {
        let (args, problem) = process_args();
        let params = Self::parse_strict(args, usage);
        match problem {
            Some(problem) if !matches!(params, Err(Error::HelpRequested { .. })) => Err(problem.to_error()),
            _ => params,
        }
    }

    /// The parameters of this process parsed strictly against `usage`, for `main`: on
    /// `--help` prints the usage to stdout and exits with status 0; on a bad command line
    /// prints the error and the usage to stderr and exits with status 2, the usual
    /// status of a usage error (so that scripts can tell it from a failed job). Nothing
    /// else of the program runs then. Use [`Params::from_args_strict`] to handle the
    /// errors yourself.
    ///
    /// ```no_run
    /// use spate::prelude::*;
    ///
    /// fn main() -> spate::Result<()> {
    ///     let params = Params::from_args_or_exit(
    ///         &Usage::new("copy", "Copies lines.").flag(Flag::value("input", "FILE", "the file to read").required()),
    ///     );
    ///     let env = StreamEnv::from_params(&params)?;
    ///     env.read_text_file(params.required("input")?).print();
    ///     env.execute("Copy")?;
    ///     Ok(())
    /// }
    /// ```
    pub fn from_args_or_exit(usage: &Usage) -> Self {
        match Self::from_args_strict(usage) {
            Ok(params) => params,
            Err(Error::HelpRequested { usage }) => {
                // Nothing better to do when stdout is gone than to exit quietly.
                let _ = writeln!(std::io::stdout(), "{usage}");
                std::process::exit(0)
            }
            Err(e) => {
                let _ = writeln!(std::io::stderr(), "error: {e}\n\n{usage}");
                std::process::exit(2)
            }
        }
    }

    /// Keeps a declared flag's value, or the problem if it may be given only once.
    fn record(&mut self, flag: &Flag, written: String, value: Option<String>) {
        if !flag.repeatable && self.has(flag.name) {
            self.errors.push(Problem::Repeated { flag: written });
        } else {
            self.values.push((flag.name.to_string(), value));
        }
    }

    /// Fails with the first problem found while parsing.
    pub fn check(&self) -> Result<()> {
        match self.errors.first() {
            Some(problem) => Err(problem.to_error()),
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

/// One `--flag` a program accepts, declared in a [`Usage`]: whether it takes a value, may
/// be repeated or must be given, and a line saying what it does for the usage text.
///
/// The constructors are `const`, so a program can keep its flags in a `const` array.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Flag {
    name: &'static str,
    value: Option<&'static str>,
    repeatable: bool,
    required: bool,
    description: &'static str,
}

impl Flag {
    /// A flag that takes no value, such as `--plan`: it is given or not
    /// ([`Params::has`]). `name` is written without the leading `--`.
    pub const fn switch(name: &'static str, description: &'static str) -> Self {
        Flag { name, value: None, repeatable: false, required: false, description }
    }

    /// A flag that takes a value, `--name VALUE` or `--name=VALUE`; `placeholder` names
    /// the value in the usage text (`FILE`, `N`). `name` is written without the leading
    /// `--`.
    pub const fn value(name: &'static str, placeholder: &'static str, description: &'static str) -> Self {
        Flag { name, value: Some(placeholder), repeatable: false, required: false, description }
    }

    /// The flag may be given more than once ([`Params::get_all`] reads every value);
    /// otherwise a second one is an error.
    pub const fn repeatable(self) -> Self {
        Flag { repeatable: true, ..self }
    }

    /// The flag must be given; its absence is [`Error::MissingParameter`].
    pub const fn required(self) -> Self {
        Flag { required: true, ..self }
    }

    /// The left column of its line in the usage text: `--input FILE`.
    fn synopsis(&self) -> String {
        match self.value {
            Some(placeholder) => format!("--{} {placeholder}", self.name),
            None => format!("--{}", self.name),
        }
    }
}

/// `-p N` / `--parallelism N`, which `StreamEnv::from_params` reads.
const PARALLELISM: Flag = Flag::value("parallelism", "N", "the job's default parallelism (parallelism.default)");
/// `-h` / `--help`.
const HELP: Flag = Flag::switch("help", "prints this help");

/// The command line a program accepts: its name, what it does, and the [`Flag`]s it
/// declares. [`Params::parse_strict`] checks a command line against it, and its
/// `Display` is the usage text, so the flags are declared once for both.
///
/// `-p N` / `--parallelism N`, `-D key=value` and `-h` / `--help` are Spate's own and
/// always accepted and listed; declaring `parallelism` or `help` again has no effect.
///
/// ```
/// use spate::{Flag, Usage};
///
/// let usage = Usage::new("socket_window_wordcount", "Counts words arriving on a socket.")
///     .flag(Flag::value("port", "PORT", "the port to connect to").required())
///     .flag(Flag::value("hostname", "HOST", "the host to connect to (default: localhost)"));
/// let text = usage.to_string();
/// assert!(text.contains("Usage: socket_window_wordcount --port PORT [OPTIONS]"), "{text}");
/// assert!(text.contains("--hostname HOST      the host to connect to (default: localhost)"), "{text}");
/// ```
#[derive(Clone, Debug)]
pub struct Usage {
    program: String,
    summary: String,
    flags: Vec<Flag>,
}

impl Usage {
    /// The usage of `program` (the name shown in the usage text), which does what
    /// `summary` says in a sentence (or nothing, when empty).
    pub fn new(program: impl Into<String>, summary: impl Into<String>) -> Self {
        Usage { program: program.into(), summary: summary.into(), flags: Vec::new() }
    }

    /// Declares a flag. A second declaration of the same name replaces the first.
    pub fn flag(mut self, flag: Flag) -> Self {
        if flag.name == PARALLELISM.name || flag.name == HELP.name {
            return self;
        }
        match self.flags.iter_mut().find(|f| f.name == flag.name) {
            Some(earlier) => *earlier = flag,
            None => self.flags.push(flag),
        }
        self
    }

    /// The declaration of `--name`, Spate's own flags included.
    fn lookup(&self, name: &str) -> Option<&Flag> {
        self.flags.iter().chain([&PARALLELISM, &HELP]).find(|f| f.name == name)
    }

    /// The declared flag a mistyped `name` most likely meant: the closest by edit
    /// distance (a swap of two letters counts as one edit, case is ignored) if it is
    /// within a third of the name's length, or else the only flag that starts with it.
    fn suggest(&self, name: &str) -> Option<String> {
        let typed = name.to_lowercase();
        if typed.is_empty() {
            return None;
        }
        let names = || self.flags.iter().chain([&PARALLELISM, &HELP]).map(|f| f.name);
        let limit = (typed.chars().count() / 3).max(1);
        let closest = names()
            .map(|candidate| (edit_distance(&typed, &candidate.to_lowercase()), candidate))
            .filter(|(distance, _)| *distance <= limit)
            .min_by_key(|(distance, _)| *distance)
            .map(|(_, candidate)| candidate);
        let by_prefix = || {
            let mut starting = names().filter(|candidate| candidate.to_lowercase().starts_with(&typed));
            match (starting.next(), starting.next()) {
                (Some(only), None) if typed.chars().count() >= 2 => Some(only),
                _ => None,
            }
        };
        closest.or_else(by_prefix).map(|candidate| format!("--{candidate}"))
    }
}

/// The optimal-string-alignment distance: insertions, deletions, substitutions and
/// swaps of adjacent characters each count one (so `inptu` is one edit from `input`).
fn edit_distance(a: &str, b: &str) -> usize {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (d[i - 1][j] + 1).min(d[i][j - 1] + 1).min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = best;
        }
    }
    d[a.len()][b.len()]
}

impl Display for Usage {
    /// The usage text: the summary, a synopsis line with the required flags, and every
    /// flag with its description, Spate's own last.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.summary.is_empty() {
            writeln!(f, "{}\n", self.summary)?;
        }
        write!(f, "Usage: {}", self.program)?;
        for flag in self.flags.iter().filter(|flag| flag.required) {
            write!(f, " {}", flag.synopsis())?;
        }
        writeln!(f, " [OPTIONS]\n\nOptions:")?;
        let mut rows: Vec<(String, String)> = self
            .flags
            .iter()
            .map(|flag| {
                let mut description = flag.description.to_string();
                if flag.required {
                    description.push_str(" (required)");
                }
                if flag.repeatable {
                    description.push_str(" (repeatable)");
                }
                (flag.synopsis(), description)
            })
            .collect();
        rows.push((format!("-p, {}", PARALLELISM.synopsis()), PARALLELISM.description.into()));
        rows.push((
            "-D KEY=VALUE".into(),
            "sets a configuration option, e.g. -D execution.runtime-mode=BATCH (repeatable)".into(),
        ));
        rows.push((format!("-h, {}", HELP.synopsis()), HELP.description.into()));
        let width = rows.iter().map(|(left, _)| left.chars().count()).max().unwrap_or(0);
        for (i, (left, right)) in rows.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "  {left:<width$}  {}", right.trim_end())?;
        }
        Ok(())
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

    #[test]
    fn lenient_parsing_takes_unknown_flags_and_keeps_the_last_value() {
        let p = Params::parse(["--inptu", "a.txt", "--output", "x", "--output", "y"]);
        p.check().unwrap();
        assert_eq!(p.get("inptu"), Some("a.txt"));
        assert_eq!(p.get("output"), Some("y"));
    }

    fn usage() -> Usage {
        Usage::new("wordcount", "Counts words.")
            .flag(Flag::value("input", "FILE", "a file to count").repeatable())
            .flag(Flag::value("output", "DIR", "where to write the counts"))
            .flag(Flag::switch("plan", "prints the plan"))
    }

    fn strict(args: &[&str]) -> Result<Params> {
        Params::parse_strict(args.iter().copied(), &usage())
    }

    #[test]
    fn strict_parsing_reads_declared_and_builtin_flags() {
        let p = strict(&[
            "--input",
            "a.txt",
            "--input=b.txt",
            "--output",
            "out",
            "--plan",
            "-p",
            "3",
            "-D",
            "a=1",
            "-Db=2",
        ])
        .unwrap();
        assert_eq!(p.get_all("input"), ["a.txt", "b.txt"]);
        assert_eq!(p.get("output"), Some("out"));
        assert!(p.has("plan") && p.get("plan").is_none());
        assert_eq!(p.get("parallelism"), Some("3"));
        assert_eq!(p.dynamic_properties(), ["a=1", "b=2"]);
        p.check().unwrap();
        assert_eq!(strict(&["--parallelism=2"]).unwrap().get("parallelism"), Some("2"));
        assert_eq!(strict(&["--parallelism", "4"]).unwrap().get("parallelism"), Some("4"));
        // Negative numbers are values; so is anything after `=`.
        assert_eq!(strict(&["--output", "-5"]).unwrap().get("output"), Some("-5"));
        assert_eq!(strict(&["--output=-dir"]).unwrap().get("output"), Some("-dir"));
        assert_eq!(strict(&["--output="]).unwrap().get("output"), Some(""));
        assert!(!strict(&[]).unwrap().has("input"));
    }

    #[test]
    fn an_unknown_flag_is_named_with_the_closest_known_one() {
        let unknown = |args: &[&str]| match strict(args) {
            Err(Error::UnknownParameter { flag, suggestion }) => (flag, suggestion),
            other => panic!("{args:?}: {other:?}"),
        };
        assert_eq!(unknown(&["--inptu", "file.txt"]), ("--inptu".into(), Some("--input".into())));
        assert_eq!(unknown(&["--ouptut=x"]), ("--ouptut".into(), Some("--output".into())));
        assert_eq!(unknown(&["--Plan"]), ("--Plan".into(), Some("--plan".into())));
        assert_eq!(unknown(&["--paralelism", "2"]), ("--paralelism".into(), Some("--parallelism".into())));
        assert_eq!(unknown(&["--out", "x"]), ("--out".into(), Some("--output".into())));
        assert_eq!(unknown(&["-input", "x"]), ("-input".into(), Some("--input".into())));
        assert_eq!(unknown(&["--verbose"]), ("--verbose".into(), None));
        assert_eq!(unknown(&["-x"]), ("-x".into(), None));
        // `--p` starts both --plan and --parallelism: no guess.
        assert_eq!(unknown(&["--p"]), ("--p".into(), None));
        assert_eq!(
            strict(&["--inptu", "file.txt"]).unwrap_err().to_string(),
            "unknown parameter --inptu (did you mean --input?)"
        );
        assert_eq!(strict(&["--verbose"]).unwrap_err().to_string(), "unknown parameter --verbose");
    }

    #[test]
    fn a_flag_that_takes_a_value_needs_one() {
        let missing = |args: &[&str]| match strict(args) {
            Err(Error::MissingValue { flag }) => flag,
            other => panic!("{args:?}: {other:?}"),
        };
        assert_eq!(missing(&["--input"]), "--input");
        assert_eq!(missing(&["--input", "--plan"]), "--input");
        assert_eq!(missing(&["--output", "-p", "2"]), "--output");
        assert_eq!(missing(&["-p"]), "-p");
        assert_eq!(missing(&["-p", "--plan"]), "-p");
        assert_eq!(missing(&["--parallelism"]), "--parallelism");
        assert_eq!(missing(&["-D"]), "-D");
        assert_eq!(missing(&["-D", "--plan"]), "-D");
        assert_eq!(strict(&["--input"]).unwrap_err().to_string(), "--input needs a value");
    }

    #[test]
    fn a_switch_takes_no_value() {
        match strict(&["--plan=yes"]) {
            Err(Error::UnexpectedValue { flag, value }) => {
                assert_eq!((flag.as_str(), value.as_str()), ("--plan", "yes"))
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(strict(&["--plan=yes"]).unwrap_err().to_string(), "--plan takes no value, but was given 'yes'");
        // Written with a space, the value is a stray argument; the message says why.
        match strict(&["--plan", "yes"]) {
            Err(Error::UnexpectedArgument { argument, after }) => {
                assert_eq!((argument.as_str(), after.as_deref()), ("yes", Some("--plan")))
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            strict(&["--plan", "-3"]).unwrap_err().to_string(),
            "unexpected argument '-3' (--plan takes no value)"
        );
    }

    #[test]
    fn a_flag_given_twice_is_an_error_unless_repeatable() {
        let repeated = |args: &[&str]| match strict(args) {
            Err(Error::RepeatedParameter { flag }) => flag,
            other => panic!("{args:?}: {other:?}"),
        };
        assert_eq!(repeated(&["--output", "a", "--output=b"]), "--output");
        assert_eq!(repeated(&["--plan", "--plan"]), "--plan");
        assert_eq!(repeated(&["-p", "2", "--parallelism", "3"]), "--parallelism");
        assert_eq!(repeated(&["--parallelism", "2", "-p", "3"]), "-p");
        assert_eq!(
            strict(&["--output", "a", "--output", "b"]).unwrap_err().to_string(),
            "--output was given more than once (it takes one value)"
        );
        assert_eq!(strict(&["--input", "a", "--input", "b"]).unwrap().get_all("input"), ["a", "b"]);
    }

    #[test]
    fn a_positional_argument_is_an_error() {
        match strict(&["file.txt"]) {
            Err(Error::UnexpectedArgument { argument, after: None }) => assert_eq!(argument, "file.txt"),
            other => panic!("{other:?}"),
        }
        assert_eq!(
            strict(&["--input", "a", "b"]).unwrap_err().to_string(),
            "unexpected argument 'b' (parameters are written --key value)"
        );
        assert_eq!(
            strict(&["-"]).unwrap_err().to_string(),
            "unexpected argument '-' (parameters are written --key value)"
        );
        assert!(matches!(strict(&["--"]), Err(Error::Arguments(_))));
    }

    #[test]
    fn a_required_flag_must_be_given() {
        let usage = usage().flag(Flag::value("port", "PORT", "the port").required());
        let err = Params::parse_strict(["--plan"], &usage).unwrap_err();
        assert!(matches!(&err, Error::MissingParameter(name) if name == "port"), "{err:?}");
        assert_eq!(err.to_string(), "missing required parameter --port");
        assert_eq!(Params::parse_strict(["--port", "9"], &usage).unwrap().get("port"), Some("9"));
        // A problem on the line is reported before the missing flag.
        assert!(matches!(Params::parse_strict(["--prot", "9"], &usage), Err(Error::UnknownParameter { .. })));
    }

    #[test]
    fn help_wins_over_everything_else() {
        for args in [&["--help"][..], &["-h"], &["--inptu", "x", "--help"], &["--input", "--help"], &["stray", "-h"]] {
            match strict(args) {
                Err(Error::HelpRequested { usage: text }) => assert_eq!(text, usage().to_string()),
                other => panic!("{args:?}: {other:?}"),
            }
        }
        assert!(matches!(strict(&["--help=me"]), Err(Error::UnexpectedValue { .. })));
        // Lenient parsing knows no help: it is a flag like any other.
        assert!(Params::parse(["--help"]).has("help"));
    }

    #[test]
    fn the_usage_text_lists_every_flag_with_its_description() {
        let usage = usage().flag(Flag::value("port", "PORT", "the port to connect to").required());
        assert_eq!(
            usage.to_string(),
            "Counts words.

Usage: wordcount --port PORT [OPTIONS]

Options:
  --input FILE         a file to count (repeatable)
  --output DIR         where to write the counts
  --plan               prints the plan
  --port PORT          the port to connect to (required)
  -p, --parallelism N  the job's default parallelism (parallelism.default)
  -D KEY=VALUE         sets a configuration option, e.g. -D execution.runtime-mode=BATCH (repeatable)
  -h, --help           prints this help"
        );
        let bare = Usage::new("tool", "").to_string();
        assert!(bare.starts_with("Usage: tool [OPTIONS]\n\nOptions:\n  -p, --parallelism N"), "{bare}");
    }

    #[test]
    fn declarations_replace_earlier_ones_but_not_spates_own() {
        let usage = usage()
            .flag(Flag::switch("output", "prints the counts"))
            .flag(Flag::switch("parallelism", "ignored"))
            .flag(Flag::switch("help", "ignored"));
        let p = Params::parse_strict(["--output", "--parallelism", "2"], &usage).unwrap();
        assert!(p.has("output") && p.get("output").is_none());
        assert_eq!(p.get("parallelism"), Some("2"));
        let text = usage.to_string();
        assert!(text.contains("--output             prints the counts\n"), "{text}");
        assert!(!text.contains("ignored"), "{text}");
    }

    #[test]
    fn edit_distance_counts_a_swap_as_one_edit() {
        assert_eq!(edit_distance("inptu", "input"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("same", "same"), 0);
    }
}
