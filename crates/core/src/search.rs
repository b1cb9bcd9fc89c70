//! Full-text search, the pure half: how text is cut into index tokens ([`tokens`],
//! [`index_tokens`]), how a search box query is parsed into terms and filters ([`parse`]), and
//! how a snippet with highlighted hits is cut from a message ([`snippet`]).
//!
//! Both store backends index the output of [`index_tokens`] and match the terms of [`parse`], so
//! they agree on what matches; only ranking is the backend's own (bm25 / ts_rank_cd).
//!
//! # Tokens
//! - A *word* is a run of letters and digits outside the CJK blocks. It is lower-cased,
//!   decomposed (NFKD) and stripped of combining marks, so `Café`, `CAFE` and `café` are all
//!   `cafe`, and full-width `ＡＢＣ` is `abc`. Anything else (punctuation, spaces, symbols) separates
//!   tokens.
//! - A *CJK run* (Han, kana, hangul) becomes its overlapping bigrams followed by its last
//!   character alone: `项目经理` is `项目 目经 经理 理`; a one-character run is that character.
//!   So a two-character word is one token, a longer word is a phrase of bigrams, and any single
//!   character is the start of some token (a one-character query is a prefix query).
//!
//! Every token is a non-empty string of non-ASCII characters or ASCII letters and digits, with
//! no spaces or quotes, which is what the backends' query syntaxes rely on.

use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

use crate::{Error, Millis};

/// Longest query, in characters.
pub const MAX_QUERY_CHARS: usize = 500;
/// Most terms (words and phrases) in one query.
pub const MAX_TERMS: usize = 16;
/// Most tokens in one phrase.
pub const MAX_PHRASE_TOKENS: usize = 32;
/// Longer tokens are cut to this many characters (index and query alike).
pub const MAX_TOKEN_CHARS: usize = 64;
/// Default length of a snippet, in characters.
pub const SNIPPET_CHARS: usize = 160;

/// One index token and the byte range of the source text it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    pub text: String,
    pub start: usize,
    pub end: usize,
}

/// Whether `c` belongs to a script written without spaces between words.
pub fn is_cjk(c: char) -> bool {
    matches!(c as u32,
        0x3040..=0x30FF      // hiragana, katakana
        | 0x3400..=0x4DBF    // CJK extension A
        | 0x4E00..=0x9FFF    // CJK unified ideographs
        | 0xAC00..=0xD7AF    // hangul syllables
        | 0x1100..=0x11FF    // hangul jamo
        | 0x3130..=0x318F    // hangul compatibility jamo
        | 0x31F0..=0x31FF    // katakana extensions
        | 0xF900..=0xFAFF    // CJK compatibility ideographs
        | 0x20000..=0x2FA1F) // CJK extensions B.. and compatibility supplement
}

fn is_word_char(c: char) -> bool {
    !is_cjk(c) && (c.is_alphanumeric() || is_combining_mark(c))
}

fn cut(s: &str) -> String {
    s.chars().take(MAX_TOKEN_CHARS).collect()
}

