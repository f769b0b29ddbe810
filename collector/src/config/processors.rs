//! Config of the `resource`, `attributes`, `filter` and `batch` processors.
//!
//! Everything is checked while it is read, in each type's `Deserialize` (as OpenTelemetry's
//! `attraction.go` and filter configs check it), so a mistake is an error with file position and
//! key path. What these types hold is valid and compiled: processors never re-check it.

use serde::Deserialize;
use serde::de::{self, Deserializer};

use super::duration::ConfigDuration;
use super::pattern::Pattern;
use crate::record::{AnyValue, SeverityNumber};

// ---------------------------------------------------------------------------------------------
// resource and attributes processors

/// `processors.resource` (OpenTelemetry's `resourceprocessor`): actions on resource attributes.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResourceProcessorConfig {
    /// Actions applied in order to the resource attributes; at least one. The resource
    /// processor calls this list `attributes` (the attributes processor calls it `actions`).
    #[serde(deserialize_with = "non_empty_actions")]
    pub attributes: Vec<Action>,
}

/// `processors.attributes` (OpenTelemetry's `attributesprocessor`): actions on log attributes.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttributesProcessorConfig {
    /// Actions applied in order to the log record attributes; at least one.
    #[serde(deserialize_with = "non_empty_actions")]
    pub actions: Vec<Action>,
    /// Apply the actions only to records matching these properties (others pass unchanged).
    #[serde(default, deserialize_with = "attributes_match")]
    pub include: Option<MatchProperties>,
    /// Do not apply the actions to records matching these properties (checked after `include`).
    #[serde(default, deserialize_with = "attributes_match")]
    pub exclude: Option<MatchProperties>,
}

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

fn non_empty_actions<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<Action>, D::Error> {
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

// ---------------------------------------------------------------------------------------------
// Matching records: filter processor and attributes processor include/exclude

/// How the texts of match properties are compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MatchType {
    /// Exact, case-sensitive equality.
    Strict,
    /// Unanchored regular expressions (write `^...$` to match the whole text).
    Regexp,
}

/// A text criterion, compiled.
#[derive(Debug, Clone, PartialEq)]
pub enum TextMatch {
    /// The whole text equals this (`match_type: strict`).
    Exact(String),
    /// The regex matches somewhere in the text (`match_type: regexp`).
    Regex(Pattern),
}

/// An attribute criterion: the key must be present and, if a value is given, match it.
#[derive(Debug, Clone, PartialEq)]
pub struct AttributeMatch {
    /// The key that must be present.
    pub key: String,
    /// What its value must match; `None` requires only the key.
    pub value: Option<ValueMatch>,
}

/// An attribute value criterion: typed equality (`strict`) or a regex on the value's text.
#[derive(Debug, Clone, PartialEq)]
pub enum ValueMatch {
    /// Equal in type and value (`match_type: strict`).
    Exact(AnyValue),
    /// The regex matches the text of a string, int, double or bool (`match_type: regexp`).
    Regex(Pattern),
}

/// A severity number criterion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SeverityNumberMatch {
    /// Records at or above this severity match.
    pub min: SeverityNumber,
    /// Whether records without a severity number match.
    pub match_undefined: bool,
}

/// Which records an `include` or `exclude` selects, compiled. All given criteria must hold.
/// Within a list of texts any item may match; every listed attribute must match (as in
/// OpenTelemetry). Empty lists are criteria not given.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MatchProperties {
    /// Resource attributes that must all match.
    pub resource_attributes: Vec<AttributeMatch>,
    /// Log record attributes that must all match.
    pub record_attributes: Vec<AttributeMatch>,
    /// Matched against the severity text.
    pub severity_texts: Vec<TextMatch>,
    /// Matched against the severity number.
    pub severity_number: Option<SeverityNumberMatch>,
    /// Matched against the body's text.
    pub bodies: Vec<TextMatch>,
    /// Matched against the severity text (the event `type`).
    pub event_types: Vec<TextMatch>,
    /// Matched against the log attribute `k8s.event.reason`.
    pub reasons: Vec<TextMatch>,
    /// Matched against the log attribute `k8s.namespace.name`.
    pub namespaces: Vec<TextMatch>,
    /// Matched against the resource attribute `k8s.object.kind`.
    pub object_kinds: Vec<TextMatch>,
}

impl MatchProperties {
    /// Whether no criterion is given.
    pub fn is_empty(&self) -> bool {
        *self == MatchProperties::default()
    }
}

