//! The protocol document's examples, read back through the method types: every method has at
//! least one params and one result example in `docs/protocol.md`, each parses into its type and
//! serializes back to the same JSON, so the document and the code cannot drift apart.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;

use serde_json::Value;

use super::{METHODS, Method};

const DOCUMENT: &str = include_str!("../../docs/protocol.md");

/// The examples of the document: `(method, "params" | "result")` → the JSON texts, in the
/// document's order. A fence opens with ```` ```json rpc=<method> params ```` (or `result`).
fn examples(doc: &str) -> Result<BTreeMap<(String, String), Vec<String>>, String> {
    let mut found = BTreeMap::new();
    let mut lines = doc.lines().enumerate();
    while let Some((n, line)) = lines.next() {
        let Some(rest) = line.trim().strip_prefix("```json rpc=") else {
            continue;
        };
        let mut words = rest.split_whitespace();
        let (Some(method), Some(part), None) = (words.next(), words.next(), words.next()) else {
            return Err(format!(
                "line {}: expected ```json rpc=METHOD params|result",
                n + 1
            ));
        };
        if part != "params" && part != "result" {
            return Err(format!(
                "line {}: {part:?} is neither params nor result",
                n + 1
            ));
        }
        let mut body = String::new();
        loop {
            match lines.next() {
                Some((_, l)) if l.trim() == "```" => break,
                Some((_, l)) => {
                    body.push_str(l);
                    body.push('\n');
                }
                None => return Err(format!("line {}: the example never closes", n + 1)),
            }
        }
        found
            .entry((method.to_owned(), part.to_owned()))
            .or_insert_with(Vec::new)
            .push(body);
    }
    Ok(found)
}

/// Null fields and absent ones mean the same on the wire (an absent optional field is read as
/// null), so they compare equal.
fn without_nulls(v: Value) -> Value {
    match v {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k, without_nulls(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(without_nulls).collect()),
        other => other,
    }
}

fn same_json<T: serde::Serialize + serde::de::DeserializeOwned>(
    what: &str,
    text: &str,
) -> Result<(), String> {
    let example: Value =
        serde_json::from_str(text).map_err(|e| format!("{what}: not JSON: {e}"))?;
    let typed: T = serde_json::from_value(example.clone())
        .map_err(|e| format!("{what}: does not fit its type: {e}"))?;
    let back = serde_json::to_value(&typed).map_err(|e| format!("{what}: {e}"))?;
    if without_nulls(back.clone()) != without_nulls(example) {
        return Err(format!("{what}: the type writes it back as {back}"));
    }
    Ok(())
}

pub(super) fn round_trip<M: Method>(params: &[String], result: &[String]) -> Result<(), String> {
    for (n, text) in params.iter().enumerate() {
        same_json::<M>(&format!("{} params example {}", M::NAME, n + 1), text)?;
    }
    for (n, text) in result.iter().enumerate() {
        same_json::<M::Result>(&format!("{} result example {}", M::NAME, n + 1), text)?;
    }
    Ok(())
}

#[test]
fn every_method_has_examples_that_fit_its_types() {
    let examples = examples(DOCUMENT).unwrap();
    let mut failures = Vec::new();
    for &method in METHODS {
        let get = |part: &str| examples.get(&(method.to_owned(), part.to_owned()));
        match (get("params"), get("result")) {
            (Some(params), Some(result)) => {
                if let Err(e) = super::round_trip(method, params, result) {
                    failures.push(e);
                }
            }
            _ => failures.push(format!(
                "{method}: docs/protocol.md needs a ```json rpc={method} params and a result example"
            )),
        }
    }
    for (method, _) in examples.keys() {
        if !METHODS.contains(&method.as_str()) {
            failures.push(format!(
                "docs/protocol.md has examples of an unknown method {method}"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn a_wrong_example_is_caught() {
    // The check itself can fail: a misspelt field, a missing one, a wrong type.
    let view = r#"{"did":"did:ipid:k51x","ipns_name":"k51x","name":"A","cid":"b","seq":1,
        "document":{},"created":1,"updated":1}"#;
    let one = |text: &str| vec![text.to_owned()];
    type Get = super::identity::IdentityGet;
    assert!(round_trip::<Get>(&one(r#"{"did":"d"}"#), &one(view)).is_ok());
    assert!(round_trip::<Get>(&one(r#"{"dod":"d"}"#), &one(view)).is_err());
    assert!(round_trip::<Get>(&one(r#"{"did":"d"}"#), &one("{}")).is_err());
    assert!(round_trip::<Get>(&one(r#"{"did":1}"#), &one(view)).is_err());
    // Every example counts, not only the first.
    let two = vec![r#"{"did":"d"}"#.to_owned(), r#"{"did":2}"#.to_owned()];
    assert!(round_trip::<Get>(&two, &one(view)).is_err());
    let doc = "```json rpc=box.info params\n{}\n```\n```json rpc=box.info params\n{}\n```\n";
    assert_eq!(
        examples(doc).unwrap()[&("box.info".into(), "params".into())].len(),
        2
    );
    assert!(examples("```json rpc=box.info params\n{}\n").is_err());
}

#[test]
fn method_names_are_unique_and_limits_fit_the_body() {
    let mut names = METHODS.to_vec();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), METHODS.len());
    // Only the two methods that carry bundles or sealed keys need megabytes.
    assert_eq!(
        <super::backup::BackupPut as Method>::MAX_PARAMS_BYTES,
        super::BULK_PARAMS_BYTES
    );
    assert_eq!(
        <super::identity::IdentityCreate as Method>::MAX_PARAMS_BYTES,
        super::SMALL_PARAMS_BYTES
    );
    assert!(
        super::BULK_PARAMS_BYTES as u64 <= crate::config::Config::default().http.max_body_bytes
    );
}
