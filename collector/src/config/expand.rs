//! Environment-variable expansion in config values, as the OpenTelemetry Collector does it now
//! (`${VAR}`, `${env:VAR}`, `${env:VAR:-default}`, `$$` for a literal `$`) and as it did when the
//! reference config was written (bare `$VAR`, which current collectors leave as literal text).

/// How a reference was written; bare `$VAR` earns a suggestion to use the explicit form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefForm {
    /// `$VAR`
    Bare,
    /// `${VAR}`
    Braced,
    /// `${env:VAR}`
    Env,
}

/// One variable reference found in a value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    pub name: String,
    pub form: RefForm,
    pub has_default: bool,
}

/// Why a value could not be expanded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExpandError {
    #[error("environment variable `{name}` is not set")]
    Unset { name: String },
    #[error("`${{{inner}` is not closed with `}}`")]
    Unclosed { inner: String },
    #[error(
        "`{name}` is not a valid environment variable name (letters, digits and _, not starting with a digit)"
    )]
    BadName { name: String },
    #[error(
        "`${{{scheme}:...}}` uses the `{scheme}` config provider, which is not supported (only `env`)"
    )]
    UnsupportedProvider { scheme: String },
}

/// The result of expanding one value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expanded {
    pub text: String,
    pub references: Vec<Reference>,
}

/// Expands every reference in `input` with `lookup`; `$$` becomes `$`; a `$` that starts no
/// reference stays as it is. A variable without a default must be set (to anything, even "").
pub fn expand(
    input: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Expanded, ExpandError> {
    let mut out = String::with_capacity(input.len());
    let mut references = Vec::new();
    let mut rest = input;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some(braced) = after.strip_prefix('{') {
            let close = braced.find('}').ok_or_else(|| ExpandError::Unclosed {
                inner: braced.to_owned(),
            })?;
            let reference = parse_braced(&braced[..close])?;
            out.push_str(&resolve(&reference, lookup)?);
            references.push(reference.reference);
            rest = &braced[close + 1..];
        } else {
            let name_len = bare_name_len(after);
            if name_len == 0 {
                out.push('$');
                rest = after;
                continue;
            }
            let reference = Parsed {
                reference: Reference {
                    name: after[..name_len].to_owned(),
                    form: RefForm::Bare,
                    has_default: false,
                },
                default: None,
            };
            out.push_str(&resolve(&reference, lookup)?);
            references.push(reference.reference);
            rest = &after[name_len..];
        }
    }
    out.push_str(rest);
    Ok(Expanded {
        text: out,
        references,
    })
}

struct Parsed {
    reference: Reference,
    default: Option<String>,
}

fn parse_braced(inner: &str) -> Result<Parsed, ExpandError> {
    let (form, body) = match inner.split_once(':') {
        Some(("env", body)) => (RefForm::Env, body),
        Some((scheme, _)) if is_valid_name(scheme) && !inner.contains(":-") => {
            return Err(ExpandError::UnsupportedProvider {
                scheme: scheme.to_owned(),
            });
        }
        _ => (RefForm::Braced, inner),
    };
    let (name, default) = match body.split_once(":-") {
        Some((name, default)) => (name, Some(default.to_owned())),
        None => (body, None),
    };
    if !is_valid_name(name) {
        return Err(ExpandError::BadName {
            name: name.to_owned(),
        });
    }
    Ok(Parsed {
        reference: Reference {
            name: name.to_owned(),
            form,
            has_default: default.is_some(),
        },
        default,
    })
}