/// The normal form of one word: lower-cased, NFKD, combining marks dropped. Decomposition can
/// produce separators (`½` is `1⁄2`), so one word can give several tokens.
fn fold_word(word: &str) -> Vec<String> {
    let folded: String = word
        .chars()
        .flat_map(char::to_lowercase)
        .nfkd()
        .filter(|c| !is_combining_mark(*c))
        .collect();
    folded
        .split(|c: char| !c.is_alphanumeric() || is_cjk(c))
        .filter(|s| !s.is_empty())
        .map(cut)
        .collect()
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Class {
    Word,
    Cjk,
    Other,
}

fn class(c: char) -> Class {
    if is_cjk(c) {
        Class::Cjk
    } else if is_word_char(c) {
        Class::Word
    } else {
        Class::Other
    }
}

/// A maximal run of one class: its class and byte range.
fn runs(text: &str) -> Vec<(Class, usize, usize)> {
    let mut out: Vec<(Class, usize, usize)> = Vec::new();
    for (i, c) in text.char_indices() {
        let k = class(c);
        let end = i + c.len_utf8();
        match out.last_mut() {
            Some((last, _, e)) if *last == k => *e = end,
            _ => out.push((k, i, end)),
        }
    }
    out.retain(|(k, _, _)| *k != Class::Other);
    out
}

/// Bigrams of a CJK run (with their byte ranges), then its last character alone when
/// `trailing` (always for a one-character run).
fn cjk_tokens(run: &str, offset: usize, trailing: bool) -> Vec<Token> {
    let chars: Vec<(usize, char)> = run.char_indices().collect();
    let mut out = Vec::new();
    for w in chars.windows(2) {
        let (a, ca) = w[0];
        let (b, cb) = w[1];
        out.push(Token {
            text: [ca, cb].iter().collect(),
            start: offset + a,
            end: offset + b + cb.len_utf8(),
        });
    }
    if (trailing || chars.len() == 1)
        && let Some(&(i, c)) = chars.last()
    {
        out.push(Token {
            text: c.to_string(),
            start: offset + i,
            end: offset + i + c.len_utf8(),
        });
    }
    out
}

/// The index tokens of `text`, in order, with the source ranges they came from.
pub fn tokens(text: &str) -> Vec<Token> {
    let mut out = Vec::new();
    for (k, start, end) in runs(text) {
        let run = &text[start..end];
        match k {
            Class::Cjk => out.extend(cjk_tokens(run, start, true)),
            Class::Word => out.extend(fold_word(run).into_iter().map(|t| Token {
                text: t,
                start,
                end,
            })),
            Class::Other => {}
        }
    }
    out
}

/// The index tokens of `text`, without their ranges.
pub fn index_tokens(text: &str) -> Vec<String> {
    tokens(text).into_iter().map(|t| t.text).collect()
}

/// The index tokens of `text` joined by single spaces: the text the SQLite index holds.
pub fn index_text(text: &str) -> String {
    index_tokens(text).join(" ")
}

/// One search term: a phrase of tokens that must appear consecutively (a single word is a
/// phrase of one token). When `prefix` is set the last token matches any token it starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Term {
    pub tokens: Vec<String>,
    pub prefix: bool,
}

/// The tokens a query phrase must match, for `text` typed as one word or one quoted phrase.
/// A CJK run inside the phrase gets its trailing single character only when something follows
/// it in the phrase (the index has that character there, at the run's end); a one-character
/// CJK run at the end is a prefix.
fn phrase(text: &str, explicit_prefix: bool) -> Option<Term> {
    let runs = runs(text);
    let mut toks: Vec<String> = Vec::new();
    let mut prefix = explicit_prefix;
    let n = runs.len();
    for (i, (k, start, end)) in runs.into_iter().enumerate() {
        let run = &text[start..end];
        let last = i + 1 == n;
        match k {
            Class::Cjk => {
                toks.extend(cjk_tokens(run, 0, !last).into_iter().map(|t| t.text));
                if last && run.chars().count() == 1 {
                    prefix = true;
                }
            }
            Class::Word => toks.extend(fold_word(run)),
            Class::Other => {}
        }
    }
    if toks.is_empty() {
        return None;
    }
    toks.truncate(MAX_PHRASE_TOKENS);
    Some(Term {
        tokens: toks,
        prefix,
    })
}

/// The author a `from:` filter names. `from:@alice` names a username only; `from:alice` or
/// `from:李雷` (or `from:"Alice Chen"`) names a username or a display name, whichever matches:
/// people type the name they see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Author {
    /// The username (lower-cased), when the value is a valid username.
    pub username: Option<String>,
    /// The display name, matched exactly; `None` for `from:@user`.
    pub display_name: Option<String>,
}

impl Author {
    /// Reads the value of `from:`.
    pub fn parse(value: &str) -> Result<Author, Error> {
        if let Some(name) = value.strip_prefix('@') {
            let name = crate::validate::username(name).map_err(|_| {
                Error::invalid("q", "from: needs a username or a name, as in from:@alice")
            })?;
            return Ok(Author {
                username: Some(name),
                display_name: None,
            });
        }
        let value = value.trim();
        if value.is_empty() || value.chars().count() > crate::validate::MAX_DISPLAY_NAME_CHARS {
            return Err(Error::invalid(
                "q",
                "from: needs a username or a name, as in from:@alice",
            ));
        }
        Ok(Author {
            username: crate::validate::username(value).ok(),
            display_name: Some(value.to_owned()),
        })
    }
}