/// `processors.filter` (OpenTelemetry's `filterprocessor`, its `logs.include`/`logs.exclude`
/// form): drops log records.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FilterProcessorConfig {
    /// Which log records to keep: those matching `include` (when given) and not matching
    /// `exclude` (when given). Without either, every record is kept.
    #[serde(default)]
    pub logs: LogFilters,
}

/// `logs:` of the filter processor.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(from = "RawLogFilters")]
pub struct LogFilters {
    /// Keep only records matching these properties; others are dropped. An empty map is ignored.
    pub include: Option<MatchProperties>,
    /// Drop records matching these properties (checked after `include`). An empty map is
    /// ignored.
    pub exclude: Option<MatchProperties>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLogFilters {
    #[serde(default, deserialize_with = "log_match")]
    include: Option<MatchProperties>,
    #[serde(default, deserialize_with = "log_match")]
    exclude: Option<MatchProperties>,
    #[serde(default, rename = "log_record", deserialize_with = "reject_ottl")]
    _log_record: Option<()>,
}

impl From<RawLogFilters> for LogFilters {
    fn from(raw: RawLogFilters) -> Self {
        // OpenTelemetry's filter processor ignores empty include/exclude maps.
        LogFilters {
            include: raw.include.filter(|p| !p.is_empty()),
            exclude: raw.exclude.filter(|p| !p.is_empty()),
        }
    }
}

fn reject_ottl<'de, D: Deserializer<'de>>(_: D) -> Result<Option<()>, D::Error> {
    Err(de::Error::custom(
        "OTTL conditions (`log_record`) are not supported yet: use `include` / `exclude` with \
         `match_type`, e.g. `exclude: {match_type: strict, event_types: [Normal]}`",
    ))
}

/// `logs.include` / `logs.exclude` of the filter processor as written: OpenTelemetry's
/// `LogMatchProperties` plus our event shorthands (marked "Ours").
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogMatchConfig {
    /// `strict` (exact text) or `regexp` (unanchored regular expressions); required when any
    /// text or attribute value is given.
    pub match_type: Option<MatchType>,
    /// Resource attributes (`{key, value}`) that must all be present and, when `value` is
    /// given, match it.
    #[serde(default)]
    pub resource_attributes: Vec<AttributeConfig>,
    /// Log record attributes (`{key, value}`) that must all be present and, when `value` is
    /// given, match it.
    #[serde(default)]
    pub record_attributes: Vec<AttributeConfig>,
    /// Severity texts, any of which matches (for events: `Normal`, `Warning`).
    #[serde(default)]
    pub severity_texts: Vec<String>,
    /// Matches records at or above a severity.
    pub severity_number: Option<SeverityNumberConfig>,
    /// Bodies (the event message), any of which matches.
    #[serde(default)]
    pub bodies: Vec<String>,
    /// Ours: event types as Kubernetes writes them (`Normal`, `Warning`), any of which matches;
    /// compared with the severity text.
    #[serde(default)]
    pub event_types: Vec<String>,
    /// Ours: event reasons (`k8s.event.reason`, e.g. `BackOff`), any of which matches.
    #[serde(default)]
    pub reasons: Vec<String>,
    /// Ours: namespaces of the involved object (`k8s.namespace.name`), any of which matches.
    #[serde(default)]
    pub namespaces: Vec<String>,
    /// Ours: kinds of the involved object (resource `k8s.object.kind`, e.g. `Pod`), any of
    /// which matches.
    #[serde(default)]
    pub object_kinds: Vec<String>,
}

/// `include` / `exclude` of the attributes processor as written: OpenTelemetry's
/// `filterconfig.MatchProperties`, the parts that apply to log records.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttributesMatchConfig {
    /// `strict` (exact text) or `regexp` (unanchored regular expressions); required when any
    /// text or attribute value is given.
    pub match_type: Option<MatchType>,
    /// Log record attributes (`{key, value}`) that must all be present and, when `value` is
    /// given, match it.
    #[serde(default)]
    pub attributes: Vec<AttributeConfig>,
    /// Resource attributes (`{key, value}`) that must all be present and, when `value` is
    /// given, match it.
    #[serde(default)]
    pub resources: Vec<AttributeConfig>,
    /// Bodies (the event message), any of which matches.
    #[serde(default)]
    pub log_bodies: Vec<String>,
    /// Severity texts, any of which matches (for events: `Normal`, `Warning`).
    #[serde(default)]
    pub log_severity_texts: Vec<String>,
    /// Matches records at or above a severity.
    pub log_severity_number: Option<SeverityNumberConfig>,
}

