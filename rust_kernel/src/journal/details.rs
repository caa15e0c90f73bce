//! Details and metadata as the journal's JSON text: details are read back from a row
//! buffer, metadata is rendered when its row is recorded.

use super::*;

/// Details in a row buffer: `u32 length` of what follows, then `varint(count)` and per entry
/// the key as a string, a tag byte and the value.
#[derive(Clone, Copy, Debug)]
pub struct DetailsRef<'a>(pub(super) &'a [u8]);

impl DetailsRef<'_> {
    /// The details as the journal's JSON text.
    pub fn to_json(&self) -> String {
        let mut out = String::with_capacity(64);
        self.write_json(&mut out);
        out
    }

    /// Appends [`DetailsRef::to_json`] to `out`.
    pub fn write_json(&self, out: &mut String) {
        let mut b = self.0;
        let n = read_varint(&mut b);
        write_details_json(
            out,
            (0..n).map(move |_| {
                let key = read_str(&mut b);
                let tag = read_bytes(&mut b, 1)[0];
                let value = match tag {
                    0 => DetailRef::Str(read_str(&mut b)),
                    1 => DetailRef::F64(f64::from_le_bytes(read_array(&mut b))),
                    2 => DetailRef::I64(i64::from_le_bytes(read_array(&mut b))),
                    _ => DetailRef::Bool(read_bytes(&mut b, 1)[0] != 0),
                };
                (key, value)
            }),
        );
    }
}

/// Metadata (an intent's, a venue event's) as the journal's JSON text; `{}` without a copy
/// for none (most).
pub(super) fn metadata_text(meta: &Metadata) -> std::borrow::Cow<'static, str> {
    if meta.is_empty() {
        "{}".into()
    } else {
        metadata_json(meta).into()
    }
}