/// A parsed search box query.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Query {
    /// Every term must match.
    pub terms: Vec<Term>,
    /// `from:@user` or `from:name`: who wrote the message.
    pub from: Option<Author>,
    /// `in:#channel`: the channel's name key ([`crate::validate::channel_name_key`]).
    pub in_channel: Option<String>,
    /// `before:YYYY-MM-DD`: created before that day begins (UTC).
    pub before: Option<Millis>,
    /// `after:YYYY-MM-DD`: created after that day ends (UTC).
    pub after: Option<Millis>,
    /// `has:file`: only messages with attached files.
    pub has_file: bool,
}

impl Query {
    /// Whether the query says nothing at all (no terms and no filters).
    pub fn is_empty(&self) -> bool {
        self.terms.is_empty()
            && self.from.is_none()
            && self.in_channel.is_none()
            && self.before.is_none()
            && self.after.is_none()
            && !self.has_file
    }
}

const DAY_MS: i64 = 86_400_000;

/// Days from 1970-01-01 to the given civil date (proleptic Gregorian).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Midnight UTC starting `YYYY-MM-DD`.
pub fn parse_date(s: &str) -> Option<Millis> {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let part = s.get(r)?;
        if !part.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        part.parse().ok()
    };
    let (y, m, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    if !(1..=12).contains(&m) || y < 1970 {
        return None;
    }
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let days_in_month = match m {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    };
    if !(1..=days_in_month).contains(&d) {
        return None;
    }
    Some(Millis(days_from_civil(y, m, d) * DAY_MS))
}

/// Reads one value after `key:`: up to the next whitespace, or a `"quoted"` value.
fn take_value(rest: &str) -> (&str, &str) {
    if let Some(inner) = rest.strip_prefix('"') {
        match inner.find('"') {
            Some(i) => (&inner[..i], &inner[i + 1..]),
            None => (inner, ""),
        }
    } else {
        let i = rest.find(char::is_whitespace).unwrap_or(rest.len());
        (&rest[..i], &rest[i..])
    }
}

fn set_once<T>(slot: &mut Option<T>, v: T, reason: &'static str) -> Result<(), Error> {
    if slot.is_some() {
        return Err(Error::invalid("q", reason));
    }
    *slot = Some(v);
    Ok(())
}

/// Parses a search box query: words, `"quoted phrases"` (a trailing `*` on a word makes it a
/// prefix), and the filters `from:@user` (or `from:name`, see [`Author`]), `in:#channel` (or `in:"name with spaces"`),
/// `before:YYYY-MM-DD`, `after:YYYY-MM-DD` and `has:file`. Other `word:value` text is searched
/// as text. Each filter may appear once.
pub fn parse(input: &str) -> Result<Query, Error> {
    if input.chars().count() > MAX_QUERY_CHARS {
        return Err(Error::invalid("q", "must be at most 500 characters"));
    }
    if input.chars().any(char::is_control) {
        return Err(Error::invalid("q", "must not contain control characters"));
    }
    let mut q = Query::default();
    let mut rest = input.trim_start();
    while !rest.is_empty() {
        let lower = rest.get(..8).unwrap_or(rest).to_ascii_lowercase();
        if let Some(inner) = rest.strip_prefix('"') {
            let (text, after) = match inner.find('"') {
                Some(i) => (&inner[..i], &inner[i + 1..]),
                None => (inner, ""),
            };
            let (text, prefix) = match after.strip_prefix('*') {
                Some(_) => (text, true),
                None => (text, false),
            };
            let after = after.strip_prefix('*').unwrap_or(after);
            q.terms.extend(phrase(text, prefix));
            rest = after;
        } else if let Some(key) = ["from:", "in:", "before:", "after:", "has:"]
            .into_iter()
            .find(|k| lower.starts_with(k))
        {
            let (value, after) = take_value(&rest[key.len()..]);
            match key {
                "from:" => {
                    let author = Author::parse(value)?;
                    set_once(&mut q.from, author, "from: may appear once")?;
                }
                "in:" => {
                    let name = value.strip_prefix('#').unwrap_or(value).trim();
                    if name.is_empty() {
                        return Err(Error::invalid(
                            "q",
                            "in: needs a channel name, as in in:#general",
                        ));
                    }
                    let key = crate::validate::channel_name_key(name);
                    set_once(&mut q.in_channel, key, "in: may appear once")?;
                }
                "before:" | "after:" => {
                    let day = parse_date(value).ok_or(Error::invalid(
                        "q",
                        "dates are written YYYY-MM-DD, as in before:2026-01-31",
                    ))?;
                    if key == "before:" {
                        set_once(&mut q.before, day, "before: may appear once")?;
                    } else {
                        set_once(
                            &mut q.after,
                            Millis(day.0 + DAY_MS),
                            "after: may appear once",
                        )?;
                    }
                }
                _ => {
                    if !value.eq_ignore_ascii_case("file") {
                        return Err(Error::invalid("q", "the only has: filter is has:file"));
                    }
                    q.has_file = true;
                }
            }
            rest = after;
        } else {
            let i = rest.find(char::is_whitespace).unwrap_or(rest.len());
            let word = &rest[..i];
            let (word, prefix) = match word.strip_suffix('*') {
                Some(w) => (w, true),
                None => (word, false),
            };
            q.terms.extend(phrase(word, prefix));
            rest = &rest[i..];
        }
        rest = rest.trim_start();
    }
    if q.terms.len() > MAX_TERMS {
        return Err(Error::invalid("q", "at most 16 words or phrases"));
    }
    Ok(q)
}

