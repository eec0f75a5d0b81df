//! Whole-document inputs for vendor formats: a file holding one JSON array (the Okta System Log
//! API, `jq -s` output), or one object whose records sit in an array under `Records`
//! (CloudTrail's S3 files), `records` (Azure Monitor diagnostic exports), `value` (a Microsoft
//! Graph page) or `items` (a Google Reports API page), rather than JSON lines.
//!
//! [`is_document`] decides from the first bytes; [`for_each_record`] then hands each element of
//! the array to its caller without building a tree of the whole file: elements are borrowed raw
//! JSON slices, decoded one by one like lines.

use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;

use super::{RejectKind, Rejection};

/// The keys under which vendors put their record arrays.
const ARRAY_KEYS: [&[u8]; 4] = [b"Records", b"records", b"value", b"items"];

/// True when the start of an input (`head`: its first bytes, a few KiB are plenty) shows a whole
/// JSON document rather than JSON lines: the first non-whitespace byte is `[`, or the input opens
/// an object whose first key is `Records`, `records`, `value` or `items` holding an array
/// (Graph's `@odata.*` annotations, and a Google page's `kind` and `etag`, may come before it). A JSON-lines record of any supported format opens
/// with a field of its own, so it never matches.
pub fn is_document(head: &[u8]) -> bool {
    let mut i = skip_ws(head, 0);
    match head.get(i) {
        Some(b'[') => return true,
        Some(b'{') => i += 1,
        _ => return false,
    }
    loop {
        i = skip_ws(head, i);
        let Some(key_end) = string_end(head, i) else {
            return false;
        };
        let key = &head[i + 1..key_end - 1];
        i = skip_ws(head, key_end);
        if head.get(i) != Some(&b':') {
            return false;
        }
        i = skip_ws(head, i + 1);
        match head.get(i) {
            Some(b'[') => return ARRAY_KEYS.contains(&key),
            // Graph pages may open with `@odata.context` and friends before `value`.
            Some(b'"') if key.starts_with(b"@odata.") || key == b"kind" || key == b"etag" => {
                let Some(end) = string_end(head, i) else {
                    return false;
                };
                i = skip_ws(head, end);
                if head.get(i) != Some(&b',') {
                    return false;
                }
                i += 1;
            }
            _ => return false,
        }
    }
}

fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while b.get(i).is_some_and(|c| c.is_ascii_whitespace()) {
        i += 1;
    }
    i
}

/// The index just past the JSON string starting at `b[i]` (which must be `"`).
fn string_end(b: &[u8], i: usize) -> Option<usize> {
    if b.get(i) != Some(&b'"') {
        return None;
    }
    let mut j = i + 1;
    while let Some(&c) = b.get(j) {
        match c {
            b'\\' => j += 2,
            b'"' => return Some(j + 1),
            _ => j += 1,
        }
    }
    None
}

/// Calls `f` with each record of a whole document: its 0-based index in the array and its raw
/// JSON bytes. Fails, after the records before the fault were delivered, if the document is not
/// JSON, or is an object without a `Records` / `records` / `value` array.
pub fn for_each_record(doc: &[u8], f: &mut dyn FnMut(u64, &[u8])) -> Result<(), super::Rejection> {
    let mut de = serde_json::Deserializer::from_slice(doc);
    let mut seen_array = false;
    Document {
        f,
        seen_array: &mut seen_array,
    }
    .deserialize(&mut de)
    .and_then(|()| de.end())
    .map_err(|e| {
        let kind = match e.classify() {
            serde_json::error::Category::Io => RejectKind::Io,
            serde_json::error::Category::Data => RejectKind::WrongType,
            _ => RejectKind::NotJson,
        };
        Rejection::new(kind, format!("document: {e}"))
    })?;
    if seen_array {
        Ok(())
    } else {
        Err(Rejection::new(
            RejectKind::MissingField,
            "document: an object without a `Records`, `records` or `value` array",
        ))
    }
}

/// The document root: an array of records, or an object holding one.
struct Document<'f, 'g> {
    f: &'f mut (dyn FnMut(u64, &[u8]) + 'g),
    seen_array: &'f mut bool,
}

