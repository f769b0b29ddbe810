//! The attribute actions of the `resource` and `attributes` processors: as written, and checked
//! into [`Action`]s.

use serde::Deserialize;
use serde::de::{self, Deserializer};

use crate::config::pattern::Pattern;
use crate::record::AnyValue;

/// One action as written in the config (an item of `attributes:` or `actions:`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActionConfig {
    /// The attribute to act on. Required, except for `delete` and `hash`, which take `key`,
    /// `pattern` or both.
    pub key: Option<String>,
    /// `insert` (only if absent), `update` (only if present), `upsert`, `delete`, `hash`
    /// (hex SHA-256), `extract` (regex named groups into attributes) or `convert`;
    /// case-insensitive.
    pub action: ActionKind,
    /// The value to set for `insert`, `update` and `upsert`, typed as YAML types it
    /// (`1` is an int, `'1'` a string).
    pub value: Option<AnyValue>,
    /// Copy the value of this attribute instead of `value`; nothing happens when it is absent.
    pub from_attribute: Option<String>,
    /// A regular expression: for `extract`, applied to the value of `key`, each named group
    /// (`(?P<name>...)`) becoming an attribute; for `delete` and `hash`, selecting attribute
    /// keys.
    pub pattern: Option<Pattern>,
    /// For `convert`: `int`, `double` or `string`. A value that does not convert is left as is.
    pub converted_type: Option<ConvertedType>,
    /// Not supported: this collector has no client request context.
    #[serde(
        default,
        rename = "from_context",
        deserialize_with = "reject_from_context"
    )]
    _from_context: Option<()>,
    /// Not supported yet.
    #[serde(
        default,
        rename = "default_value",
        deserialize_with = "reject_default_value"
    )]
    _default_value: Option<()>,
}

/// The kind of an attribute action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActionKind {
    /// Set the attribute only when it is absent.
    Insert,
    /// Set the attribute only when it is present.
    Update,
    /// Set the attribute whether present or not.
    Upsert,
    /// Remove attributes by key and/or key pattern.
    Delete,
    /// Replace values by their hex SHA-256, by key and/or key pattern.
    Hash,
    /// Copy the named groups of a regex match on a string value into attributes.
    Extract,
    /// Change the type of a value.
    Convert,
}

const ACTION_NAMES: &[&str] = &[
    "insert", "update", "upsert", "delete", "hash", "extract", "convert",
];

impl ActionKind {
    /// The action's name as written in the config.
    pub fn name(self) -> &'static str {
        match self {
            ActionKind::Insert => "insert",
            ActionKind::Update => "update",
            ActionKind::Upsert => "upsert",
            ActionKind::Delete => "delete",
            ActionKind::Hash => "hash",
            ActionKind::Extract => "extract",
            ActionKind::Convert => "convert",
        }
    }
}

impl<'de> Deserialize<'de> for ActionKind {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        // OpenTelemetry lower-cases the action first, so `INSERT` works there too.
        let lower = text.to_lowercase();
        [
            ActionKind::Insert,
            ActionKind::Update,
            ActionKind::Upsert,
            ActionKind::Delete,
            ActionKind::Hash,
            ActionKind::Extract,
            ActionKind::Convert,
        ]
        .into_iter()
        .find(|kind| kind.name() == lower)
        .ok_or_else(|| de::Error::unknown_variant(&text, ACTION_NAMES))
    }
}

/// The target type of a `convert` action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ConvertedType {
    /// A 64-bit integer: from a double (truncated), a bool (0/1) or a decimal string.
    Int,
    /// A 64-bit float: from an int, a bool (0/1) or a numeric string.
    Double,
    /// The value's text, as OpenTelemetry renders it (maps and lists as JSON).
    String,
}

/// Where `insert`, `update` and `upsert` take the value from.
#[derive(Debug, Clone, PartialEq)]
pub enum ValueSource {
    /// A value written in the config.
    Value(AnyValue),
    /// The value of another attribute of the same map, if present.
    FromAttribute(String),
}

