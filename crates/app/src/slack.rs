//! Slack's JSON message payloads (`text`, legacy `attachments`, Block Kit `blocks`) read into
//! the core's [`Payload`], for every place that takes them: incoming webhooks, slash-command
//! answers and their `response_url` follow-ups. Unknown keys are ignored (as Slack does);
//! unknown block types are refused.

use enclave_core::webhooks::{
    Attachment, Block, Button, ContextElement, Field, HookError, Payload, Text,
};
use serde_json::Value;

fn s(v: &Value, k: &str) -> Result<String, HookError> {
    match v.get(k) {
        None | Some(Value::Null) => Ok(String::new()),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(Value::Number(n)) => Ok(n.to_string()),
        Some(Value::Bool(b)) => Ok(b.to_string()),
        _ => Err(HookError::InvalidPayload),
    }
}

fn arr<'a>(v: &'a Value, k: &str) -> Result<&'a [Value], HookError> {
    match v.get(k) {
        None | Some(Value::Null) => Ok(&[]),
        Some(Value::Array(a)) => Ok(a),
        _ => Err(HookError::InvalidPayload),
    }
}

fn text_obj(v: &Value) -> Result<Text, HookError> {
    match v {
        Value::String(s) => Ok(Text {
            mrkdwn: true,
            text: s.clone(),
        }),
        Value::Object(_) => Ok(Text {
            mrkdwn: s(v, "type")? == "mrkdwn",
            text: s(v, "text")?,
        }),
        _ => Err(HookError::InvalidPayload),
    }
}

/// Slack's JSON as a [`Payload`].
pub fn payload_of(v: &Value) -> Result<Payload, HookError> {
    if !v.is_object() {
        return Err(HookError::InvalidPayload);
    }
    let mut p = Payload {
        text: s(v, "text")?,
        mrkdwn: v.get("mrkdwn").and_then(Value::as_bool).unwrap_or(true),
        ..Payload::default()
    };
    for a in arr(v, "attachments")? {
        if !a.is_object() {
            return Err(HookError::InvalidPayload);
        }
        let mut fields = Vec::new();
        for f in arr(a, "fields")? {
            fields.push(Field {
                title: s(f, "title")?,
                value: s(f, "value")?,
                short: f.get("short").and_then(Value::as_bool).unwrap_or(false),
            });
        }
        p.attachments.push(Attachment {
            fallback: s(a, "fallback")?,
            color: s(a, "color")?,
            pretext: s(a, "pretext")?,
            author_name: s(a, "author_name")?,
            author_link: s(a, "author_link")?,
            title: s(a, "title")?,
            title_link: s(a, "title_link")?,
            text: s(a, "text")?,
            fields,
            footer: s(a, "footer")?,
            image_url: s(a, "image_url")?,
            thumb_url: s(a, "thumb_url")?,
            ts: a.get("ts").and_then(|t| {
                t.as_i64()
                    .or_else(|| t.as_str()?.split('.').next()?.parse().ok())
            }),
        });
    }
    for b in arr(v, "blocks")? {
        let block = match s(b, "type")?.as_str() {
            "section" => Block::Section {
                text: b.get("text").map(text_obj).transpose()?,
                fields: arr(b, "fields")?
                    .iter()
                    .map(text_obj)
                    .collect::<Result<_, _>>()?,
            },
            "header" => Block::Header {
                text: b
                    .get("text")
                    .map(text_obj)
                    .transpose()?
                    .unwrap_or_default()
                    .text,
            },
            "divider" => Block::Divider,
            "context" => Block::Context {
                elements: arr(b, "elements")?
                    .iter()
                    .map(|e| {
                        if s(e, "type")? == "image" {
                            Ok(ContextElement::Image {
                                url: s(e, "image_url")?,
                                alt: s(e, "alt_text")?,
                            })
                        } else {
                            text_obj(e).map(ContextElement::Text)
                        }
                    })
                    .collect::<Result<_, _>>()?,
            },
            "image" => Block::Image {
                url: s(b, "image_url")?,
                alt: s(b, "alt_text")?,
                title: b
                    .get("title")
                    .map(text_obj)
                    .transpose()?
                    .unwrap_or_default()
                    .text,
            },
            "actions" => Block::Actions {
                buttons: arr(b, "elements")?
                    .iter()
                    .filter(|e| e.get("type").and_then(Value::as_str) == Some("button"))
                    .map(|e| {
                        Ok(Button {
                            text: e
                                .get("text")
                                .map(text_obj)
                                .transpose()?
                                .unwrap_or_default()
                                .text,
                            url: s(e, "url")?,
                            value: s(e, "value")?,
                            action_id: s(e, "action_id")?,
                            style: s(e, "style")?,
                        })
                    })
                    .collect::<Result<_, HookError>>()?,
            },
            _ => return Err(HookError::InvalidPayload),
        };
        p.blocks.push(block);
    }
    Ok(p)
}
