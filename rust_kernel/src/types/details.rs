//! Named values: an intent's metadata, the details of a diagnostic or a transition, and
//! their JSON as journal rows hold it.

use super::Id;
use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::{Mutex, PoisonError};

/// A metadata value: the JSON scalars. Nested values are refused at the boundary.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum MetaValue {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
}

pub type Metadata = BTreeMap<String, MetaValue>;

/// A value in a diagnostic's or transition's details. Encoded (a pickled outcome's) as its
/// variant and value; a `Static` text reads back as a `Str`, which reads the same.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub enum Detail {
    Str(String),
    Id(Id),
    Static(&'static str),
    F64(f64),
    I64(i64),
    Bool(bool),
}

impl From<&'static str> for Detail {
    fn from(v: &'static str) -> Self {
        Detail::Static(v)
    }
}
impl From<String> for Detail {
    fn from(v: String) -> Self {
        Detail::Str(v)
    }
}
impl From<&Id> for Detail {
    fn from(v: &Id) -> Self {
        Detail::Id(v.clone())
    }
}
impl From<f64> for Detail {
    fn from(v: f64) -> Self {
        Detail::F64(v)
    }
}
impl From<i64> for Detail {
    fn from(v: i64) -> Self {
        Detail::I64(v)
    }
}
impl From<usize> for Detail {
    fn from(v: usize) -> Self {
        Detail::I64(v as i64)
    }
}
impl From<bool> for Detail {
    fn from(v: bool) -> Self {
        Detail::Bool(v)
    }
}

/// [`Detail`] as its encoding is read back, variant for variant.
#[derive(Deserialize)]
enum DetailRead {
    Str(String),
    Id(Id),
    Static(String),
    F64(f64),
    I64(i64),
    Bool(bool),
}

impl<'de> Deserialize<'de> for Detail {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(match DetailRead::deserialize(d)? {
            DetailRead::Str(s) | DetailRead::Static(s) => Detail::Str(s),
            DetailRead::Id(id) => Detail::Id(id),
            DetailRead::F64(v) => Detail::F64(v),
            DetailRead::I64(v) => Detail::I64(v),
            DetailRead::Bool(v) => Detail::Bool(v),
        })
    }
}

impl fmt::Display for Detail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Detail::Str(s) => f.write_str(s),
            Detail::Id(s) => f.write_str(s),
            Detail::Static(s) => f.write_str(s),
            Detail::F64(v) => write!(f, "{v}"),
            Detail::I64(v) => write!(f, "{v}"),
            Detail::Bool(v) => write!(f, "{v}"),
        }
    }
}

/// Ordered key/value details; small, so a Vec beats a map.
pub type Details = Vec<(&'static str, Detail)>;

/// The most distinct names [`read_name`] keeps: the kernel writes about a hundred.
const MAX_READ_NAMES: usize = 1024;

/// The names [`read_name`] has kept.
static READ_NAMES: Mutex<BTreeSet<&'static str>> = Mutex::new(BTreeSet::new());

/// `name`, read back from an encoding, as the `&'static str` a name in details is: each
/// distinct name is kept once for the process's life. None past `MAX_READ_NAMES` of them, which
/// no encoding the kernel made holds.
pub fn read_name(name: &str) -> Option<&'static str> {
    let mut names = READ_NAMES.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(kept) = names.get(name) {
        return Some(kept);
    }
    if names.len() >= MAX_READ_NAMES {
        return None;
    }
    let kept: &'static str = Box::leak(name.into());
    names.insert(kept);
    Some(kept)
}

/// Details read back from their encoding (`#[serde(deserialize_with)]`), names by [`read_name`].
pub fn read_details<'de, D: Deserializer<'de>>(d: D) -> Result<Details, D::Error> {
    Vec::<(String, Detail)>::deserialize(d)?
        .into_iter()
        .map(|(name, value)| {
            read_name(&name)
                .map(|name| (name, value))
                .ok_or_else(|| D::Error::custom("more detail names than the kernel writes"))
        })
        .collect()
}

/// A transition's details. The transitions of an order's life that carry some (its submit,
/// a fill, a cancel asked, its end, a refused cancel) keep theirs typed and inline, with
/// fixed names: a transition is moved into its outcome and dropped with it, named values
/// inline would double its size, and a list is an allocation. Any other transition's are a
/// list. Read as a list of named values ([`TransitionDetails::iter`]), in
/// the same order whatever the form.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub enum TransitionDetails {
    #[default]
    Empty,
    /// An order sent: `client_order_id`, `qty`.
    Submit { client_order_id: Id, qty: f64 },
    /// A fill: `fill_qty` at `fill_price`, taking its order to `filled_size` of `order_size`;
    /// and `fee_charged`, for a report booked in part, the fee charged of it.
    Fill {
        fill_qty: f64,
        fill_price: f64,
        filled_size: f64,
        order_size: f64,
        fee_charged: Option<f64>,
    },
    /// A cancel asked: `client_order_id`.
    Cancel { client_order_id: Id },
    /// An order ended (canceled, rejected, expired, rate limited): `filled_size` of
    /// `order_size`, and the venue's `reason` when it gave one.
    Ended {
        filled_size: f64,
        order_size: f64,
        reason: String,
    },
    /// Only a `reason`: a refused cancel's (the venue's words, given or not), an edge freeze's.
    Reason(Detail),
    /// Any other transition's.
    Named(#[serde(deserialize_with = "read_details")] Details),
}