/// A validated attribute action: only the fields its kind uses, all required ones present.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(try_from = "ActionConfig")]
pub enum Action {
    /// Sets `key` to the value of `from` only when `key` is absent.
    Insert { key: String, from: ValueSource },
    /// Sets `key` to the value of `from` only when `key` is present.
    Update { key: String, from: ValueSource },
    /// Sets `key` to the value of `from` whether present or not.
    Upsert { key: String, from: ValueSource },
    /// Removes `key` and every key matching `pattern` (at least one of them is given).
    Delete {
        key: Option<String>,
        pattern: Option<Pattern>,
    },
    /// Replaces the value of `key` and of every key matching `pattern` with its SHA-256.
    Hash {
        key: Option<String>,
        pattern: Option<Pattern>,
    },
    /// Upserts each named group of `pattern` matched against the string value of `key`.
    Extract { key: String, pattern: Pattern },
    /// Converts the value of `key` to `to`, leaving it unchanged when it does not convert.
    Convert { key: String, to: ConvertedType },
}

impl TryFrom<ActionConfig> for Action {
    type Error = String;

    /// The checks of OpenTelemetry's `attraction.NewAttrProc`, in its order, in our words.
    fn try_from(raw: ActionConfig) -> Result<Self, String> {
        let kind = raw.action;
        let name = kind.name();
        // OpenTelemetry treats an empty string like an absent key.
        let key = raw.key.filter(|k| !k.is_empty());
        let from_attribute = raw.from_attribute.filter(|k| !k.is_empty());
        let unused = |field: &str| format!("action `{name}` does not use `{field}`: remove it");
        let needs_key = || {
            key.clone()
                .ok_or_else(|| format!("action `{name}` needs `key`, the attribute it acts on"))
        };
        match kind {
            ActionKind::Insert | ActionKind::Update | ActionKind::Upsert => {
                let key = needs_key()?;
                let from = match (raw.value, from_attribute) {
                    (Some(value), None) => ValueSource::Value(value),
                    (None, Some(attribute)) => ValueSource::FromAttribute(attribute),
                    (None, None) => {
                        return Err(format!("action `{name}` needs `value` or `from_attribute`"));
                    }
                    (Some(_), Some(_)) => {
                        return Err(format!(
                            "action `{name}` takes one of `value` and `from_attribute`, not both"
                        ));
                    }
                };
                if raw.pattern.is_some() {
                    return Err(unused("pattern"));
                }
                if raw.converted_type.is_some() {
                    return Err(unused("converted_type"));
                }
                Ok(match kind {
                    ActionKind::Insert => Action::Insert { key, from },
                    ActionKind::Update => Action::Update { key, from },
                    _ => Action::Upsert { key, from },
                })
            }
            ActionKind::Delete | ActionKind::Hash => {
                if key.is_none() && raw.pattern.is_none() {
                    return Err(format!(
                        "action `{name}` needs `key`, `pattern` or both, to say which attributes"
                    ));
                }
                if raw.value.is_some() || from_attribute.is_some() {
                    return Err(unused("value` or `from_attribute"));
                }
                if raw.converted_type.is_some() {
                    return Err(unused("converted_type"));
                }
                let pattern = raw.pattern;
                Ok(match kind {
                    ActionKind::Delete => Action::Delete { key, pattern },
                    _ => Action::Hash { key, pattern },
                })
            }
            ActionKind::Extract => {
                let key = needs_key()?;
                if raw.value.is_some() || from_attribute.is_some() {
                    return Err(unused("value` or `from_attribute"));
                }
                let pattern = raw.pattern.ok_or_else(|| {
                    "action `extract` needs `pattern`, a regular expression whose named groups \
                     (`(?P<name>...)`) become attributes"
                        .to_owned()
                })?;
                if raw.converted_type.is_some() {
                    return Err(unused("converted_type"));
                }
                check_extract_groups(&pattern)?;
                Ok(Action::Extract { key, pattern })
            }
            ActionKind::Convert => {
                let key = needs_key()?;
                if raw.value.is_some() || from_attribute.is_some() {
                    return Err(unused("value` or `from_attribute"));
                }
                if raw.pattern.is_some() {
                    return Err(unused("pattern"));
                }
                let to = raw.converted_type.ok_or_else(|| {
                    "action `convert` needs `converted_type`: int, double or string".to_owned()
                })?;
                Ok(Action::Convert { key, to })
            }
        }
    }
}