/// An attribute criterion as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttributeConfig {
    /// The attribute key; it must be present.
    pub key: String,
    /// The value to match: with `strict`, equal in type and value (`1` is an int, `'1'` a
    /// string); with `regexp`, a regular expression for the value's text. Omit it to require
    /// only the key.
    pub value: Option<AnyValue>,
}

/// `severity_number:` as written.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeverityNumberConfig {
    /// The lowest matching severity: a name (`INFO`, `warn`, `ERROR2`; case-insensitive) or a
    /// number 1-24. Omitted, every record with a severity matches.
    #[serde(default, deserialize_with = "severity_min")]
    pub min: SeverityNumber,
    /// Whether records without a severity number match too (default false).
    #[serde(default)]
    pub match_undefined: bool,
}

fn severity_min<'de, D: Deserializer<'de>>(deserializer: D) -> Result<SeverityNumber, D::Error> {
    let text = String::deserialize(deserializer)?;
    parse_severity(&text).ok_or_else(|| {
        de::Error::custom(format!(
            "`{text}` is not a severity: write a name (TRACE, DEBUG, INFO, WARN, ERROR, FATAL, \
             or with 2-4 appended, like WARN2) or a number from 1 to 24"
        ))
    })
}

/// A severity name (case-insensitive) or number, as OpenTelemetry's filter processor reads it.
fn parse_severity(text: &str) -> Option<SeverityNumber> {
    let text = text.trim();
    if let Ok(n) = text.parse::<u8>() {
        return (1..=24).contains(&n).then_some(SeverityNumber(n));
    }
    let upper = text.to_uppercase();
    (1..=24u8).map(SeverityNumber).find(|s| s.name() == upper)
}

fn log_match<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<MatchProperties>, D::Error> {
    let Some(raw) = Option::<LogMatchConfig>::deserialize(deserializer)? else {
        return Ok(None);
    };
    let c = Compiler(raw.match_type);
    let severity_number = raw.severity_number.map(SeverityNumberConfig::compile);
    let props = MatchProperties {
        resource_attributes: c.attributes("resource_attributes", raw.resource_attributes)?,
        record_attributes: c.attributes("record_attributes", raw.record_attributes)?,
        severity_texts: c.texts("severity_texts", raw.severity_texts)?,
        severity_number,
        bodies: c.texts("bodies", raw.bodies)?,
        event_types: c.texts("event_types", raw.event_types)?,
        reasons: c.texts("reasons", raw.reasons)?,
        namespaces: c.texts("namespaces", raw.namespaces)?,
        object_kinds: c.texts("object_kinds", raw.object_kinds)?,
    };
    Ok(Some(props))
}

fn attributes_match<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<MatchProperties>, D::Error> {
    let Some(raw) = Option::<AttributesMatchConfig>::deserialize(deserializer)? else {
        return Ok(None);
    };
    let c = Compiler(raw.match_type);
    let props = MatchProperties {
        resource_attributes: c.attributes("resources", raw.resources)?,
        record_attributes: c.attributes("attributes", raw.attributes)?,
        severity_texts: c.texts("log_severity_texts", raw.log_severity_texts)?,
        severity_number: raw.log_severity_number.map(SeverityNumberConfig::compile),
        bodies: c.texts("log_bodies", raw.log_bodies)?,
        ..MatchProperties::default()
    };
    // Unlike the filter processor, OpenTelemetry's attributes processor rejects an empty one.
    if props.is_empty() {
        return Err(de::Error::custom(
            "give at least one of `attributes`, `resources`, `log_bodies`, \
             `log_severity_texts` or `log_severity_number`",
        ));
    }
    Ok(Some(props))
}

impl SeverityNumberConfig {
    fn compile(self) -> SeverityNumberMatch {
        SeverityNumberMatch {
            min: self.min,
            match_undefined: self.match_undefined,
        }
    }
}

/// Compiles the texts of one match properties map by its `match_type`.
struct Compiler(Option<MatchType>);

impl Compiler {
    fn match_type<E: de::Error>(&self, list: &str) -> Result<MatchType, E> {
        self.0.ok_or_else(|| {
            E::custom(format!(
                "`match_type` is required with `{list}`: `strict` (exact text) or `regexp`"
            ))
        })
    }