impl<'de> DeserializeSeed<'de> for Document<'_, '_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Document<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON array of records or an object with a records array")
    }

    fn visit_seq<S: SeqAccess<'de>>(self, seq: S) -> Result<(), S::Error> {
        *self.seen_array = true;
        visit_records(self.f, seq)
    }

    fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<(), M::Error> {
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            if ARRAY_KEYS.contains(&key.as_bytes()) && !*self.seen_array {
                *self.seen_array = true;
                map.next_value_seed(RecordArray(&mut *self.f))?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(())
    }
}

/// The array under a records key.
struct RecordArray<'f, 'g>(&'f mut (dyn FnMut(u64, &[u8]) + 'g));

impl<'de> DeserializeSeed<'de> for RecordArray<'_, '_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for RecordArray<'_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an array of records")
    }
    fn visit_seq<S: SeqAccess<'de>>(self, seq: S) -> Result<(), S::Error> {
        visit_records(self.0, seq)
    }
}

fn visit_records<'de, S: SeqAccess<'de>>(
    f: &mut dyn FnMut(u64, &[u8]),
    mut seq: S,
) -> Result<(), S::Error> {
    let mut index = 0u64;
    while let Some(raw) = seq.next_element::<&'de RawValue>()? {
        f(index, raw.get().as_bytes());
        index += 1;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn records(doc: &str) -> Result<Vec<(u64, String)>, Rejection> {
        let mut v = Vec::new();
        for_each_record(doc.as_bytes(), &mut |i, b| {
            v.push((i, String::from_utf8(b.to_vec()).unwrap()))
        })?;
        Ok(v)
    }

    #[test]
    fn recognises_vendor_documents() {
        assert!(is_document(b"  \n[{\"a\":1}]"));
        assert!(is_document(b"{\"Records\": [ {\"eventVersion\":\"1.08\""));
        assert!(is_document(b"{\n  \"records\": [\n"));
        assert!(is_document(
            b"{\"@odata.context\":\"https://graph.microsoft.com/v1.0/$metadata#auditLogs/signIns\",\"value\":["
        ));
        // A Google Reports API page.
        assert!(is_document(
            b"{\n  \"kind\": \"admin#reports#activities\",\n  \"etag\": \"\\\"x\\\"\",\n  \"items\": ["
        ));
        // A Google activity on one line is a record, not a document.
        assert!(!is_document(
            b"{\"kind\":\"admin#reports#activity\",\"id\":{\"time\":\"2025-11-12T07:58:51Z\"}}"
        ));
    }

    #[test]
    fn json_lines_are_not_documents() {
        assert!(!is_document(
            b"{\"ts\":\"2025-11-10T23:31:02Z\",\"type\":\"login\"}\n{"
        ));
        assert!(!is_document(b"{\"records\":3}\n"));
        assert!(!is_document(
            b"{\"event\":{\"category\":[\"authentication\"]}}"
        ));
        assert!(!is_document(
            b"{\"eventType\":\"user.session.start\",\"value\":[1]}"
        ));
        assert!(!is_document(b""));
    }

    #[test]
    fn streams_elements_of_arrays_and_wrappers() {
        let v = records(r#"[{"a":1}, {"b":"x\"y"}]"#).unwrap();
        assert_eq!(v, [(0, r#"{"a":1}"#.into()), (1, r#"{"b":"x\"y"}"#.into())]);
        let v = records(r#"{"@odata.context":"x","value":[{"id":"1"}],"@odata.nextLink":"y"}"#)
            .unwrap();
        assert_eq!(v, [(0, r#"{"id":"1"}"#.into())]);
        let v = records("{\"Records\":[]}").unwrap();
        assert!(v.is_empty());
    }

    #[test]
    fn broken_documents_are_rejected_after_the_good_records() {
        let mut seen = 0;
        let r = for_each_record(br#"[{"a":1},{"b":"#, &mut |_, _| seen += 1);
        assert_eq!(seen, 1);
        assert_eq!(r.unwrap_err().kind, RejectKind::NotJson);
        let r = for_each_record(br#"{"entries":[]}"#, &mut |_, _| {});
        assert_eq!(r.unwrap_err().kind, RejectKind::MissingField);
    }
}