impl TransitionDetails {
    pub fn len(&self) -> usize {
        match self {
            TransitionDetails::Empty => 0,
            TransitionDetails::Submit { .. } => 2,
            TransitionDetails::Fill { fee_charged, .. } => 4 + usize::from(fee_charged.is_some()),
            TransitionDetails::Cancel { .. } | TransitionDetails::Reason(_) => 1,
            TransitionDetails::Ended { reason, .. } => 2 + usize::from(!reason.is_empty()),
            TransitionDetails::Named(d) => d.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The `i`th named value.
    pub fn entry(&self, i: usize) -> Option<(&'static str, DetailRef<'_>)> {
        Some(match (self, i) {
            (
                TransitionDetails::Submit {
                    client_order_id, ..
                },
                0,
            ) => ("client_order_id", DetailRef::Str(client_order_id)),
            (TransitionDetails::Submit { qty, .. }, 1) => ("qty", DetailRef::F64(*qty)),
            (TransitionDetails::Fill { fill_qty, .. }, 0) => {
                ("fill_qty", DetailRef::F64(*fill_qty))
            }
            (TransitionDetails::Fill { fill_price, .. }, 1) => {
                ("fill_price", DetailRef::F64(*fill_price))
            }
            (TransitionDetails::Fill { filled_size, .. }, 2) => {
                ("filled_size", DetailRef::F64(*filled_size))
            }
            (TransitionDetails::Fill { order_size, .. }, 3) => {
                ("order_size", DetailRef::F64(*order_size))
            }
            (TransitionDetails::Fill { fee_charged, .. }, 4) => {
                ("fee_charged", DetailRef::F64((*fee_charged)?))
            }
            (
                TransitionDetails::Cancel {
                    client_order_id, ..
                },
                0,
            ) => ("client_order_id", DetailRef::Str(client_order_id)),
            (TransitionDetails::Ended { filled_size, .. }, 0) => {
                ("filled_size", DetailRef::F64(*filled_size))
            }
            (TransitionDetails::Ended { order_size, .. }, 1) => {
                ("order_size", DetailRef::F64(*order_size))
            }
            (TransitionDetails::Ended { reason, .. }, 2) if !reason.is_empty() => {
                ("reason", DetailRef::Str(reason))
            }
            (TransitionDetails::Reason(why), 0) => ("reason", why.as_ref()),
            (TransitionDetails::Named(d), i) => d.get(i).map(|(k, v)| (*k, v.as_ref()))?,
            _ => return None,
        })
    }

    /// The named values, in order.
    pub fn iter(&self) -> impl Iterator<Item = (&'static str, DetailRef<'_>)> + '_ {
        (0..self.len()).filter_map(|i| self.entry(i))
    }

    /// The value named `name`, if there is one.
    pub fn get(&self, name: &str) -> Option<DetailRef<'_>> {
        self.iter().find(|(k, _)| *k == name).map(|(_, v)| v)
    }
}

impl From<Details> for TransitionDetails {
    fn from(d: Details) -> Self {
        if d.is_empty() {
            TransitionDetails::Empty
        } else {
            TransitionDetails::Named(d)
        }
    }
}

/// A detail value by reference: what journal rows store and render.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum DetailRef<'a> {
    Str(&'a str),
    F64(f64),
    I64(i64),
    Bool(bool),
}

impl Detail {
    pub fn as_ref(&self) -> DetailRef<'_> {
        match self {
            Detail::Str(s) => DetailRef::Str(s),
            Detail::Id(s) => DetailRef::Str(s),
            Detail::Static(s) => DetailRef::Str(s),
            Detail::F64(x) => DetailRef::F64(*x),
            Detail::I64(x) => DetailRef::I64(*x),
            Detail::Bool(x) => DetailRef::Bool(*x),
        }
    }
}

/// Render details as a JSON object (journal rows); keys are identifiers, values escaped.
pub fn details_json(details: &[(&'static str, Detail)]) -> String {
    details_json_from(details.iter().map(|(k, v)| (*k, v.as_ref())))
}

/// [`details_json`] for details read back from a journal row.
pub fn details_json_from<'a>(details: impl Iterator<Item = (&'a str, DetailRef<'a>)>) -> String {
    let mut out = String::with_capacity(64);
    write_details_json(&mut out, details);
    out
}

/// Appends the JSON object of `details` to `out` (what [`details_json`] returns), without
/// allocating: the journal's writer renders one per transition row.
pub fn write_details_json<'a>(
    out: &mut String,
    details: impl Iterator<Item = (&'a str, DetailRef<'a>)>,
) {
    out.push('{');
    for (i, (k, v)) in details.enumerate() {
        if i > 0 {
            out.push(',');
        }
        json_string(out, k);
        out.push(':');
        match v {
            DetailRef::Str(s) => json_string(out, s),
            DetailRef::F64(x) => json_f64(out, x),
            DetailRef::I64(x) => write_display(out, x),
            DetailRef::Bool(x) => out.push_str(if x { "true" } else { "false" }),
        }
    }
    out.push('}');
}