    fn texts<E: de::Error>(&self, list: &str, items: Vec<String>) -> Result<Vec<TextMatch>, E> {
        if items.is_empty() {
            return Ok(Vec::new());
        }
        let match_type = self.match_type(list)?;
        items
            .into_iter()
            .enumerate()
            .map(|(i, text)| match match_type {
                MatchType::Strict => Ok(TextMatch::Exact(text)),
                MatchType::Regexp => Pattern::new(&text)
                    .map(TextMatch::Regex)
                    .map_err(|e| E::custom(format!("in `{list}[{i}]`: {e}"))),
            })
            .collect()
    }

    fn attributes<E: de::Error>(
        &self,
        list: &str,
        items: Vec<AttributeConfig>,
    ) -> Result<Vec<AttributeMatch>, E> {
        items
            .into_iter()
            .enumerate()
            .map(|(i, item)| {
                if item.key.is_empty() {
                    return Err(E::custom(format!("`{list}[{i}]` has an empty `key`")));
                }
                let value = match item.value {
                    None => None,
                    Some(value) => Some(match self.match_type(list)? {
                        MatchType::Strict => ValueMatch::Exact(value),
                        MatchType::Regexp => {
                            let AnyValue::Str(text) = value else {
                                return Err(E::custom(format!(
                                    "with `match_type: regexp` the `value` of `{list}[{i}]` must \
                                     be a string (a regular expression), found `{value}`"
                                )));
                            };
                            let pattern = Pattern::new(&text)
                                .map_err(|e| E::custom(format!("in `{list}[{i}]`: {e}")))?;
                            ValueMatch::Regex(pattern)
                        }
                    }),
                };
                Ok(AttributeMatch {
                    key: item.key,
                    value,
                })
            })
            .collect()
    }
}

// ---------------------------------------------------------------------------------------------
// batch processor

/// `processors.batch` (OpenTelemetry's `batchprocessor`): groups records for the exporter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "RawBatch")]
pub struct BatchProcessorConfig {
    /// Send a batch once it holds this many records (default 8192). 0 sends at once.
    pub send_batch_size: u32,
    /// Send a batch this long after its first record arrived, however small (default 200ms).
    /// 0 sends at once.
    pub timeout: ConfigDuration,
    /// Split batches larger than this (default 0: no limit). When set, it must be at least
    /// `send_batch_size`.
    pub send_batch_max_size: u32,
}

impl Default for BatchProcessorConfig {
    /// OpenTelemetry's defaults.
    fn default() -> Self {
        BatchProcessorConfig {
            send_batch_size: 8192,
            timeout: ConfigDuration::from_millis(200),
            send_batch_max_size: 0,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBatch {
    send_batch_size: Option<u32>,
    timeout: Option<ConfigDuration>,
    send_batch_max_size: Option<u32>,
    #[serde(
        default,
        rename = "metadata_keys",
        deserialize_with = "reject_metadata"
    )]
    _metadata_keys: Option<()>,
    #[serde(
        default,
        rename = "metadata_cardinality_limit",
        deserialize_with = "reject_metadata"
    )]
    _metadata_cardinality_limit: Option<()>,
}

impl TryFrom<RawBatch> for BatchProcessorConfig {
    type Error = String;

    fn try_from(raw: RawBatch) -> Result<Self, String> {
        let default = BatchProcessorConfig::default();
        let config = BatchProcessorConfig {
            send_batch_size: raw.send_batch_size.unwrap_or(default.send_batch_size),
            timeout: raw.timeout.unwrap_or(default.timeout),
            send_batch_max_size: raw
                .send_batch_max_size
                .unwrap_or(default.send_batch_max_size),
        };
        let (size, max) = (config.send_batch_size, config.send_batch_max_size);
        if max != 0 && max < size {
            let size_from = match raw.send_batch_size {
                Some(_) => "",
                None => " (the default)",
            };
            return Err(format!(
                "send_batch_max_size ({max}) must be greater or equal to send_batch_size \
                 ({size}{size_from}): raise it, or leave it out for no limit"
            ));
        }
        Ok(config)
    }
}