fn resolve(
    parsed: &Parsed,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<String, ExpandError> {
    match (lookup(&parsed.reference.name), &parsed.default) {
        (Some(value), _) => Ok(value),
        (None, Some(default)) => Ok(default.clone()),
        (None, None) => Err(ExpandError::Unset {
            name: parsed.reference.name.clone(),
        }),
    }
}

fn bare_name_len(s: &str) -> usize {
    let mut len = 0;
    for (i, c) in s.char_indices() {
        let ok = c == '_' || c.is_ascii_alphabetic() || (i > 0 && c.is_ascii_digit());
        if !ok {
            break;
        }
        len = i + c.len_utf8();
    }
    len
}

/// Whether `name` is a valid variable name: `[a-zA-Z_][a-zA-Z0-9_]*`.
pub fn is_valid_name(name: &str) -> bool {
    !name.is_empty() && bare_name_len(name) == name.len()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "ORG" => Some("tenant-a".into()),
            "EMPTY" => Some(String::new()),
            "USER_1" => Some("alice".into()),
            _ => None,
        }
    }

    fn ok(input: &str) -> String {
        expand(input, &env).unwrap().text
    }

    #[test]
    fn expands_every_form() {
        assert_eq!(ok("$ORG"), "tenant-a");
        assert_eq!(ok("${ORG}"), "tenant-a");
        assert_eq!(ok("${env:ORG}"), "tenant-a");
        assert_eq!(ok("${env:NOPE:-fallback}"), "fallback");
        assert_eq!(ok("${NOPE:-}"), "");
        assert_eq!(ok("org=$ORG/${env:USER_1}!"), "org=tenant-a/alice!");
        assert!(
            expand("$USER_1x", &env).is_err(),
            "the name runs to the last name character"
        );
    }

    #[test]
    fn defaults_apply_only_when_unset() {
        assert_eq!(ok("${env:EMPTY:-fallback}"), "");
    }

    #[test]
    fn escapes_and_lone_dollars_stay_literal() {
        assert_eq!(ok("$$ORG"), "$ORG");
        assert_eq!(ok("cost: 5$"), "cost: 5$");
        assert_eq!(ok("$ 1"), "$ 1");
        assert_eq!(ok("a$$$$b"), "a$$b");
        assert_eq!(ok("$1"), "$1");
    }

    #[test]
    fn records_references_and_their_form() {
        let e = expand("$ORG ${EMPTY} ${env:NOPE:-x}", &env).unwrap();
        let forms: Vec<_> = e
            .references
            .iter()
            .map(|r| (r.name.as_str(), r.form))
            .collect();
        assert_eq!(
            forms,
            [
                ("ORG", RefForm::Bare),
                ("EMPTY", RefForm::Braced),
                ("NOPE", RefForm::Env)
            ]
        );
        assert!(e.references[2].has_default);
    }

    #[test]
    fn errors_say_what_is_wrong() {
        assert_eq!(
            expand("$PASSWORD", &env).unwrap_err(),
            ExpandError::Unset {
                name: "PASSWORD".into()
            }
        );
        assert_eq!(
            expand("${env:ORG", &env).unwrap_err().to_string(),
            "`${env:ORG` is not closed with `}`"
        );
        assert!(matches!(
            expand("${file:/etc/x}", &env).unwrap_err(),
            ExpandError::UnsupportedProvider { .. }
        ));
        assert!(matches!(
            expand("${1BAD}", &env).unwrap_err(),
            ExpandError::BadName { .. }
        ));
    }

    proptest! {
        #[test]
        fn identity_without_dollar(s in "[^$]*") {
            let e = expand(&s, &env).unwrap();
            prop_assert_eq!(e.text, s);
            prop_assert!(e.references.is_empty());
        }

        #[test]
        fn never_panics(s in ".*") {
            let _ = expand(&s, &env);
        }

        #[test]
        fn never_panics_on_dollar_heavy_input(s in "[${}:\\-a-zA-Z_0-9é ]{0,40}") {
            let _ = expand(&s, &env);
        }

        #[test]
        fn set_variables_expand_to_their_value(prefix in "[^$]{0,10}", suffix in "[^$a-zA-Z0-9_]{0,10}") {
            let input = format!("{prefix}$ORG{suffix}");
            prop_assert_eq!(expand(&input, &env).unwrap().text, format!("{prefix}tenant-a{suffix}"));
        }
    }
}
