//! The service label of the metrics (prometheus::label_value) on any
//! bytes: one quoted line of valid UTF-8 with only the text format's
//! escapes, from which the name comes back exactly (so no two services
//! share a series).
#![no_main]

use daemontools::prometheus::label_value;
use daemontools::record::unescape;

libfuzzer_sys::fuzz_target!(|name: &[u8]| {
    let mut label = String::new();
    label_value(name, &mut label);
    assert!(!label.contains('\n'));
    let inner = &label[1..label.len() - 1];
    let mut text = String::new();
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some('\\') => text.push('\\'),
                Some('"') => text.push('"'),
                other => panic!("escape {other:?} in {label}"),
            },
            '"' => panic!("bare quote in {label}"),
            c => text.push(c),
        }
    }
    assert_eq!(unescape(&text).as_deref(), Some(name));
});
