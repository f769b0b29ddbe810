//! Loki's protobuf push request, snappy-compressed: the body the old exporter sent, and the
//! decoding the harness uses to read it back.
//!
//! The messages are written by hand from Loki's `pkg/push/push.proto` (package `logproto`):
//! `PushRequest.streams = 1`; `StreamAdapter { labels = 1, entries = 2, hash = 3 }`;
//! `EntryAdapter { timestamp = 1, line = 2, structuredMetadata = 3 }`;
//! `LabelPairAdapter { name = 1, value = 2 }`; `google.protobuf.Timestamp { seconds = 1,
//! nanos = 2 }`. `PushRequest.format = 2` and `EntryAdapter.parsed = 4` are Loki-internal and
//! left out on purpose. Compression is snappy's *block* format, not its framed stream format.

use prost::Message;

use super::streams::{Entry, Stream, TenantPush};

/// The `Content-Type` of a protobuf push.
pub const CONTENT_TYPE_PROTOBUF: &str = "application/x-protobuf";

/// The largest decompressed push we decode (Loki's own gRPC limit is about 100 MB); a larger
/// length in the snappy header is refused before anything is allocated.
pub const MAX_DECODED_BYTES: usize = 100 * 1024 * 1024;

/// `logproto.PushRequest`.
#[derive(Clone, PartialEq, Message)]
pub struct PushRequest {
    #[prost(message, repeated, tag = "1")]
    pub streams: Vec<StreamAdapter>,
}

/// `logproto.StreamAdapter`: one stream.
#[derive(Clone, PartialEq, Message)]
pub struct StreamAdapter {
    /// The labels string, `{a="x", b="y"}`.
    #[prost(string, tag = "1")]
    pub labels: String,
    #[prost(message, repeated, tag = "2")]
    pub entries: Vec<EntryAdapter>,
    /// Loki-side hash of the labels; clients leave it 0, as the old exporter did.
    #[prost(uint64, tag = "3")]
    pub hash: u64,
}

/// `logproto.EntryAdapter`: one log entry.
#[derive(Clone, PartialEq, Message)]
pub struct EntryAdapter {
    /// Always present on the wire (gogoproto `nullable=false`), even at the epoch.
    #[prost(message, optional, tag = "1")]
    pub timestamp: Option<Timestamp>,
    #[prost(string, tag = "2")]
    pub line: String,
    #[prost(message, repeated, tag = "3")]
    pub structured_metadata: Vec<LabelPairAdapter>,
}

/// `logproto.LabelPairAdapter`: one structured-metadata pair.
#[derive(Clone, PartialEq, Message)]
pub struct LabelPairAdapter {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(string, tag = "2")]
    pub value: String,
}

/// `google.protobuf.Timestamp`.
#[derive(Clone, Copy, PartialEq, Eq, Message)]
pub struct Timestamp {
    #[prost(int64, tag = "1")]
    pub seconds: i64,
    /// Always in `0..1_000_000_000`, also before the epoch.
    #[prost(int32, tag = "2")]
    pub nanos: i32,
}

impl Timestamp {
    /// The timestamp of `unix_nano` nanoseconds since the Unix epoch.
    pub fn from_unix_nano(unix_nano: i64) -> Self {
        Self {
            seconds: unix_nano.div_euclid(1_000_000_000),
            // rem_euclid of 1e9 always fits an i32.
            nanos: i32::try_from(unix_nano.rem_euclid(1_000_000_000)).unwrap_or_default(),
        }
    }

    /// Nanoseconds since the Unix epoch; `None` when that overflows an `i64`.
    pub fn unix_nano(&self) -> Option<i64> {
        // In i128, since near i64::MIN the seconds alone overflow while the sum does not.
        let nanos = i128::from(self.seconds) * 1_000_000_000 + i128::from(self.nanos);
        i64::try_from(nanos).ok()
    }
}