/// Every group of an `extract` pattern names the attribute it fills, so all must be named.
fn check_extract_groups(pattern: &Pattern) -> Result<(), String> {
    // The first entry is the whole match, which has no name.
    let groups: Vec<Option<&str>> = pattern.regex().capture_names().skip(1).collect();
    if groups.is_empty() {
        return Err(format!(
            "the `extract` pattern `{}` has no named groups: name each part to keep, as in \
             `(?P<reason>\\w+)`; each becomes an attribute",
            pattern.as_str()
        ));
    }
    if groups.iter().any(Option::is_none) {
        return Err(format!(
            "the `extract` pattern `{}` has an unnamed group: name it `(?P<name>...)` or make \
             it non-capturing `(?:...)`",
            pattern.as_str()
        ));
    }
    Ok(())
}

pub(super) fn non_empty_actions<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Vec<Action>, D::Error> {
    let actions = Vec::<Action>::deserialize(deserializer)?;
    if actions.is_empty() {
        return Err(de::Error::custom(
            "at least one action is required (e.g. `- {key: cluster, value: prod, action: upsert}`)",
        ));
    }
    Ok(actions)
}

fn reject_from_context<'de, D: Deserializer<'de>>(_: D) -> Result<Option<()>, D::Error> {
    Err(de::Error::custom(
        "`from_context` is not supported: this collector reads events from the Kubernetes API \
         and has no client request context; use `value` or `from_attribute`",
    ))
}

