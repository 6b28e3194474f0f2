//! The porting guide names every public name of Paho 2.2 (docs/paho-names.txt), so a user porting a
//! script finds each one: either its counterpart or why there is none.

use std::collections::BTreeSet;

const GUIDE: &str = include_str!("../docs/porting-from-python.md");
const NAMES: &str = include_str!("../docs/paho-names.txt");

/// The identifiers the guide shows in code spans (`name`, `name(...)`, `Client.name`, `x.name = ...`).
fn names_in_code_spans(text: &str) -> BTreeSet<&str> {
    let mut found = BTreeSet::new();
    for (i, span) in text.split('`').enumerate() {
        if i % 2 == 0 {
            continue; // outside a code span
        }
        for word in span.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
            if !word.is_empty() {
                found.insert(word);
            }
        }
    }
    found
}

#[test]
fn every_paho_name_is_in_the_porting_guide() {
    let found = names_in_code_spans(GUIDE);
    let names: Vec<&str> = NAMES
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    assert!(names.len() > 200, "the list of names is cut short");
    let missing: Vec<&str> = names
        .iter()
        .copied()
        .filter(|full| {
            let last = full.rsplit('.').next().unwrap_or(full);
            !found.contains(last)
        })
        .collect();
    assert!(
        missing.is_empty(),
        "docs/porting-from-python.md does not name {} of Paho's names: {missing:#?}",
        missing.len()
    );
}