/// Why a push body cannot be encoded.
#[derive(Debug, thiserror::Error)]
pub enum EncodeError {
    #[error("snappy compression failed: {0}")]
    Snappy(#[from] snap::Error),
}

/// Why a push body cannot be decoded.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("invalid snappy block: {0}")]
    Snappy(#[from] snap::Error),
    #[error("push body decompresses to {len} bytes, more than the {max} we accept")]
    TooLarge { len: usize, max: usize },
    #[error("invalid protobuf push request: {0}")]
    Protobuf(#[from] prost::DecodeError),
    #[error("invalid JSON push request: {0}")]
    Json(String),
}

/// The push request of one tenant's streams.
pub fn to_push_request(push: &TenantPush) -> PushRequest {
    PushRequest {
        streams: push
            .streams
            .iter()
            .map(|stream| StreamAdapter {
                labels: stream.labels_string.clone(),
                entries: stream
                    .entries
                    .iter()
                    .map(|entry| EntryAdapter {
                        timestamp: Some(Timestamp::from_unix_nano(entry.timestamp_unix_nano)),
                        line: entry.line.clone(),
                        structured_metadata: entry
                            .structured_metadata
                            .iter()
                            .map(|(name, value)| LabelPairAdapter {
                                name: name.clone(),
                                value: value.clone(),
                            })
                            .collect(),
                    })
                    .collect(),
                hash: 0,
            })
            .collect(),
    }
}

/// The push body of one tenant's streams: protobuf, snappy block-compressed; send it with
/// `Content-Type:` [`CONTENT_TYPE_PROTOBUF`].
pub fn encode_protobuf(push: &TenantPush) -> Result<Vec<u8>, EncodeError> {
    let raw = encode_push_request(push);
    Ok(snap::raw::Encoder::new().compress_vec(&raw)?)
}

/// The uncompressed protobuf of [`to_push_request`]`(push)`, written straight from the borrowed
/// streams: no copy of every line into prost's owned messages (half the memory of a push, and
/// time). The same bytes as prost writes; a property test holds the two together.
pub fn encode_push_request(push: &TenantPush) -> Vec<u8> {
    let pair_len = |name: &str, value: &str| text_len(1, name) + text_len(2, value);
    let entry_len = |entry: &Entry| {
        let ts = Timestamp::from_unix_nano(entry.timestamp_unix_nano).encoded_len();
        message_len(1, ts)
            + text_len(2, &entry.line)
            + entry
                .structured_metadata
                .iter()
                .map(|(n, v)| message_len(3, pair_len(n, v)))
                .sum::<usize>()
    };
    let stream_len = |stream: &Stream| {
        text_len(1, &stream.labels_string)
            + stream
                .entries
                .iter()
                .map(|e| message_len(2, entry_len(e)))
                .sum::<usize>()
    };
    let total: usize = push
        .streams
        .iter()
        .map(|s| message_len(1, stream_len(s)))
        .sum();

    let mut buf = Vec::with_capacity(total);
    for stream in &push.streams {
        message_header(&mut buf, 1, stream_len(stream));
        text(&mut buf, 1, &stream.labels_string);
        for entry in &stream.entries {
            message_header(&mut buf, 2, entry_len(entry));
            let ts = Timestamp::from_unix_nano(entry.timestamp_unix_nano);
            message_header(&mut buf, 1, ts.encoded_len());
            ts.encode_raw(&mut buf);
            text(&mut buf, 2, &entry.line);
            for (name, value) in &entry.structured_metadata {
                message_header(&mut buf, 3, pair_len(name, value));
                text(&mut buf, 1, name);
                text(&mut buf, 2, value);
            }
        }
    }
    debug_assert_eq!(
        buf.len(),
        total,
        "the computed lengths are the written ones"
    );
    buf
}

/// Reads a protobuf + snappy push body back.
pub fn decode_protobuf(body: &[u8]) -> Result<PushRequest, DecodeError> {
    let len = snap::raw::decompress_len(body)?;
    if len > MAX_DECODED_BYTES {
        return Err(DecodeError::TooLarge {
            len,
            max: MAX_DECODED_BYTES,
        });
    }
    let raw = snap::raw::Decoder::new().decompress_vec(body)?;
    Ok(PushRequest::decode(raw.as_slice())?)
}

/// Bytes of an embedded message field `tag` of `len` bytes (written even when empty).
fn message_len(tag: u32, len: usize) -> usize {
    prost::encoding::key_len(tag) + prost::encoding::encoded_len_varint(len as u64) + len
}

/// Bytes of a string field `tag`: none when empty (proto3 leaves default values out).
fn text_len(tag: u32, value: &str) -> usize {
    if value.is_empty() {
        0
    } else {
        message_len(tag, value.len())
    }
}

fn message_header(buf: &mut Vec<u8>, tag: u32, len: usize) {
    prost::encoding::encode_key(tag, prost::encoding::WireType::LengthDelimited, buf);
    prost::encoding::encode_varint(len as u64, buf);
}

fn text(buf: &mut Vec<u8>, tag: u32, value: &str) {
    if !value.is_empty() {
        message_header(buf, tag, value.len());
        buf.extend_from_slice(value.as_bytes());
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
pub(crate) mod tests {
    use super::*;
    use crate::exporter::loki::labels::LabelSet;
    use crate::exporter::loki::streams::{Entry, Stream};
    use proptest::prelude::*;

    fn push() -> TenantPush {
        let labels = LabelSet::from_pairs([("job".to_owned(), "x".to_owned())]);
        TenantPush {
            tenant: None,
            streams: vec![Stream {
                labels_string: labels.to_string(),
                labels,
                entries: vec![Entry {
                    timestamp_unix_nano: 1_500_000_000,
                    line: "hi".into(),
                    structured_metadata: vec![("k".into(), "v".into())],
                    record_index: 0,
                }],
            }],
        }
    }

    #[test]
    fn wire_format_uses_lokis_field_numbers() {
        let raw = to_push_request(&push()).encode_to_vec();
        let expected: Vec<u8> = [
            &[0x0a, 35][..], // streams = 1, 35 bytes
            &[0x0a, 9],
            b"{job=\"x\"}",                                          // labels = 1
            &[0x12, 22],                                             // entries = 2
            &[0x0a, 8, 0x08, 1, 0x10, 0x80, 0xca, 0xb5, 0xee, 0x01], // timestamp = 1 {1 s, 500 ms}
            &[0x12, 2],
            b"hi",                                    // line = 2
            &[0x1a, 6, 0x0a, 1, b'k', 0x12, 1, b'v'], // structuredMetadata = 3 {name, value}
        ]
        .concat();
        assert_eq!(raw, expected);
    }

    #[test]
    fn body_is_a_snappy_block_that_decodes_back() {
        let body = encode_protobuf(&push()).unwrap();
        assert_eq!(
            snap::raw::Decoder::new().decompress_vec(&body).unwrap(),
            to_push_request(&push()).encode_to_vec()
        );
        assert_eq!(decode_protobuf(&body).unwrap(), to_push_request(&push()));
    }

    #[test]
    fn epoch_timestamp_is_still_sent() {
        let mut p = push();
        p.streams[0].entries[0].timestamp_unix_nano = 0;
        let raw = to_push_request(&p).encode_to_vec();
        assert!(
            raw.windows(2).any(|w| w == [0x0a, 0]),
            "empty timestamp message present"
        );
    }

    #[test]
    fn timestamps_before_the_epoch_round_trip() {
        let t = Timestamp::from_unix_nano(-1);
        assert_eq!((t.seconds, t.nanos), (-1, 999_999_999));
        assert_eq!(t.unix_nano(), Some(-1));
        assert_eq!(
            Timestamp::from_unix_nano(i64::MIN).unix_nano(),
            Some(i64::MIN)
        );
        assert_eq!(
            Timestamp::from_unix_nano(i64::MAX).unix_nano(),
            Some(i64::MAX)
        );
        assert_eq!(
            Timestamp {
                seconds: i64::MAX,
                nanos: 0
            }
            .unix_nano(),
            None
        );
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(decode_protobuf(b"").is_err());
        assert!(decode_protobuf(b"\xff\xff\xff\xff\x0f").is_err());
        let huge = [0xff, 0xff, 0xff, 0xff, 0x0f, 0x00];
        assert!(decode_protobuf(&huge).is_err());
        let not_proto = snap::raw::Encoder::new().compress_vec(b"\x0a\xff").unwrap();
        assert!(matches!(
            decode_protobuf(&not_proto),
            Err(DecodeError::Protobuf(_))
        ));
    }

    pub(crate) fn arb_push() -> impl Strategy<Value = TenantPush> {
        let timestamp = prop_oneof![any::<i64>(), Just(i64::MIN), Just(i64::MAX), Just(0)];
        let entry = (
            timestamp,
            "\\PC{0,20}|[\\x00-\\x7f]{0,20}",
            proptest::collection::btree_map("[a-z_]{1,5}", "\\PC{0,8}", 0..3),
        )
            .prop_map(|(timestamp_unix_nano, line, structured_metadata)| Entry {
                timestamp_unix_nano,
                line,
                // Unique names: a JSON object cannot carry duplicates.
                structured_metadata: structured_metadata.into_iter().collect(),
                record_index: 0,
            });
        let stream = (
            proptest::collection::vec(
                ("[a-z_][a-z0-9_]{0,5}", "\\PC{0,8}|[\\x00-\\x7f]{0,8}"),
                0..4,
            ),
            proptest::collection::vec(entry, 0..4),
        )
            .prop_map(|(pairs, entries)| {
                let labels = LabelSet::from_pairs(pairs);
                Stream {
                    labels_string: labels.to_string(),
                    labels,
                    entries,
                }
            });
        proptest::collection::vec(stream, 0..4).prop_map(|streams| TenantPush {
            tenant: None,
            streams,
        })
    }

    proptest! {
        #[test]
        fn the_direct_encoder_writes_what_prost_writes(push in arb_push()) {
            prop_assert_eq!(encode_push_request(&push), to_push_request(&push).encode_to_vec());
        }

        #[test]
        fn protobuf_round_trips(push in arb_push()) {
            let body = encode_protobuf(&push).unwrap();
            let decoded = decode_protobuf(&body).unwrap();
            prop_assert_eq!(&decoded, &to_push_request(&push));
            for (stream, decoded) in push.streams.iter().zip(&decoded.streams) {
                for (entry, decoded) in stream.entries.iter().zip(&decoded.entries) {
                    let t = decoded.timestamp.map(|t| t.unix_nano());
                    prop_assert_eq!(t, Some(Some(entry.timestamp_unix_nano)));
                }
            }
        }

        #[test]
        fn decoding_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = decode_protobuf(&bytes);
            if let Ok(body) = snap::raw::Encoder::new().compress_vec(&bytes) {
                let _ = decode_protobuf(&body);
            }
        }
    }
}