fn reject_metadata<'de, D: Deserializer<'de>>(_: D) -> Result<Option<()>, D::Error> {
    Err(de::Error::custom(
        "batching by client metadata is not supported: events carry no client metadata",
    ))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::config::de::{DeError, from_node};
    use crate::config::yaml::{Mark, parse};
    use serde::de::DeserializeOwned;

    fn de<T: DeserializeOwned>(src: &str) -> Result<T, DeError> {
        from_node(&parse(src).unwrap().unwrap())
    }

    fn err<T: DeserializeOwned + std::fmt::Debug>(src: &str) -> DeError {
        de::<T>(src).unwrap_err()
    }

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
    fn each_processor_uses_its_own_list_key() {
        let e = err::<ResourceProcessorConfig>("actions:\n  - {action: delete, key: a}\n");
        assert_eq!(e.message, "unknown key `actions`");
        let e = err::<AttributesProcessorConfig>("attributes:\n  - {action: delete, key: a}\n");
        assert_eq!(e.message, "unknown key `attributes`");
        let e = err::<ResourceProcessorConfig>("{}");
        assert_eq!(e.message, "missing required key `attributes`");
        let e = err::<ResourceProcessorConfig>("attributes: []\n");
        assert!(
            e.message.starts_with("at least one action is required"),
            "{}",
            e.message
        );
        assert_eq!(e.dotted_path(), "attributes");
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

    #[test]
    fn unsupported_keys_say_so_where_they_are() {
        let e = err::<ResourceProcessorConfig>(
            "attributes:\n  - {action: insert, key: a, from_context: metadata.x}\n",
        );
        assert_eq!(e.dotted_path(), "attributes[0].from_context");
        assert!(
            e.message.starts_with("`from_context` is not supported"),
            "{}",
            e.message
        );
        let e = err::<ResourceProcessorConfig>(
            "attributes:\n  - {action: insert, key: a, value: b, default_value: c}\n",
        );
        assert!(
            e.message
                .starts_with("`default_value` is not supported yet")
        );
        let e = err::<FilterProcessorConfig>("logs:\n  log_record: ['IsMatch(body, \"x\")']\n");
        assert_eq!(e.dotted_path(), "logs.log_record");
        assert!(
            e.message
                .starts_with("OTTL conditions (`log_record`) are not supported yet")
        );
        let e = err::<BatchProcessorConfig>("metadata_keys: [tenant]\n");
        assert_eq!(e.dotted_path(), "metadata_keys");
    }

    #[test]
    fn bad_patterns_are_located() {
        let e =
            err::<ResourceProcessorConfig>("attributes:\n  - {action: delete, pattern: '(oops'}\n");
        assert_eq!(e.dotted_path(), "attributes[0].pattern");
        assert!(
            e.message.starts_with("invalid regular expression `(oops`"),
            "{}",
            e.message
        );
        let e = err::<FilterProcessorConfig>(
            "logs:\n  exclude:\n    match_type: regexp\n    reasons: [ok, '[z-a]']\n",
        );
        assert_eq!(e.dotted_path(), "logs.exclude");
        assert_eq!(e.mark, Some(Mark { line: 3, column: 5 }));
        assert!(
            e.message
                .starts_with("in `reasons[1]`: invalid regular expression `[z-a]`"),
            "{}",
            e.message
        );
    }

    #[test]
    fn reads_filter_match_properties() {
        let src = "logs:
  include:
    match_type: regexp
    resource_attributes: [{key: k8s.object.kind, value: '^Pod$'}]
    record_attributes: [{key: k8s.event.count}]
    severity_texts: [Warn]
    severity_number: {min: warn, match_undefined: true}
    bodies: [fail]
    event_types: [Warning]
    reasons: [BackOff]
    namespaces: ['^kube-']
    object_kinds: [Pod]
  exclude:
    match_type: strict
    record_attributes: [{key: k8s.event.count, value: 1}]
";
        let config: FilterProcessorConfig = de(src).unwrap();
        let include = config.logs.include.unwrap();
        assert_eq!(
            include.severity_number,
            Some(SeverityNumberMatch {
                min: SeverityNumber::WARN,
                match_undefined: true
            })
        );
        assert!(
            matches!(&include.resource_attributes[0].value, Some(ValueMatch::Regex(p)) if p.as_str() == "^Pod$")
        );
        assert_eq!(include.record_attributes[0].value, None);
        assert_eq!(include.namespaces.len(), 1);
        let exclude = config.logs.exclude.unwrap();
        assert_eq!(
            exclude.record_attributes[0].value,
            Some(ValueMatch::Exact(AnyValue::Int(1)))
        );
    }

    #[test]
    fn filter_match_errors() {
        let e = err::<FilterProcessorConfig>("logs:\n  include:\n    bodies: [x]\n");
        assert_eq!(
            e.message,
            "`match_type` is required with `bodies`: `strict` (exact text) or `regexp`"
        );
        let e = err::<FilterProcessorConfig>("logs:\n  include:\n    match_type: exact\n");
        assert_eq!(e.dotted_path(), "logs.include.match_type");
        let e = err::<FilterProcessorConfig>(
            "logs:\n  include:\n    match_type: regexp\n    record_attributes: [{key: n, value: 1}]\n",
        );
        assert!(e.message.contains("must be a string"), "{}", e.message);
        let e =
            err::<FilterProcessorConfig>("logs:\n  include:\n    record_attributes: [{key: ''}]\n");
        assert_eq!(e.message, "`record_attributes[0]` has an empty `key`");
        let e =
            err::<FilterProcessorConfig>("logs:\n  include:\n    severity_number: {min: loud}\n");
        assert_eq!(e.dotted_path(), "logs.include.severity_number.min");
        assert!(e.message.starts_with("`loud` is not a severity"));
        // Only key criteria and severity need no match_type; an empty include is ignored.
        let config: FilterProcessorConfig = de(
            "logs:\n  include:\n    record_attributes: [{key: a}]\n    severity_number: {min: 9}\n  exclude: {}\n",
        )
        .unwrap();
        assert_eq!(
            config.logs.include.unwrap().severity_number.unwrap().min,
            SeverityNumber::INFO
        );
        assert_eq!(config.logs.exclude, None);
        assert_eq!(
            de::<FilterProcessorConfig>("{}").unwrap(),
            FilterProcessorConfig::default()
        );
    }

    #[test]
    fn severity_names_and_numbers() {
        assert_eq!(parse_severity("info"), Some(SeverityNumber::INFO));
        assert_eq!(parse_severity("ERROR2"), Some(SeverityNumber(18)));
        assert_eq!(parse_severity("24"), Some(SeverityNumber(24)));
        assert_eq!(parse_severity("0"), None);
        assert_eq!(parse_severity("25"), None);
        assert_eq!(parse_severity("UNSPECIFIED"), None);
    }

    #[test]
    fn attributes_processor_include_exclude() {
        let src = "actions: [{action: delete, key: a}]
include:
  match_type: strict
  attributes: [{key: k8s.event.reason, value: BackOff}]
  resources: [{key: k8s.object.kind, value: Pod}]
  log_severity_texts: [Warning]
exclude:
  match_type: regexp
  log_bodies: ['^Readiness']
";
        let config: AttributesProcessorConfig = de(src).unwrap();
        let include = config.include.unwrap();
        assert_eq!(include.record_attributes[0].key, "k8s.event.reason");
        assert_eq!(include.resource_attributes[0].key, "k8s.object.kind");
        assert_eq!(include.severity_texts, [TextMatch::Exact("Warning".into())]);
        assert_eq!(config.exclude.unwrap().bodies.len(), 1);
        let e = err::<AttributesProcessorConfig>(
            "actions: [{action: delete, key: a}]\ninclude: {match_type: strict}\n",
        );
        assert_eq!(e.dotted_path(), "include");
        assert!(e.message.starts_with("give at least one of"));
        let e = err::<AttributesProcessorConfig>(
            "actions: [{action: delete, key: a}]\ninclude: {reasons: [x]}\n",
        );
        assert_eq!(e.message, "unknown key `reasons`");
    }

    #[test]
    fn batch_defaults_and_bounds() {
        assert_eq!(
            de::<BatchProcessorConfig>("{}").unwrap(),
            BatchProcessorConfig::default()
        );
        let config: BatchProcessorConfig =
            de("send_batch_size: 10\ntimeout: 1s\nsend_batch_max_size: 10\n").unwrap();
        assert_eq!(config.send_batch_size, 10);
        assert_eq!(*config.timeout, std::time::Duration::from_secs(1));
        let e = err::<BatchProcessorConfig>("send_batch_max_size: 1000\n");
        assert_eq!(
            e.message,
            "send_batch_max_size (1000) must be greater or equal to send_batch_size (8192 (the \
             default)): raise it, or leave it out for no limit"
        );
        let e = err::<BatchProcessorConfig>("send_batch_size: 100\nsend_batch_max_size: 99\n");
        assert!(e.message.starts_with(
            "send_batch_max_size (99) must be greater or equal to send_batch_size (100)"
        ));
        let e = err::<BatchProcessorConfig>("timeout: 5\n");
        assert_eq!(e.dotted_path(), "timeout");
        let e = err::<BatchProcessorConfig>("send_batch_size: -1\n");
        assert_eq!(e.dotted_path(), "send_batch_size");
    }
}