/// A piece of a snippet; `hit` marks the text that matched a term.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    pub text: String,
    pub hit: bool,
}

fn token_matches(doc: &str, want: &str, prefix: bool) -> bool {
    if prefix {
        doc.starts_with(want)
    } else {
        doc == want
    }
}

/// The byte ranges of `text` that match any of `terms`, sorted and merged.
pub fn hit_ranges(text: &str, terms: &[Term]) -> Vec<(usize, usize)> {
    let toks = tokens(text);
    let mut ranges: Vec<(usize, usize)> = Vec::new();
    for term in terms {
        let k = term.tokens.len();
        if k == 0 || k > toks.len() {
            continue;
        }
        for i in 0..=toks.len() - k {
            let all =
                term.tokens.iter().enumerate().all(|(j, want)| {
                    token_matches(&toks[i + j].text, want, term.prefix && j + 1 == k)
                });
            if all {
                ranges.push((toks[i].start, toks[i + k - 1].end));
            }
        }
    }
    ranges.sort_unstable();
    let mut merged: Vec<(usize, usize)> = Vec::new();
    for (s, e) in ranges {
        match merged.last_mut() {
            Some((_, le)) if s <= *le => *le = (*le).max(e),
            _ => merged.push((s, e)),
        }
    }
    merged
}

