//! The attribute action engine shared by the `resource` and `attributes` processors, with
//! OpenTelemetry's `attraction` semantics (including where a deleted key's neighbour moves).

use sha2::{Digest, Sha256};

use crate::config::pattern::Pattern;
use crate::config::processors::{Action, ConvertedType, ValueSource};
use crate::gofmt;
use crate::record::{AnyValue, Attributes};

/// Applies `actions` in order to one attribute map.
pub fn apply(actions: &[Action], attrs: &mut Attributes) {
    for action in actions {
        apply_one(action, attrs);
    }
}

fn apply_one(action: &Action, attrs: &mut Attributes) {
    match action {
        Action::Insert { key, from } => {
            if let Some(value) = source(from, attrs)
                && !attrs.contains_key(key)
            {
                attrs.insert(key.clone(), value);
            }
        }
        Action::Update { key, from } => {
            if let Some(value) = source(from, attrs)
                && let Some(slot) = attrs.get_mut(key)
            {
                *slot = value;
            }
        }
        Action::Upsert { key, from } => {
            if let Some(value) = source(from, attrs) {
                attrs.upsert(key.clone(), value);
            }
        }
        Action::Delete { key, pattern } => {
            if let Some(key) = key {
                remove_like_otel(attrs, key);
            }
            for key in matching_keys(pattern.as_ref(), attrs) {
                remove_like_otel(attrs, &key);
            }
        }
        Action::Hash { key, pattern } => {
            // As in OpenTelemetry, a key that is also matched by the pattern is hashed twice.
            if let Some(key) = key {
                hash_in_place(attrs, key);
            }
            for key in matching_keys(pattern.as_ref(), attrs) {
                hash_in_place(attrs, &key);
            }
        }
        Action::Extract { key, pattern } => {
            for (name, value) in extract(pattern, attrs.get(key)) {
                attrs.upsert(name, value);
            }
        }
        Action::Convert { key, to } => {
            if let Some(value) = attrs.get_mut(key) {
                convert_in_place(value, *to);
            }
        }
    }
}

/// The value an insert/update/upsert would set; `None` when `from_attribute` is absent.
fn source(from: &ValueSource, attrs: &Attributes) -> Option<AnyValue> {
    match from {
        ValueSource::Value(value) => Some(value.clone()),
        ValueSource::FromAttribute(other) => attrs.get(other).cloned(),
    }
}

fn matching_keys(pattern: Option<&Pattern>, attrs: &Attributes) -> Vec<String> {
    let Some(pattern) = pattern else {
        return Vec::new();
    };
    attrs
        .keys()
        .filter(|k| pattern.is_match(k))
        .map(str::to_owned)
        .collect()
}

/// Removes `key` the way OpenTelemetry's `pcommon.Map.Remove` does: the last entry moves into
/// the freed slot. The old Loki exporter wrote attributes in map order, so this keeps its lines.
fn remove_like_otel(attrs: &mut Attributes, key: &str) {
    attrs.swap_remove(key);
}

fn hash_in_place(attrs: &mut Attributes, key: &str) {
    if let Some(value) = attrs.get_mut(key) {
        *value = AnyValue::Str(hash_value(value));
    }
}

