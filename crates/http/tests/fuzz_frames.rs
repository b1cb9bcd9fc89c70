//! Fuzz target for the WebSocket client frames (`frames::ClientFrame`, parsed by the gateway
//! with `serde_json::from_str`), run by `cargo test` with a bounded number of cases
//! (`ENCLAVE_FUZZ_CASES`, 512 by default; `docs/fuzzing.md`).
//!
//! Inputs are arbitrary text, and JSON objects built from the frames' own field names and
//! values of every JSON type (nested, including the free-form `ref` of `ping`). Asserted:
//! parsing never panics; an accepted frame carries only positive ids; a `ping`'s `ref` comes
//! back unchanged in its `pong`; a frame re-serialised from its parts parses to the same frame.

use enclave_http::frames::{ClientFrame, EphemeralFrame, to_json};
use proptest::prelude::*;
use proptest::test_runner::Config;
use serde_json::{Map, Value, json};

fn config() -> Config {
    let cases = std::env::var("ENCLAVE_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(512);
    Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    }
}

const TYPES: &[&str] = &[
    "send",
    "typing",
    "presence.subscribe",
    "presence.set",
    "activity",
    "ping",
    "pong",
    "SEND",
    "",
];
const FIELDS: &[&str] = &[
    "type",
    "channel_id",
    "text",
    "client_msg_id",
    "thread_root_id",
    "file_ids",
    "user_ids",
    "status_text",
    "dnd",
    "ref",
    "extra",
];

/// Any JSON value, a few levels deep.
fn value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>().prop_map(|f| json!(f)),
        any::<u64>().prop_map(|n| json!(n)),
        "[0-9]{1,20}".prop_map(Value::String),
        "-?[0-9]{1,3}".prop_map(Value::String),
        any::<String>().prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map("[a-z_]{0,8}", inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// An object shaped like a client frame: a `type` (usually a real one) and some fields.
fn frame() -> impl Strategy<Value = Value> {
    (
        prop::sample::select(TYPES),
        prop::collection::btree_map(prop::sample::select(FIELDS), value(), 0..6),
    )
        .prop_map(|(ty, fields)| {
            let mut m: Map<String, Value> =
                fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
            m.entry("type").or_insert_with(|| json!(ty));
            Value::Object(m)
        })
}

fn check(text: &str) {
    let Ok(frame) = serde_json::from_str::<ClientFrame>(text) else {
        return;
    };
    match frame {
        ClientFrame::Send {
            channel_id,
            text: body,
            client_msg_id,
            thread_root_id,
            file_ids,
        } => {
            assert!(channel_id.0 > 0, "{text}");
            assert!(thread_root_id.is_none_or(|t| t.0 > 0), "{text}");
            assert!(file_ids.iter().all(|f| f.0 > 0), "{text}");
            // Written out again from its parts, the frame reads the same.
            let again = json!({
                "type": "send",
                "channel_id": channel_id.0.to_string(),
                "text": body,
                "client_msg_id": client_msg_id,
                "thread_root_id": thread_root_id.map(|t| t.0.to_string()),
                "file_ids": file_ids.iter().map(|f| f.0.to_string()).collect::<Vec<_>>(),
            });
            match serde_json::from_value::<ClientFrame>(again) {
                Ok(ClientFrame::Send {
                    channel_id: c2,
                    text: t2,
                    client_msg_id: m2,
                    thread_root_id: r2,
                    file_ids: f2,
                }) => {
                    assert_eq!(
                        (c2, &t2, &m2, r2, &f2),
                        (channel_id, &body, &client_msg_id, thread_root_id, &file_ids)
                    );
                }
                other => panic!("{text}: re-read as {other:?}"),
            }
        }
        ClientFrame::Typing {
            channel_id,
            thread_root_id,
        } => {
            assert!(channel_id.0 > 0, "{text}");
            assert!(thread_root_id.is_none_or(|t| t.0 > 0), "{text}");
        }
        ClientFrame::PresenceSubscribe { user_ids } => {
            assert!(user_ids.iter().all(|u| u.0 > 0), "{text}");
        }
        ClientFrame::PresenceSet { .. } | ClientFrame::Activity {} => {}
        ClientFrame::Ping { reference } => {
            // The pong echoes the reference exactly.
            let pong = to_json(&EphemeralFrame::Pong {
                reference: reference.clone(),
            });
            let back: Value = serde_json::from_str(&pong).expect("a pong is JSON");
            assert_eq!(back["type"], "pong");
            assert_eq!(back["ref"], reference.unwrap_or(Value::Null), "{text}");
        }
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn arbitrary_text_never_panics(text in any::<String>()) {
        check(&text);
    }

    #[test]
    fn frame_shaped_json_never_panics_and_keeps_its_invariants(v in frame()) {
        check(&v.to_string());
    }

    #[test]
    fn truncated_frames_never_panic(v in frame(), cut in any::<prop::sample::Index>()) {
        let s = v.to_string();
        let mut at = cut.index(s.len() + 1);
        while !s.is_char_boundary(at) {
            at -= 1;
        }
        check(&s[..at]);
    }
}

/// Inputs kept from the fuzzers and from hand-made hostile cases.
#[test]
fn regressions() {
    let deep_array = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let deep_ref = format!(
        r#"{{"type":"ping","ref":{}{}}}"#,
        "[".repeat(10_000),
        "]".repeat(10_000)
    );
    let cases: &[&str] = &[
        "",
        "null",
        "{}",
        r#"{"type":null}"#,
        r#"{"type":"send"}"#,
        r#"{"type":"send","channel_id":0,"text":""}"#,
        r#"{"type":"send","channel_id":"-1","text":""}"#,
        r#"{"type":"send","channel_id":"99999999999999999999","text":""}"#,
        r#"{"type":"send","channel_id":1.5,"text":""}"#,
        r#"{"type":"send","channel_id":"1","text":"\ud800"}"#,
        r#"{"type":"ping","ref":1e999}"#,
        // Found by the fuzzer: without serde_json's `float_roundtrip` this `ref` came back
        // from the pong as -7.946783671735556e-17.
        r#"{"type":"ping","ref":-7.946783671735558e-17}"#,
        r#"{"type":"ping","ref":[1.5568657904933004e-59,-7.097566621510537e300]}"#,
        r#"{"type":"typing","channel_id":"1","type":"ping"}"#,
        &deep_array,
        &deep_ref,
    ];
    for c in cases {
        check(c);
    }
    // Deep nesting is refused by serde_json's recursion limit, not by a stack overflow.
    assert!(serde_json::from_str::<ClientFrame>(&deep_ref).is_err());
}
