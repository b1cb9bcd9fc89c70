//! Fuzz targets for the core's parsers, run by `cargo test` with a bounded number of cases
//! (`ENCLAVE_FUZZ_CASES`, 512 by default; see `docs/fuzzing.md` to run them longer):
//!
//! - the search box's query language (`search::parse`), the tokenizer and snippets;
//! - `@mention` parsing (`mentions::parse`).
//!
//! Inputs mix arbitrary Unicode with the syntax's own pieces (filters, quotes, `*`, `@`, CJK,
//! combining marks, control characters), so that the interesting paths are reached often. Each
//! target asserts that nothing panics and that the output keeps its documented bounds.
//! Failures are not written to disk: a crash found is fixed and its input kept as a test below.

use enclave_core::mentions::{self, MAX_MENTIONS};
use enclave_core::search::{self, MAX_PHRASE_TOKENS, MAX_QUERY_CHARS, MAX_TERMS};
use proptest::prelude::*;
use proptest::test_runner::Config;

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

/// Pieces of the query language and of texts that stress the tokenizer.
const PIECES: &[&str] = &[
    "from:",
    "in:",
    "before:",
    "after:",
    "has:",
    "FROM:",
    "\"",
    "*",
    "@",
    "#",
    " ",
    "  ",
    "\t",
    "\n",
    "file",
    "alice",
    "2026-01-31",
    "2026-02-30",
    "9999-99-99",
    "项目经理",
    "项",
    "Café",
    "e\u{301}",
    "ﬁ",
    "İ",
    "ß",
    "日本語",
    "한국어",
    "🙂",
    "a-b",
    "x.y_z",
    "```",
    "`",
    "\u{0}",
    "\u{202e}",
    "\u{200b}",
    "ǅ",
    ":",
    "-",
    "in:\"a b\"",
    "from:@bob",
    "has:file",
];

fn pieces(max: usize) -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![
            3 => prop::sample::select(PIECES).prop_map(str::to_owned),
            1 => any::<String>(),
            1 => "[a-z0-9@#:.*\" -]{0,12}",
        ],
        0..max,
    )
    .prop_map(|v| v.concat())
}

/// The search box: anything at all, or text built from the syntax.
fn query() -> impl Strategy<Value = String> {
    prop_oneof![any::<String>(), pieces(24)]
}

fn check_query(input: &str) {
    match search::parse(input) {
        Ok(q) => {
            assert!(input.chars().count() <= MAX_QUERY_CHARS, "{input:?}");
            assert!(q.terms.len() <= MAX_TERMS, "{input:?}: {q:?}");
            for t in &q.terms {
                assert!(
                    !t.tokens.is_empty() && t.tokens.len() <= MAX_PHRASE_TOKENS,
                    "{input:?}: {t:?}"
                );
                assert!(t.tokens.iter().all(|k| !k.is_empty()), "{input:?}: {t:?}");
            }
            // Deterministic.
            assert_eq!(search::parse(input), Ok(q));
        }
        Err(e) => {
            assert!(
                matches!(e, enclave_core::Error::Invalid { field: "q", .. }),
                "{input:?}: {e:?}"
            );
        }
    }
}

fn check_text(text: &str, query: &str) {
    let toks = search::tokens(text);
    for t in &toks {
        assert!(t.start < t.end && t.end <= text.len(), "{text:?}: {t:?}");
        assert!(text.is_char_boundary(t.start) && text.is_char_boundary(t.end));
        assert!(!t.text.is_empty());
    }
    let terms = search::parse(query).map(|q| q.terms).unwrap_or_default();
    let ranges = search::hit_ranges(text, &terms);
    for w in ranges.windows(2) {
        assert!(
            w[0].1 < w[1].0,
            "{text:?}: ranges overlap or are unsorted: {ranges:?}"
        );
    }
    for (s, e) in &ranges {
        assert!(s < e && *e <= text.len());
        assert!(text.is_char_boundary(*s) && text.is_char_boundary(*e));
    }
    let snippet = search::snippet(text, &terms, search::SNIPPET_CHARS);
    let chars: usize = snippet.iter().map(|s| s.text.chars().count()).sum();
    // The snippet is about SNIPPET_CHARS characters, plus the two `…` marks.
    assert!(
        chars <= search::SNIPPET_CHARS + 2,
        "{chars} characters: {snippet:?}"
    );
    assert_eq!(
        search::index_text(text),
        search::index_tokens(text).join(" ")
    );
}

fn check_mentions(text: &str) {
    let p = mentions::parse(text);
    assert!(p.usernames.len() <= MAX_MENTIONS);
    for (i, u) in p.usernames.iter().enumerate() {
        assert!(!u.is_empty() && u.len() <= 32, "{text:?}: {u:?}");
        assert!(
            u.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b".-_".contains(&b)),
            "{text:?}: {u:?}"
        );
        assert!(!mentions::is_special(u), "{text:?}: {u:?}");
        assert!(!p.usernames[..i].contains(u), "{text:?}: {u:?} twice");
    }
    // What was found, written out again, is found again.
    let again: String = p.usernames.iter().map(|u| format!("@{u} ")).collect();
    assert_eq!(mentions::parse(&again).usernames, p.usernames, "{text:?}");
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn search_queries_parse_without_panicking_and_stay_bounded(input in query()) {
        check_query(&input);
    }

    #[test]
    fn tokens_ranges_and_snippets_stay_on_char_boundaries(text in pieces(40), q in query()) {
        check_text(&text, &q);
    }

    #[test]
    fn mentions_parse_without_panicking_and_round_trip(text in pieces(40)) {
        check_mentions(&text);
    }
}

/// Inputs kept from the fuzzers and from hand-made hostile cases.
#[test]
fn regressions() {
    let long = "a ".repeat(MAX_QUERY_CHARS);
    let many = "x ".repeat(MAX_TERMS + 1);
    let deep = "\"".repeat(1000);
    let cases: &[&str] = &[
        "",
        " ",
        "\"",
        "\"\"*",
        "*",
        "from:",
        "from:@",
        "in:#",
        "in:\"",
        "before:2026-01-3",
        "after:２０２６-01-31",
        "has:",
        "frOm:项目",
        "in:项目经理 项",
        "éé",
        "e\u{301}\u{301}\u{301}",
        "\u{0}",
        &long,
        &many,
        &deep,
        "🙂🙂🙂 in:#🙂",
        "ǅ:x",
    ];
    for c in cases {
        check_query(c);
        check_text(c, c);
        check_mentions(c);
    }
    check_mentions(&"@a".repeat(10_000));
    check_mentions("```\n@a\n```\n@b ``` @c");
}
