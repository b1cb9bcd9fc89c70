//! What a file is, decided from its bytes (never from what the client claims), and cheap
//! previews.

/// How much of the start of a file [`content_type`] looks at.
pub const SNIFF_LEN: usize = 8 * 1024;

/// Media types that a browser would run as active content; they are only ever downloaded,
/// never shown inline.
pub fn is_active(content_type: &str) -> bool {
    matches!(
        content_type,
        "text/html" | "image/svg+xml" | "application/xhtml+xml" | "text/xml" | "application/xml"
    ) || content_type.contains("javascript")
}

/// Image types thumbnails are made of (the decoders this build has).
pub fn is_thumbnailable(content_type: &str) -> bool {
    matches!(
        content_type,
        "image/png" | "image/jpeg" | "image/gif" | "image/webp"
    )
}

/// The media type of a file from its first bytes (`head`, up to [`SNIFF_LEN`]).
pub fn content_type(head: &[u8]) -> String {
    // Markup first: infer calls SVG plain XML, and SVG must be recognised as active content.
    if let Some(markup) = markup_type(head) {
        return markup.into();
    }
    if let Some(kind) = infer::get(head) {
        return kind.mime_type().to_owned();
    }
    if is_text(head) {
        return "text/plain".into();
    }
    "application/octet-stream".into()
}

fn markup_type(head: &[u8]) -> Option<&'static str> {
    let lower: Vec<u8> = head.iter().take(1024).map(u8::to_ascii_lowercase).collect();
    let text = String::from_utf8_lossy(&lower);
    let trimmed = text.trim_start_matches('\u{feff}').trim_start();
    if trimmed.starts_with("<svg") || (trimmed.starts_with("<?xml") && text.contains("<svg")) {
        return Some("image/svg+xml");
    }
    if trimmed.starts_with("<!doctype html")
        || trimmed.starts_with("<html")
        || trimmed.starts_with("<head")
        || trimmed.starts_with("<script")
        || trimmed.starts_with("<body")
    {
        return Some("text/html");
    }
    if trimmed.starts_with("<?xml") {
        return Some("application/xml");
    }
    None
}

/// Whether the bytes look like UTF-8 text (a character cut at the end is allowed).
fn is_text(head: &[u8]) -> bool {
    if head.contains(&0) {
        return false;
    }
    match std::str::from_utf8(head) {
        Ok(_) => true,
        Err(e) => e.error_len().is_none() && head.len() - e.valid_up_to() < 4,
    }
}

/// Most lines and characters in a text preview.
pub const PREVIEW_LINES: usize = 10;
pub const PREVIEW_CHARS: usize = 1000;

/// The first lines of a text file, from its first bytes.
pub fn text_preview(head: &[u8]) -> Option<String> {
    let valid = match std::str::from_utf8(head) {
        Ok(s) => s,
        Err(e) => std::str::from_utf8(&head[..e.valid_up_to()]).ok()?,
    };
    let mut out = String::new();
    for (i, line) in valid.lines().enumerate() {
        if i == PREVIEW_LINES {
            break;
        }
        if i > 0 {
            out.push('\n');
        }
        out.push_str(line);
    }
    let out: String = out.chars().take(PREVIEW_CHARS).collect();
    Some(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn sniffs_from_bytes() {
        let png = [0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13];
        assert_eq!(content_type(&png), "image/png");
        assert_eq!(content_type(b"%PDF-1.7\n"), "application/pdf");
        assert_eq!(content_type(b"  <svg xmlns='x'>"), "image/svg+xml");
        assert_eq!(
            content_type(b"<?xml version='1.0'?>\n<svg>"),
            "image/svg+xml"
        );
        assert_eq!(content_type(b"<!DOCTYPE html><p>"), "text/html");
        assert_eq!(content_type(b"<script>alert(1)</script>"), "text/html");
        assert_eq!(content_type("hello 你好\n".as_bytes()), "text/plain");
        assert_eq!(
            content_type(&[0, 1, 2, 3, 0xff]),
            "application/octet-stream"
        );
        // A multi-byte character cut at the end of the sniffed head is still text.
        let cut = &"你好".as_bytes()[..4];
        assert_eq!(content_type(cut), "text/plain");
    }

    #[test]
    fn active_types_are_flagged() {
        for t in [
            "text/html",
            "image/svg+xml",
            "application/javascript",
            "text/xml",
        ] {
            assert!(is_active(t), "{t}");
        }
        for t in ["image/png", "text/plain", "application/pdf"] {
            assert!(!is_active(t), "{t}");
        }
    }

    #[test]
    fn text_preview_takes_first_lines() {
        let text: String = (1..=20).map(|i| format!("line {i}\n")).collect();
        let p = text_preview(text.as_bytes()).unwrap();
        assert_eq!(p.lines().count(), PREVIEW_LINES);
        assert!(p.starts_with("line 1\nline 2"));
    }
}
