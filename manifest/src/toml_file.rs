//! Turning TOML text into schema structs, with errors that point at the key and suggest fixes.

use serde::de::DeserializeOwned;
use toml::Spanned;

use crate::diagnostic::{Code, Diagnostic, Diagnostics, SourceFile, did_you_mean};
use crate::manifest::Declared;
use crate::requirement::{self, NAME_RULE, Requirement};

/// Files above this size are rejected before parsing: manifests are small, and a huge file is
/// almost always a mistake (a disk image dropped into `manifests/`).
pub const MAX_FILE_SIZE: usize = 1024 * 1024;

/// Checks size and UTF-8 of raw bytes read from `path`.
pub fn decode(path: &str, bytes: Vec<u8>) -> Result<SourceFile, Diagnostic> {
    if bytes.len() > MAX_FILE_SIZE {
        let file = SourceFile::new(path, "");
        return Err(Diagnostic::error(
            Code::TooLarge,
            &file,
            format!(
                "{path} is {} bytes; manifest and device files are limited to {} bytes",
                bytes.len(),
                MAX_FILE_SIZE
            ),
        )
        .with_help(
            "a manifest only describes a component; keep payloads in the component's source",
        ));
    }
    match String::from_utf8(bytes) {
        Ok(text) => Ok(SourceFile::new(path, text)),
        Err(e) => {
            let valid = e.utf8_error().valid_up_to();
            let text = String::from_utf8_lossy(e.as_bytes()).into_owned();
            let file = SourceFile::new(path, text);
            let (line, column) = file.line_column(valid);
            Err(Diagnostic::error(
                Code::NotUtf8,
                &file,
                format!(
                    "{path} is not valid UTF-8 (first bad byte at line {line}, column {column})"
                ),
            )
            .at(valid..valid + 1, "invalid UTF-8 here")
            .with_help("TOML files must be UTF-8; re-save the file as UTF-8"))
        }
    }
}

/// Deserializes `file` into `T`, turning serde errors into located diagnostics.
pub fn parse<T: DeserializeOwned>(file: &SourceFile) -> Result<T, Diagnostic> {
    toml::from_str(&file.text).map_err(|e| from_toml_error(file, &e))
}

fn from_toml_error(file: &SourceFile, e: &toml::de::Error) -> Diagnostic {
    let message = e.message().trim().to_string();
    let span = e.span().unwrap_or(0..0);
    if let Some(rest) = message.strip_prefix("unknown field `") {
        let (key, expected) = split_unknown(rest);
        let d = Diagnostic::error(Code::UnknownKey, file, format!("unknown key `{key}`"))
            .at(span, "not a key of this table");
        return match did_you_mean(key, expected.iter().map(String::as_str)) {
            Some(best) => d.with_help(format!("did you mean `{best}`?")),
            None if expected.is_empty() => d.with_help("this table takes no keys"),
            None => d.with_help(format!("known keys: {}", expected.join(", "))),
        };
    }
    if let Some(rest) = message.strip_prefix("unknown variant `") {
        let (value, expected) = split_unknown(rest);
        let d = Diagnostic::error(Code::InvalidValue, file, format!("unknown value `{value}`"))
            .at(span, "not an allowed value");
        return match did_you_mean(value, expected.iter().map(String::as_str)) {
            Some(best) => d.with_help(format!("did you mean `{best}`?")),
            None => d.with_help(format!("allowed values: {}", expected.join(", "))),
        };
    }
    if message.starts_with("missing field `") {
        let key = message
            .trim_start_matches("missing field `")
            .trim_end_matches('`');
        return Diagnostic::error(Code::Schema, file, format!("missing key `{key}`"))
            .at(span, "in this table")
            .with_help(format!("add `{key} = ...` to this table"));
    }
    if message.starts_with("invalid type") || message.starts_with("invalid length") {
        return Diagnostic::error(Code::Schema, file, message).at(span, "wrong type");
    }
    Diagnostic::error(Code::Syntax, file, format!("invalid TOML: {message}"))
        .at(span, "here")
        .with_help("see https://toml.io for the syntax")
}

/// Splits serde's "x`, expected one of `a`, `b`" tail into the key and the expected keys.
fn split_unknown(rest: &str) -> (&str, Vec<String>) {
    let (key, tail) = rest.split_once('`').unwrap_or((rest, ""));
    let expected = tail
        .split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_string)
        .collect();
    (key, expected)
}

/// Checked names of a list; bad ones become diagnostics in `errors`.
pub fn names(
    file: &SourceFile,
    list: &[Spanned<String>],
    what: &str,
    errors: &mut Diagnostics,
) -> Vec<String> {
    list.iter()
        .filter_map(|n| errors.keep(name(file, n, what)))
        .collect()
}

/// Parsed requirements of a list; bad ones become diagnostics in `errors`.
pub fn requirements(
    file: &SourceFile,
    list: &[Spanned<String>],
    errors: &mut Diagnostics,
) -> Vec<Declared<Requirement>> {
    list.iter()
        .filter_map(|r| errors.keep(requirement(file, r)))
        .map(|(value, span)| Declared { value, span })
        .collect()
}

/// A requirement string, checked, with its range in the file for later diagnostics.
pub fn requirement(
    file: &SourceFile,
    raw: &Spanned<String>,
) -> Result<(Requirement, std::ops::Range<usize>), Diagnostic> {
    let span = raw.span();
    // The span covers the quotes; the string starts one byte in for basic strings.
    let inner = span.start + 1;
    requirement::parse_requirement(raw.get_ref())
        .map(|r| (r, span.clone()))
        .map_err(|e| {
            Diagnostic::error(Code::InvalidRequirement, file, e.message)
                .at(
                    inner + e.range.start..inner + e.range.end,
                    "in this requirement",
                )
                .with_help(e.help)
        })
}

/// A name (component, capability, service, feature), checked against the naming rules.
pub fn name(file: &SourceFile, raw: &Spanned<String>, what: &str) -> Result<String, Diagnostic> {
    if requirement::is_valid_name(raw.get_ref()) {
        Ok(raw.get_ref().clone())
    } else {
        Err(Diagnostic::error(
            Code::InvalidName,
            file,
            format!("invalid {what} name `{}`", raw.get_ref()),
        )
        .at(raw.span(), "invalid name")
        .with_help(NAME_RULE))
    }
}

/// A semver version.
pub fn version(file: &SourceFile, raw: &Spanned<String>) -> Result<semver::Version, Diagnostic> {
    semver::Version::parse(raw.get_ref()).map_err(|e| {
        Diagnostic::error(
            Code::InvalidVersion,
            file,
            format!("invalid version `{}`: {e}", raw.get_ref()),
        )
        .at(raw.span(), "not a semver version")
        .with_help("versions are semver: MAJOR.MINOR.PATCH, e.g. `0.1.0` or `1.2.3-rc.1`")
    })
}