/// At most about `max_chars` characters of `text` around its first hit, cut into plain and hit
/// segments; `…` marks a cut. Whitespace runs (newlines included) become single spaces.
pub fn snippet(text: &str, terms: &[Term], max_chars: usize) -> Vec<Segment> {
    let ranges = hit_ranges(text, terms);
    let first_hit = ranges.first().map_or(0, |r| r.0);
    // Start a little before the first hit, on a character boundary.
    let lead = max_chars / 4;
    let before: Vec<usize> = text[..first_hit].char_indices().map(|(i, _)| i).collect();
    let start = if before.len() > lead {
        before[before.len() - lead]
    } else {
        0
    };
    let end = text[start..]
        .char_indices()
        .nth(max_chars)
        .map_or(text.len(), |(i, _)| start + i);
    let mut out: Vec<Segment> = Vec::new();
    let mut push = |s: &str, hit: bool| {
        let mut t = String::with_capacity(s.len());
        let mut space = false;
        for c in s.chars() {
            if c.is_whitespace() {
                space = true;
            } else {
                if space {
                    t.push(' ');
                }
                space = false;
                t.push(c);
            }
        }
        if space {
            t.push(' ');
        }
        if t.is_empty() {
            return;
        }
        match out.last_mut() {
            Some(last) if last.hit == hit => last.text.push_str(&t),
            _ => out.push(Segment { text: t, hit }),
        }
    };
    if start > 0 {
        push("…", false);
    }
    let mut at = start;
    for (s, e) in ranges {
        if e <= start || s >= end {
            continue;
        }
        let (s, e) = (s.max(start), e.min(end));
        push(&text[at..s], false);
        push(&text[s..e], true);
        at = e;
    }
    push(&text[at..end], false);
    if end < text.len() {
        push("…", false);
    }
    if let Some(first) = out.first_mut()
        && !first.hit
    {
        first.text = first.text.trim_start().to_owned();
    }
    out.retain(|s| !s.text.is_empty());
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn toks(s: &str) -> String {
        index_text(s)
    }

    fn term(tokens: &[&str], prefix: bool) -> Term {
        Term {
            tokens: tokens.iter().map(|t| (*t).to_owned()).collect(),
            prefix,
        }
    }

    #[test]
    fn tokens_fold_case_accents_and_width() {
        let table = [
            ("Hello, World!", "hello world"),
            ("Café CAFÉ cafe", "cafe cafe cafe"),
            ("naïve façade Ångström", "naive facade angstrom"),
            ("ＡＢＣ１２３", "abc123"),
            ("İstanbul", "istanbul"),
            ("e-mail: bob@example.com", "e mail bob example com"),
            ("½", "1 2"),
            ("", ""),
            ("... !!! ???", ""),
        ];
        for (input, want) in table {
            assert_eq!(toks(input), want, "{input:?}");
        }
    }

    #[test]
    fn tokens_cut_cjk_into_bigrams() {
        let table = [
            ("会议", "会议 议"),
            ("会", "会"),
            ("项目经理", "项目 目经 经理 理"),
            (
                "明天开会议，讨论项目。",
                "明天 天开 开会 会议 议 讨论 论项 项目 目",
            ),
        ];
        for (input, want) in table {
            assert_eq!(toks(input), want, "{input:?}");
        }
        // Digits end a CJK run, as any non-CJK word does.
        assert_eq!(
            toks("明天的meeting在3楼会议室"),
            "明天 天的 的 meeting 在 3 楼会 会议 议室 室"
        );
        assert_eq!(
            toks("日本語のテキスト"),
            "日本 本語 語の のテ テキ キス スト ト"
        );
    }

    #[test]
    fn token_ranges_point_into_the_source() {
        let text = "Go 项目";
        let t = tokens(text);
        assert_eq!(
            t.iter().map(|t| &text[t.start..t.end]).collect::<Vec<_>>(),
            ["Go", "项目", "目"]
        );
    }

    #[test]
    fn long_tokens_are_cut() {
        let long = "a".repeat(200);
        assert_eq!(toks(&long).chars().count(), MAX_TOKEN_CHARS);
    }

    #[test]
    fn parse_words_phrases_and_filters() {
        let q = parse(r#"Budget "Q3 plan" from:@Alice in:#General before:2026-02-01 after:2026-01-01 has:file"#).unwrap();
        assert_eq!(
            q.terms,
            vec![term(&["budget"], false), term(&["q3", "plan"], false)]
        );
        assert_eq!(
            q.from,
            Some(Author {
                username: Some("alice".into()),
                display_name: None
            })
        );
        assert_eq!(q.in_channel.as_deref(), Some("general"));
        assert_eq!(q.before, Some(Millis(1_769_904_000_000)));
        assert_eq!(q.after, Some(Millis(1_767_225_600_000 + DAY_MS)));
        assert!(q.has_file);
    }

    #[test]
    fn from_takes_display_names() {
        let from = |q: &str| parse(q).unwrap().from.unwrap();
        assert_eq!(
            from("from:李雷 会议"),
            Author {
                username: None,
                display_name: Some("李雷".into())
            }
        );
        assert_eq!(
            parse("from:李雷 会议").unwrap().terms,
            vec![term(&["会议"], false)]
        );
        assert_eq!(
            from(r#"from:"Alice Chen""#),
            Author {
                username: None,
                display_name: Some("Alice Chen".into())
            }
        );
        // Without '@' a valid username may be either.
        assert_eq!(
            from("from:Alice"),
            Author {
                username: Some("alice".into()),
                display_name: Some("Alice".into())
            }
        );
        assert!(parse(&format!("from:{}", "名".repeat(65))).is_err());
        assert!(parse(r#"from:"  ""#).is_err());
    }

    #[test]
    fn parse_cjk_terms() {
        let table: [(&str, Vec<Term>); 6] = [
            ("会议", vec![term(&["会议"], false)]),
            ("项目经理", vec![term(&["项目", "目经", "经理"], false)]),
            ("会", vec![term(&["会"], true)]),
            (
                "会议 meeting",
                vec![term(&["会议"], false), term(&["meeting"], false)],
            ),
            // Inside one phrase a CJK run followed by more text keeps its trailing character,
            // as the index does.
            (
                r#""项目 deadline""#,
                vec![term(&["项目", "目", "deadline"], false)],
            ),
            ("meet*", vec![term(&["meet"], true)]),
        ];
        for (input, want) in table {
            assert_eq!(parse(input).unwrap().terms, want, "{input:?}");
        }
    }

    #[test]
    fn parse_edge_cases() {
        assert!(parse("").unwrap().is_empty());
        assert!(parse("   !!! ").unwrap().is_empty());
        assert_eq!(
            parse(r#"in:"Project Room" x"#)
                .unwrap()
                .in_channel
                .as_deref(),
            Some("project room")
        );
        // Unknown keys are text.
        assert_eq!(
            parse("time:10").unwrap().terms,
            vec![term(&["time", "10"], false)]
        );
        // Unterminated quotes run to the end.
        assert_eq!(
            parse(r#""open phrase"#).unwrap().terms,
            vec![term(&["open", "phrase"], false)]
        );
        for bad in [
            "before:2026-13-01",
            "before:2026-02-30",
            "after:yesterday",
            "from:@",
            "from:@a b from:@c",
            "in:#",
            "has:link",
            "a\u{0}b",
        ] {
            assert!(
                matches!(parse(bad), Err(Error::Invalid { field: "q", .. })),
                "{bad:?}"
            );
        }
        assert!(parse(&"x ".repeat(300)).is_err());
        assert!(parse(&"x ".repeat(17)).is_err());
        assert!(parse(&"x ".repeat(16)).is_ok());
    }

    #[test]
    fn dates() {
        assert_eq!(parse_date("1970-01-01"), Some(Millis(0)));
        assert_eq!(parse_date("2024-02-29"), Some(Millis(1_709_164_800_000)));
        assert_eq!(parse_date("2023-02-29"), None);
        assert_eq!(parse_date("2024-2-29"), None);
        assert_eq!(parse_date("+024-02-29"), None);
    }

    fn render(segs: &[Segment]) -> String {
        segs.iter()
            .map(|s| {
                if s.hit {
                    format!("[{}]", s.text)
                } else {
                    s.text.clone()
                }
            })
            .collect()
    }

    #[test]
    fn snippets_mark_hits() {
        let q = parse("cafe").unwrap();
        assert_eq!(
            render(&snippet("Meet at the Café, then CAFE again", &q.terms, 160)),
            "Meet at the [Café], then [CAFE] again"
        );
        let q = parse("会议").unwrap();
        assert_eq!(
            render(&snippet("明天下午三点开会议，别迟到", &q.terms, 160)),
            "明天下午三点开[会议]，别迟到"
        );
        let q = parse("项目经理").unwrap();
        assert_eq!(
            render(&snippet("新的项目经理是谁", &q.terms, 160)),
            "新的[项目经理]是谁"
        );
        let q = parse(r#""quarterly report""#).unwrap();
        assert_eq!(
            render(&snippet(
                "the report is quarterly; the Quarterly\n\nReport is late",
                &q.terms,
                160
            )),
            "the report is quarterly; the [Quarterly Report] is late"
        );
    }

    #[test]
    fn long_snippets_are_cut_around_the_first_hit() {
        let text = format!("{} needle {}", "hay ".repeat(100), "straw ".repeat(100));
        let q = parse("needle").unwrap();
        let s = render(&snippet(&text, &q.terms, 40));
        assert!(s.starts_with('…') && s.ends_with('…'), "{s}");
        assert!(s.contains("[needle]"), "{s}");
        assert!(s.chars().count() <= 44, "{s}");
    }
}
