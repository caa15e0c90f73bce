//! The row writer against a reference that appends each value with `Vec`'s checked writes
//! (written here on its own: `put_str` and `put_varint` are the writer too):
//! random rows of every kind of value (short and long strings, non-ASCII, details with long
//! values) into buffers with random contents and spare capacity, including none at all. The
//! writer's unchecked stores must give the same bytes, and the same length, every time.

use super::*;
use proptest::prelude::*;

/// Detail keys are program text: short, empty, non-ASCII and past the short-string copy.
const KEYS: [&str; 4] = [
    "qty",
    "",
    "é-key",
    "a_detail_key_longer_than_thirty_two_bytes",
];

#[derive(Clone, Debug)]
enum Value {
    Code(u8),
    F64(f64),
    I64(i64),
    Opt(Option<f64>),
    Str(String),
    Details(Vec<(usize, Detail)>),
}

fn text() -> impl Strategy<Value = String> {
    prop_oneof!["[a-z0-9-]{0,40}", "[a-zé€]{0,12}", "[a-zé€]{30,200}",]
}

fn detail() -> impl Strategy<Value = Detail> {
    prop_oneof![
        text().prop_map(Detail::Str),
        text().prop_map(|s| Detail::Id(id(&s))),
        Just(Detail::Static("stale")),
        any::<f64>().prop_map(Detail::F64),
        any::<i64>().prop_map(Detail::I64),
        any::<bool>().prop_map(Detail::Bool),
    ]
}

fn value() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<u8>().prop_map(Value::Code),
        any::<f64>().prop_map(Value::F64),
        any::<i64>().prop_map(Value::I64),
        any::<Option<f64>>().prop_map(Value::Opt),
        text().prop_map(Value::Str),
        prop::collection::vec((0..KEYS.len(), detail()), 0..6).prop_map(Value::Details),
    ]
}

fn write(row: &mut RowWriter, v: &Value) {
    match v {
        Value::Code(c) => row.code(*c),
        Value::F64(x) => row.f64(*x),
        Value::I64(x) => row.i64(*x),
        Value::Opt(x) => row.opt_f64(*x),
        Value::Str(s) => row.str(s),
        Value::Details(d) => {
            let d: Details = d.iter().map(|(k, v)| (KEYS[*k], v.clone())).collect();
            row.details(&d)
        }
    };
}

fn ref_varint(out: &mut Vec<u8>, mut n: u64) {
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

fn ref_str(out: &mut Vec<u8>, s: &str) {
    ref_varint(out, s.len() as u64);
    out.extend_from_slice(s.as_bytes());
}

/// What the writer must append for `v`: the row format of the module documentation.
fn reference(out: &mut Vec<u8>, v: &Value) {
    match v {
        Value::Code(c) => out.push(*c),
        Value::F64(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::I64(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::Opt(x) => {
            out.push(u8::from(x.is_some()));
            out.extend_from_slice(&x.unwrap_or(0.0).to_le_bytes());
        }
        Value::Str(s) => ref_str(out, s),
        Value::Details(d) => {
            let mut blob = Vec::new();
            ref_varint(&mut blob, d.len() as u64);
            for (k, v) in d {
                ref_str(&mut blob, KEYS[*k]);
                match v.as_ref() {
                    DetailRef::Str(s) => {
                        blob.push(0);
                        ref_str(&mut blob, s);
                    }
                    DetailRef::F64(x) => {
                        blob.push(1);
                        blob.extend_from_slice(&x.to_le_bytes());
                    }
                    DetailRef::I64(x) => {
                        blob.push(2);
                        blob.extend_from_slice(&x.to_le_bytes());
                    }
                    DetailRef::Bool(x) => blob.extend_from_slice(&[3, u8::from(x)]),
                }
            }
            out.extend_from_slice(&(blob.len() as u32).to_le_bytes());
            out.extend_from_slice(&blob);
        }
    }
}

proptest! {
    #[test]
    fn the_writer_appends_what_checked_writes_would(
        before in prop::collection::vec(any::<u8>(), 0..80),
        spare in prop_oneof![Just(0usize), 0..(2 * SLACK), 0..600usize],
        rows in prop::collection::vec(prop::collection::vec(value(), 0..12), 1..5),
    ) {
        let mut bytes = Vec::with_capacity(before.len() + spare);
        bytes.extend_from_slice(&before);
        let mut want = before.clone();
        for row in &rows {
            let mut w = RowWriter::new(&mut bytes);
            for v in row {
                write(&mut w, v);
                reference(&mut want, v);
            }
        }
        prop_assert_eq!(bytes.len(), want.len());
        prop_assert_eq!(bytes, want);
    }
}