fn write_display(out: &mut String, x: impl fmt::Display) {
    use std::fmt::Write;
    write!(out, "{x}").expect("writing to a String cannot fail");
}

/// A finite number as a JSON number; NaN and the infinities (only refused inputs carry them)
/// as strings, since JSON has no such numbers.
fn json_f64(out: &mut String, x: f64) {
    if x.is_finite() {
        write_display(out, x);
    } else {
        out.push('"');
        write_display(out, x);
        out.push('"');
    }
}

pub fn metadata_json(meta: &Metadata) -> String {
    let mut out = String::from("{");
    for (i, (k, v)) in meta.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        json_string(&mut out, k);
        out.push(':');
        match v {
            MetaValue::Null => out.push_str("null"),
            MetaValue::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            MetaValue::Int(x) => write_display(&mut out, x),
            MetaValue::Float(x) => json_f64(&mut out, *x),
            MetaValue::Str(s) => json_string(&mut out, s),
        }
    }
    out.push('}');
    out
}

fn json_string(out: &mut String, s: &str) {
    out.push('"');
    if !s.bytes().any(|b| b < 0x20 || b == b'"' || b == b'\\') {
        // Ids, keys and names: nothing to escape.
        out.push_str(s);
        out.push('"');
        return;
    }
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::id;

    #[test]
    fn details_render_as_json() {
        let d: Details = vec![
            ("field", "reference_price".into()),
            ("value", f64::NAN.into()),
            ("n", 3i64.into()),
        ];
        assert_eq!(
            details_json(&d),
            r#"{"field":"reference_price","value":"NaN","n":3}"#
        );
        let mut m = Metadata::new();
        m.insert("q\"".into(), MetaValue::Str("a\nb".into()));
        assert_eq!(metadata_json(&m), r#"{"q\"":"a\nb"}"#);
    }

    #[test]
    fn transition_details_read_as_named_values_in_order_whatever_their_form() {
        fn all(d: &TransitionDetails) -> Vec<(&'static str, DetailRef<'_>)> {
            d.iter().collect()
        }
        assert!(TransitionDetails::Empty.is_empty());
        assert_eq!(
            TransitionDetails::from(Details::new()),
            TransitionDetails::Empty
        );
        let submit = TransitionDetails::Submit {
            client_order_id: id("k-1"),
            qty: 0.5,
        };
        assert_eq!(
            all(&submit),
            [
                ("client_order_id", DetailRef::Str("k-1")),
                ("qty", DetailRef::F64(0.5))
            ]
        );
        let mut fill = TransitionDetails::Fill {
            fill_qty: 1.0,
            fill_price: 100.0,
            filled_size: 1.5,
            order_size: 2.0,
            fee_charged: None,
        };
        let names = |d: &TransitionDetails| d.iter().map(|(k, _)| k).collect::<Vec<_>>();
        assert_eq!(
            names(&fill),
            ["fill_qty", "fill_price", "filled_size", "order_size"]
        );
        assert_eq!(fill.get("fee_charged"), None);
        if let TransitionDetails::Fill { fee_charged, .. } = &mut fill {
            *fee_charged = Some(0.25);
        }
        assert_eq!(fill.len(), 5);
        assert_eq!(fill.get("fee_charged"), Some(DetailRef::F64(0.25)));
        assert_eq!(fill.get("filled_size"), Some(DetailRef::F64(1.5)));
        let cancel = TransitionDetails::Cancel {
            client_order_id: id("k-2"),
        };
        assert_eq!(all(&cancel), [("client_order_id", DetailRef::Str("k-2"))]);
        let mut ended = TransitionDetails::Ended {
            filled_size: 0.5,
            order_size: 2.0,
            reason: String::new(),
        };
        assert_eq!(
            all(&ended),
            [
                ("filled_size", DetailRef::F64(0.5)),
                ("order_size", DetailRef::F64(2.0))
            ]
        );
        if let TransitionDetails::Ended { reason, .. } = &mut ended {
            reason.push_str("expired");
        }
        assert_eq!(ended.len(), 3);
        assert_eq!(ended.get("reason"), Some(DetailRef::Str("expired")));
        let refused = TransitionDetails::Reason(Detail::Str(String::new()));
        assert_eq!(all(&refused), [("reason", DetailRef::Str(""))]);
        let named = TransitionDetails::from(vec![("reason", Detail::Static("stale"))]);
        assert_eq!(all(&named), [("reason", DetailRef::Str("stale"))]);
        assert_eq!(named.entry(1), None);
    }
}
