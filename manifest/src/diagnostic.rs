//! Diagnostics that point into a manifest or device file: file, line, column, key, hint.

use std::fmt;
use std::sync::Arc;

use miette::{LabeledSpan, NamedSource, Severity, SourceSpan};
use serde::Serialize;

/// One loaded TOML file: its path as shown to users and its text.
#[derive(Debug, Clone)]
pub struct SourceFile {
    /// Path relative to the project folder, e.g. `manifests/base.toml`.
    pub path: String,
    pub text: Arc<String>,
    /// The same text, named, for miette's snippet rendering.
    named: NamedSource<Arc<String>>,
}

impl SourceFile {
    pub fn new(path: impl Into<String>, text: impl Into<String>) -> Self {
        let path = path.into();
        let text = Arc::new(text.into());
        let named = NamedSource::new(&path, Arc::clone(&text));
        Self { path, text, named }
    }

    /// 1-based line and column (in characters) of a byte offset.
    pub fn line_column(&self, offset: usize) -> (usize, usize) {
        line_column(&self.text, offset)
    }
}

/// 1-based line and column (in characters) of a byte offset in `text`.
pub fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text.as_bytes()[..offset];
    let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
    let line_start = before
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |i| i + 1);
    let column = String::from_utf8_lossy(&before[line_start..])
        .chars()
        .count()
        + 1;
    (line, column)
}

/// What kind of problem a diagnostic reports; stable names for `--json` and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Code {
    /// The file is not valid UTF-8.
    NotUtf8,
    /// The file is larger than the manifest size limit.
    TooLarge,
    /// The file is not valid TOML.
    Syntax,
    /// A key that the schema does not know.
    UnknownKey,
    /// A value of the wrong type, or a missing key.
    Schema,
    /// A version or version requirement that is not semver.
    InvalidVersion,
    /// A requirement string that cannot be parsed.
    InvalidRequirement,
    /// A name that does not follow the naming rules.
    InvalidName,
    /// A value outside what the field allows (size, path, restart policy ...).
    InvalidValue,
    /// Two components with the same name and version, or two devices with one name.
    Duplicate,
    /// A reference to a component, virtual, feature or service that does not exist.
    UnknownReference,
    /// A component that requires or conflicts with itself.
    SelfReference,
    /// A name used both as a component and as a virtual.
    Ambiguous,
}

/// A problem found in a manifest or device file, with its location.
#[derive(Debug, Clone)]
pub struct Diagnostic {
    pub code: Code,
    pub severity: Severity,
    pub message: String,
    pub file: SourceFile,
    /// Byte range of the offending key or value; `None` for whole-file problems.
    pub span: Option<std::ops::Range<usize>>,
    /// Short text under the highlighted span.
    pub label: Option<String>,
    /// How to fix it.
    pub help: Option<String>,
}

impl Diagnostic {
    pub fn error(code: Code, file: &SourceFile, message: impl Into<String>) -> Self {
        Self {
            code,
            severity: Severity::Error,
            message: message.into(),
            file: file.clone(),
            span: None,
            label: None,
            help: None,
        }
    }

    pub fn warning(code: Code, file: &SourceFile, message: impl Into<String>) -> Self {
        Self {
            severity: Severity::Warning,
            ..Self::error(code, file, message)
        }
    }

    pub fn at(mut self, span: std::ops::Range<usize>, label: impl Into<String>) -> Self {
        self.span = Some(span);
        self.label = Some(label.into());
        self
    }

    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// 1-based line and column of the span start (1:1 for whole-file problems).
    pub fn line_column(&self) -> (usize, usize) {
        self.span
            .as_ref()
            .map_or((1, 1), |s| self.file.line_column(s.start))
    }

    /// The plain-data form written by `--json`.
    pub fn to_record(&self) -> DiagnosticRecord {
        let (line, column) = self.line_column();
        DiagnosticRecord {
            severity: if self.is_error() { "error" } else { "warning" },
            code: self.code,
            message: self.message.clone(),
            file: self.file.path.clone(),
            line,
            column,
            label: self.label.clone(),
            help: self.help.clone(),
        }
    }
}

/// Serializable form of a [`Diagnostic`].
#[derive(Debug, Clone, Serialize)]
pub struct DiagnosticRecord {
    pub severity: &'static str,
    pub code: Code,
    pub message: String,
    pub file: String,
    pub line: usize,
    pub column: usize,
    pub label: Option<String>,
    pub help: Option<String>,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Diagnostic {}

impl miette::Diagnostic for Diagnostic {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        let name = serde_json::to_value(self.code).ok()?;
        Some(Box::new(format!("compose::{}", name.as_str()?)))
    }

    fn severity(&self) -> Option<Severity> {
        Some(self.severity)
    }

    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.help
            .as_ref()
            .map(|h| Box::new(h) as Box<dyn fmt::Display>)
    }

    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        Some(&self.file.named)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        let span = self.span.clone()?;
        let span = SourceSpan::from(span.start..span.end.max(span.start));
        Some(Box::new(std::iter::once(LabeledSpan::new_with_span(
            self.label.clone(),
            span,
        ))))
    }
}

/// Several diagnostics from one load; an error when any of them is an error.
#[derive(Debug, Clone, Default)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl Diagnostics {
    pub fn push(&mut self, d: Diagnostic) {
        self.0.push(d);
    }

    /// The value of `r`, or `None` after recording its diagnostic.
    pub fn keep<T>(&mut self, r: Result<T, Diagnostic>) -> Option<T> {
        r.map_err(|d| self.push(d)).ok()
    }

    pub fn has_errors(&self) -> bool {
        self.0.iter().any(Diagnostic::is_error)
    }

    pub fn error_count(&self) -> usize {
        self.0.iter().filter(|d| d.is_error()).count()
    }

    pub fn iter(&self) -> impl Iterator<Item = &Diagnostic> {
        self.0.iter()
    }

    pub fn extend(&mut self, other: Diagnostics) {
        self.0.extend(other.0);
    }

    /// Sorted by file, then position, so output does not depend on load order.
    pub fn sort(&mut self) {
        self.0.sort_by(|a, b| {
            (&a.file.path, a.span.as_ref().map(|s| s.start))
                .cmp(&(&b.file.path, b.span.as_ref().map(|s| s.start)))
        });
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.error_count();
        write!(
            f,
            "{n} error{} in manifests or devices",
            if n == 1 { "" } else { "s" }
        )
    }
}

impl std::error::Error for Diagnostics {}

/// The closest candidate to `word`, if one is close enough to be a likely typo.
pub fn did_you_mean<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| (strsim::jaro_winkler(word, c), c))
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0).then_with(|| b.1.cmp(a.1)))
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_column_counts_characters() {
        let text = "a = 1\nbé = 2\n";
        assert_eq!(line_column(text, 0), (1, 1));
        assert_eq!(line_column(text, 6), (2, 1));
        // byte 9 is after "bé" (3 bytes): column 3 in characters
        assert_eq!(line_column(text, 9), (2, 3));
    }

    #[test]
    fn did_you_mean_finds_typos_only() {
        let keys = ["requires", "recommends", "conflicts"];
        assert_eq!(did_you_mean("requries", keys), Some("requires"));
        assert_eq!(did_you_mean("zzz", keys), None);
    }
}