/// OpenTelemetry's `sha2Hasher`: hex SHA-256 of a string's bytes, a bool as one byte, an int or
/// a double as 8 little-endian bytes. Anything else, and the empty string, becomes "".
pub fn hash_value(value: &AnyValue) -> String {
    let mut number = [0u8; 8];
    let bytes: &[u8] = match value {
        AnyValue::Str(s) => s.as_bytes(),
        AnyValue::Bool(b) => {
            number[0] = u8::from(*b);
            &number[..1]
        }
        AnyValue::Int(i) => {
            number = i.to_le_bytes();
            &number
        }
        AnyValue::Double(d) => {
            number = d.to_bits().to_le_bytes();
            &number
        }
        AnyValue::Bytes(_) | AnyValue::Array(_) | AnyValue::Map(_) => &[],
    };
    if bytes.is_empty() {
        return String::new();
    }
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The attributes an `extract` sets: each named group of the first match, in pattern order; a
/// group that took no part in the match gives "" (as Go's `FindStringSubmatch`).
pub fn extract(pattern: &Pattern, value: Option<&AnyValue>) -> Vec<(String, String)> {
    let Some(AnyValue::Str(text)) = value else {
        return Vec::new();
    };
    let Some(captures) = pattern.regex().captures(text) else {
        return Vec::new();
    };
    pattern
        .regex()
        .capture_names()
        .enumerate()
        .filter_map(|(i, name)| {
            let value = captures.get(i).map_or("", |m| m.as_str());
            Some((name?.to_owned(), value.to_owned()))
        })
        .collect()
}

fn convert_in_place(value: &mut AnyValue, to: ConvertedType) {
    if let Some(converted) = convert_value(value, to) {
        *value = converted;
    }
}

/// OpenTelemetry's `convertValue`: the converted value, or `None` to leave it unchanged.
pub fn convert_value(value: &AnyValue, to: ConvertedType) -> Option<AnyValue> {
    match (to, value) {
        (ConvertedType::String, AnyValue::Str(_)) => None,
        (ConvertedType::String, other) => Some(AnyValue::Str(gofmt::as_string(other))),
        (ConvertedType::Int, AnyValue::Double(d)) => Some(AnyValue::Int(*d as i64)),
        (ConvertedType::Int, AnyValue::Bool(b)) => Some(AnyValue::Int(i64::from(*b))),
        (ConvertedType::Int, AnyValue::Str(s)) => s.parse().ok().map(AnyValue::Int),
        (ConvertedType::Double, AnyValue::Int(i)) => Some(AnyValue::Double(*i as f64)),
        (ConvertedType::Double, AnyValue::Bool(b)) => {
            Some(AnyValue::Double(f64::from(u8::from(*b))))
        }
        (ConvertedType::Double, AnyValue::Str(s)) => parse_go_float(s).map(AnyValue::Double),
        _ => None,
    }
}

/// Go's `strconv.ParseFloat` for decimal input: an out-of-range number is an error there, where
/// Rust would give infinity.
fn parse_go_float(s: &str) -> Option<f64> {
    let d: f64 = s.parse().ok()?;
    let spelled_infinite = s
        .trim_start_matches(['+', '-'])
        .get(..3)
        .is_some_and(|p| p.eq_ignore_ascii_case("inf"));
    (d.is_finite() || spelled_infinite || d.is_nan()).then_some(d)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn attrs(pairs: &[(&str, AnyValue)]) -> Attributes {
        pairs.iter().cloned().collect()
    }

    fn actions(yaml_list: &str) -> Vec<Action> {
        let src = format!("actions:\n{yaml_list}");
        let node = crate::config::yaml::parse(&src).unwrap().unwrap();
        let config: crate::config::processors::AttributesProcessorConfig =
            crate::config::de::from_node(&node).unwrap();
        config.actions
    }

    fn run(yaml_list: &str, before: &[(&str, AnyValue)]) -> Vec<(String, AnyValue)> {
        let mut a = attrs(before);
        apply(&actions(yaml_list), &mut a);
        a.into_iter().collect()
    }

    fn pairs(list: &[(&str, AnyValue)]) -> Vec<(String, AnyValue)> {
        list.iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect()
    }

    #[test]
    fn insert_only_when_absent() {
        let got = run(
            "  - {action: insert, key: a, value: new}\n  - {action: insert, key: c, value: 3}\n",
            &[("a", "old".into()), ("b", 2.into())],
        );
        assert_eq!(
            got,
            pairs(&[("a", "old".into()), ("b", 2.into()), ("c", 3.into())])
        );
    }

    #[test]
    fn update_only_when_present() {
        let got = run(
            "  - {action: update, key: a, value: new}\n  - {action: update, key: z, value: x}\n",
            &[("a", "old".into())],
        );
        assert_eq!(got, pairs(&[("a", "new".into())]));
    }

    #[test]
    fn upsert_keeps_position_or_appends() {
        let got = run(
            "  - {action: upsert, key: a, value: true}\n  - {action: upsert, key: c, from_attribute: b}\n  - {action: upsert, key: d, from_attribute: missing}\n",
            &[("a", "old".into()), ("b", 2.into())],
        );
        assert_eq!(
            got,
            pairs(&[("a", true.into()), ("b", 2.into()), ("c", 2.into())])
        );
    }

    #[test]
    fn delete_moves_the_last_entry_into_the_gap_as_opentelemetry_does() {
        let before = [
            ("a", 1.into()),
            ("b", 2.into()),
            ("c", 3.into()),
            ("d", 4.into()),
        ];
        let got = run("  - {action: delete, key: b}\n", &before);
        assert_eq!(
            got,
            pairs(&[("a", 1.into()), ("d", 4.into()), ("c", 3.into())])
        );
        let got = run("  - {action: delete, key: d}\n", &before);
        assert_eq!(
            got,
            pairs(&[("a", 1.into()), ("b", 2.into()), ("c", 3.into())])
        );
        let got = run("  - {action: delete, key: a, pattern: '^[bc]$'}\n", &before);
        assert_eq!(got, pairs(&[("d", 4.into())]));
    }

    #[test]
    fn hash_is_hex_sha256_of_opentelemetry_bytes() {
        let got = run(
            "  - {action: hash, key: s}\n  - {action: hash, pattern: '^n'}\n",
            &[
                ("s", "abc".into()),
                ("n1", 1.into()),
                ("n2", true.into()),
                ("e", "".into()),
            ],
        );
        assert_eq!(
            got[0].1,
            AnyValue::from("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        );
        // SHA-256 of 01 00 00 00 00 00 00 00 and of 01.
        assert_eq!(
            got[1].1,
            AnyValue::from("7c9fa136d4413fa6173637e883b6998d32e1d675f88cddff9dcbcf331820f4b8")
        );
        assert_eq!(
            got[2].1,
            AnyValue::from("4bf5122f344554c53bde2ebb8cd2b7e3d1600ad631c385a5d7cce23c7785459a")
        );
        assert_eq!(hash_value(&"".into()), "");
        assert_eq!(hash_value(&AnyValue::Array(vec![])), "");
    }

    #[test]
    fn extract_upserts_named_groups_of_string_values() {
        let list =
            "  - {action: extract, key: m, pattern: '^(?P<pod>[a-z]+)-(?P<n>\\d+)(?P<rest>x)?'}\n";
        let got = run(list, &[("m", "web-12".into()), ("n", "old".into())]);
        assert_eq!(
            got,
            pairs(&[
                ("m", "web-12".into()),
                ("n", "12".into()),
                ("pod", "web".into()),
                ("rest", "".into())
            ])
        );
        assert_eq!(
            run(list, &[("m", "NOPE".into())]),
            pairs(&[("m", "NOPE".into())])
        );
        assert_eq!(run(list, &[("m", 7.into())]), pairs(&[("m", 7.into())]));
    }

    #[test]
    fn convert_follows_opentelemetry_and_leaves_failures_alone() {
        let cases: [(AnyValue, ConvertedType, AnyValue); 12] = [
            ("42".into(), ConvertedType::Int, 42.into()),
            ("4x".into(), ConvertedType::Int, "4x".into()),
            (AnyValue::Double(2.9), ConvertedType::Int, 2.into()),
            (true.into(), ConvertedType::Int, 1.into()),
            ("1.5".into(), ConvertedType::Double, AnyValue::Double(1.5)),
            ("1e400".into(), ConvertedType::Double, "1e400".into()),
            (
                "-Inf".into(),
                ConvertedType::Double,
                AnyValue::Double(f64::NEG_INFINITY),
            ),
            (3.into(), ConvertedType::Double, AnyValue::Double(3.0)),
            (false.into(), ConvertedType::Double, AnyValue::Double(0.0)),
            (3.into(), ConvertedType::String, "3".into()),
            (AnyValue::Double(1.5), ConvertedType::String, "1.5".into()),
            (
                AnyValue::Bytes(vec![1]),
                ConvertedType::Int,
                AnyValue::Bytes(vec![1]),
            ),
        ];
        for (before, to, after) in cases {
            let mut v = before.clone();
            convert_in_place(&mut v, to);
            assert_eq!(v, after, "{before:?} to {to:?}");
        }
    }

    #[test]
    fn reference_config_resource_processor() {
        let src = "attributes:
  - action: insert
    key: cluster
    value: tenant-a
  - action: insert
    key: node
    value: node-1
  - action: insert
    key: receiver
    value: 'k8s_event'
  - action: insert
    key: loki.resource.labels
    value: node,receiver,cluster
";
        let node = crate::config::yaml::parse(src).unwrap().unwrap();
        let config: crate::config::processors::ResourceProcessorConfig =
            crate::config::de::from_node(&node).unwrap();
        let mut resource = attrs(&[
            ("k8s.node.name", "node-1".into()),
            ("cluster", "keep".into()),
        ]);
        apply(&config.attributes, &mut resource);
        assert_eq!(
            resource.into_iter().collect::<Vec<_>>(),
            pairs(&[
                ("k8s.node.name", "node-1".into()),
                ("cluster", "keep".into()),
                ("node", "node-1".into()),
                ("receiver", "k8s_event".into()),
                ("loki.resource.labels", "node,receiver,cluster".into()),
            ])
        );
    }

    // ------------------------------------------------------------------------------------------
    // The reference model: obviously-correct code over a plain vector, one action at a time.

    type Model = Vec<(String, AnyValue)>;

    fn model_position(m: &Model, key: &str) -> Option<usize> {
        m.iter().position(|(k, _)| k == key)
    }

    fn model_source(m: &Model, from: &ValueSource) -> Option<AnyValue> {
        match from {
            ValueSource::Value(v) => Some(v.clone()),
            ValueSource::FromAttribute(k) => model_position(m, k).map(|i| m[i].1.clone()),
        }
    }

    fn model_keys(m: &Model, pattern: &Option<Pattern>) -> Vec<String> {
        match pattern {
            Some(p) => m
                .iter()
                .filter(|(k, _)| p.is_match(k))
                .map(|(k, _)| k.clone())
                .collect(),
            None => Vec::new(),
        }
    }

    fn model_upsert(m: &mut Model, key: &str, value: AnyValue) {
        match model_position(m, key) {
            Some(i) => m[i].1 = value,
            None => m.push((key.to_owned(), value)),
        }
    }

    fn model_apply(m: &mut Model, action: &Action) {
        match action {
            Action::Insert { key, from } => {
                if let Some(v) = model_source(m, from)
                    && model_position(m, key).is_none()
                {
                    m.push((key.clone(), v));
                }
            }
            Action::Update { key, from } => {
                if let Some(v) = model_source(m, from)
                    && let Some(i) = model_position(m, key)
                {
                    m[i].1 = v;
                }
            }
            Action::Upsert { key, from } => {
                if let Some(v) = model_source(m, from) {
                    model_upsert(m, key, v);
                }
            }
            Action::Delete { key, pattern } => {
                if let Some(i) = key.as_deref().and_then(|k| model_position(m, k)) {
                    m.swap_remove(i);
                }
                for k in model_keys(m, pattern) {
                    if let Some(i) = model_position(m, &k) {
                        m.swap_remove(i);
                    }
                }
            }
            Action::Hash { key, pattern } => {
                let keys = key.iter().cloned().chain(model_keys(m, pattern));
                for k in keys.collect::<Vec<_>>() {
                    if let Some(i) = model_position(m, &k) {
                        m[i].1 = AnyValue::Str(hash_value(&m[i].1));
                    }
                }
            }
            Action::Extract { key, pattern } => {
                let value = model_position(m, key).map(|i| m[i].1.clone());
                if let Some(AnyValue::Str(text)) = value
                    && let Some(caps) = pattern.regex().captures(&text)
                {
                    for name in pattern.regex().capture_names().flatten() {
                        let v = caps.name(name).map_or("", |g| g.as_str()).to_owned();
                        model_upsert(m, name, AnyValue::Str(v));
                    }
                }
            }
            Action::Convert { key, to } => {
                if let Some(i) = model_position(m, key)
                    && let Some(v) = convert_value(&m[i].1, *to)
                {
                    m[i].1 = v;
                }
            }
        }
    }

    const KEYS: &[&str] = &["a", "b", "c", "n1", "n2", "k8s.x", "pod", "num"];

    fn key() -> impl Strategy<Value = String> {
        proptest::sample::select(KEYS).prop_map(str::to_owned)
    }

    fn value() -> impl Strategy<Value = AnyValue> {
        prop_oneof![
            "[a-c0-9.-]{0,6}".prop_map(AnyValue::Str),
            any::<i64>().prop_map(AnyValue::Int),
            any::<f64>().prop_map(AnyValue::Double),
            any::<bool>().prop_map(AnyValue::Bool),
            proptest::collection::vec(any::<u8>(), 0..3).prop_map(AnyValue::Bytes),
            Just(AnyValue::Array(vec![AnyValue::Int(1)])),
        ]
    }

    fn key_pattern() -> impl Strategy<Value = Pattern> {
        proptest::sample::select(&["^n", "a|b", "\\.", "^$", "."][..])
            .prop_map(|p| Pattern::new(p).unwrap())
    }

    fn extract_pattern() -> impl Strategy<Value = Pattern> {
        proptest::sample::select(
            &[
                "(?P<pod>[a-c]+)-(?P<num>\\d+)",
                "^(?P<a>.)(?P<b>x)?",
                "(?P<c>[0-9])",
            ][..],
        )
        .prop_map(|p| Pattern::new(p).unwrap())
    }

    fn value_source() -> impl Strategy<Value = ValueSource> {
        prop_oneof![
            value().prop_map(ValueSource::Value),
            key().prop_map(ValueSource::FromAttribute),
        ]
    }

    fn selector() -> impl Strategy<Value = (Option<String>, Option<Pattern>)> {
        (
            proptest::option::of(key()),
            proptest::option::of(key_pattern()),
        )
            .prop_filter("delete/hash need key or pattern", |(k, p)| {
                k.is_some() || p.is_some()
            })
    }

    fn action() -> impl Strategy<Value = Action> {
        let to = prop_oneof![
            Just(ConvertedType::Int),
            Just(ConvertedType::Double),
            Just(ConvertedType::String)
        ];
        prop_oneof![
            (key(), value_source()).prop_map(|(key, from)| Action::Insert { key, from }),
            (key(), value_source()).prop_map(|(key, from)| Action::Update { key, from }),
            (key(), value_source()).prop_map(|(key, from)| Action::Upsert { key, from }),
            selector().prop_map(|(key, pattern)| Action::Delete { key, pattern }),
            selector().prop_map(|(key, pattern)| Action::Hash { key, pattern }),
            (key(), extract_pattern()).prop_map(|(key, pattern)| Action::Extract { key, pattern }),
            (key(), to).prop_map(|(key, to)| Action::Convert { key, to }),
        ]
    }

    fn attribute_map() -> impl Strategy<Value = Model> {
        proptest::collection::vec((key(), value()), 0..8).prop_map(|pairs| {
            let mut m: Model = Vec::new();
            for (k, v) in pairs {
                model_upsert(&mut m, &k, v);
            }
            m
        })
    }

    /// Doubles compare by bits so that NaN equals itself.
    fn same(a: &[(String, AnyValue)], b: &[(String, AnyValue)]) -> bool {
        fn eq(x: &AnyValue, y: &AnyValue) -> bool {
            match (x, y) {
                (AnyValue::Double(p), AnyValue::Double(q)) => p.to_bits() == q.to_bits(),
                _ => x == y,
            }
        }
        a.len() == b.len()
            && a.iter()
                .zip(b)
                .all(|((k1, v1), (k2, v2))| k1 == k2 && eq(v1, v2))
    }

    proptest! {
        #[test]
        fn actions_match_the_reference_model(
            start in attribute_map(),
            list in proptest::collection::vec(action(), 0..8),
        ) {
            let mut model = start.clone();
            let mut real: Attributes = start.into_iter().collect();
            for action in &list {
                model_apply(&mut model, action);
                apply(std::slice::from_ref(action), &mut real);
                let got: Vec<_> = real.clone().into_iter().collect();
                prop_assert!(same(&got, &model), "after {:?}\n got {:?}\nwant {:?}", action, got, model);
            }
        }

        #[test]
        fn conversions_never_panic(v in value(), s in ".{0,12}") {
            for to in [ConvertedType::Int, ConvertedType::Double, ConvertedType::String] {
                let _ = convert_value(&v, to);
                let _ = convert_value(&AnyValue::Str(s.clone()), to);
            }
            let _ = hash_value(&v);
        }
    }
}