fn reject_default_value<'de, D: Deserializer<'de>>(_: D) -> Result<Option<()>, D::Error> {
    Err(de::Error::custom(
        "`default_value` is not supported yet: use an `insert` action after this one to fill \
         in a default",
    ))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::config::processors::test_support::{de, err};
    use crate::config::processors::{AttributesProcessorConfig, ResourceProcessorConfig};
    use crate::config::yaml::Mark;

    fn action_err(action: &str) -> String {
        err::<ResourceProcessorConfig>(&format!("attributes:\n  - {action}\n")).message
    }

    #[test]
    fn reads_the_reference_resource_processor() {
        let src = "attributes:
  - action: insert
    key: cluster
    value: tenant-a
  - action: insert
    key: loki.resource.labels
    value: node,receiver,cluster
";
        let config: ResourceProcessorConfig = de(src).unwrap();
        assert_eq!(
            config.attributes,
            [
                Action::Insert {
                    key: "cluster".into(),
                    from: ValueSource::Value("tenant-a".into())
                },
                Action::Insert {
                    key: "loki.resource.labels".into(),
                    from: ValueSource::Value("node,receiver,cluster".into())
                },
            ]
        );
    }

    #[test]
    fn reads_every_action_kind() {
        let src = "actions:
  - {action: UPDATE, key: a, from_attribute: b}
  - {action: upsert, key: n, value: 1}
  - {action: delete, pattern: '^tmp\\.'}
  - {action: hash, key: user}
  - {action: extract, key: msg, pattern: '(?P<pod>[a-z]+)-(?P<n>\\d+)'}
  - {action: convert, key: n, converted_type: double}
";
        let config: AttributesProcessorConfig = de(src).unwrap();
        let kinds: Vec<_> = config.actions.iter().map(std::mem::discriminant).collect();
        assert_eq!(kinds.len(), 6);
        assert!(
            matches!(&config.actions[0], Action::Update { from: ValueSource::FromAttribute(b), .. } if b == "b")
        );
        assert!(matches!(
            &config.actions[1],
            Action::Upsert {
                from: ValueSource::Value(AnyValue::Int(1)),
                ..
            }
        ));
        assert!(matches!(
            &config.actions[2],
            Action::Delete {
                key: None,
                pattern: Some(_)
            }
        ));
        assert!(matches!(
            &config.actions[3],
            Action::Hash {
                key: Some(_),
                pattern: None
            }
        ));
        assert!(matches!(&config.actions[4], Action::Extract { .. }));
        assert!(matches!(
            &config.actions[5],
            Action::Convert {
                to: ConvertedType::Double,
                ..
            }
        ));
        assert_eq!(config.include, None);
    }

    #[test]
    fn action_errors_say_what_to_fix() {
        for (action, message) in [
            (
                "{action: insert, value: x}",
                "action `insert` needs `key`, the attribute it acts on",
            ),
            (
                "{action: update, key: a}",
                "action `update` needs `value` or `from_attribute`",
            ),
            (
                "{action: upsert, key: a, value: x, from_attribute: b}",
                "action `upsert` takes one of `value` and `from_attribute`, not both",
            ),
            (
                "{action: insert, key: a, value: x, pattern: y}",
                "action `insert` does not use `pattern`: remove it",
            ),
            (
                "{action: insert, key: a, value: x, converted_type: int}",
                "action `insert` does not use `converted_type`: remove it",
            ),
            (
                "{action: delete}",
                "action `delete` needs `key`, `pattern` or both, to say which attributes",
            ),
            (
                "{action: hash, key: ''}",
                "action `hash` needs `key`, `pattern` or both, to say which attributes",
            ),
            (
                "{action: hash, key: a, value: x}",
                "action `hash` does not use `value` or `from_attribute`: remove it",
            ),
            (
                "{action: extract, key: a, value: x, pattern: '(?P<x>.)'}",
                "action `extract` does not use `value` or `from_attribute`: remove it",
            ),
            (
                "{action: convert, key: a}",
                "action `convert` needs `converted_type`: int, double or string",
            ),
            (
                "{action: convert, key: a, pattern: x, converted_type: int}",
                "action `convert` does not use `pattern`: remove it",
            ),
        ] {
            assert_eq!(action_err(action), message, "{action}");
        }
        assert!(
            action_err("{action: extract, key: a}").starts_with("action `extract` needs `pattern`")
        );
        assert!(
            action_err("{action: extract, key: a, pattern: 'a+'}").contains("has no named groups"),
        );
        assert!(
            action_err("{action: extract, key: a, pattern: '(?P<x>a)(b)'}")
                .contains("has an unnamed group"),
        );
        // A non-capturing group is fine.
        assert!(
            de::<ResourceProcessorConfig>(
                "attributes: [{action: extract, key: a, pattern: '(?:a)(?P<x>b)'}]"
            )
            .is_ok()
        );
    }

    #[test]
    fn action_errors_are_located_at_the_action() {
        let e = err::<ResourceProcessorConfig>(
            "attributes:\n  - action: delete\n    key: a\n  - action: update\n    key: b\n",
        );
        assert_eq!(e.dotted_path(), "attributes[1]");
        assert_eq!(e.mark, Some(Mark { line: 4, column: 5 }));
    }

    #[test]
    fn unknown_actions_and_types_list_the_valid_ones() {
        let e = err::<ResourceProcessorConfig>(
            "attributes:\n  - {action: instert, key: a, value: b}\n",
        );
        assert_eq!(e.message, "unknown value `instert`");
        assert_eq!(e.dotted_path(), "attributes[0].action");
        assert_eq!(
            e.help.as_deref(),
            Some(
                "did you mean `insert`? (one of: insert, update, upsert, delete, hash, extract, convert)"
            )
        );
        let e = err::<ResourceProcessorConfig>(
            "attributes:\n  - {action: convert, key: a, converted_type: float}\n",
        );
        assert_eq!(e.dotted_path(), "attributes[0].converted_type");
        assert!(e.help.unwrap().contains("int, double, string"));
    }
}
