//! The `batch` processor's config as written, checked into a [`BatchProcessorConfig`].

use serde::Deserialize;
use serde::de::{self, Deserializer};

use super::BatchProcessorConfig;
use crate::config::duration::ConfigDuration;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawBatch {
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
    use crate::config::processors::test_support::{de, err};

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
