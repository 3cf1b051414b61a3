//! The `filters` query parameter: `{"key":{"value":true}}` or the old `{"key":["value"]}`.

use std::collections::BTreeMap;

/// Parsed filters: key → values. Both encodings clients send decode to this.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filters(pub BTreeMap<String, Vec<String>>);

impl Filters {
    /// Parses the JSON text of a `filters` parameter; empty text is no filter.
    pub fn parse(text: &str) -> Result<Filters, crate::ApiError> {
        let text = text.trim();
        if text.is_empty() {
            return Ok(Filters::default());
        }
        let value: serde_json::Value = serde_json::from_str(text)
            .map_err(|e| crate::ApiError::invalid(format!("invalid filter: {e}")))?;
        let obj = match value {
            serde_json::Value::Object(o) => o,
            serde_json::Value::Null => return Ok(Filters::default()),
            _ => {
                return Err(crate::ApiError::invalid(
                    "invalid filter: expected an object",
                ))
            }
        };
        let mut out = BTreeMap::new();
        for (key, v) in obj {
            let vals: Vec<String> = match v {
                serde_json::Value::Object(m) => m
                    .into_iter()
                    .filter(|(_, b)| b.as_bool().unwrap_or(true))
                    .map(|(k, _)| k)
                    .collect(),
                serde_json::Value::Array(a) => a
                    .into_iter()
                    .filter_map(|x| x.as_str().map(str::to_string))
                    .collect(),
                serde_json::Value::String(s) => vec![s],
                _ => return Err(crate::ApiError::invalid(format!("invalid filter '{key}'"))),
            };
            out.insert(key, vals);
        }
        Ok(Filters(out))
    }

    /// The values given for a key (empty when absent).
    /// Go's `filters.Args.Match`: true when `key` has no values, when a value equals
    /// `source`, or when a value, read as a regular expression, matches part of it (so
    /// `name=^web$`, `name=w.b` and `id=c0ffee` in the middle of an ID all work).
    pub fn matches(&self, key: &str, source: &str) -> bool {
        self.matcher(key).matches(source)
    }

    /// [`Filters::matches`] with the expressions compiled once, for matching many rows.
    pub fn matcher(&self, key: &str) -> Matcher {
        Matcher(
            self.get(key)
                .iter()
                .map(|v| (v.clone(), regex::Regex::new(v).ok()))
                .collect(),
        )
    }

    pub fn get(&self, key: &str) -> &[String] {
        self.0.get(key).map(Vec::as_slice).unwrap_or(&[])
    }

    pub fn contains(&self, key: &str) -> bool {
        self.0.contains_key(key)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Rejects keys the endpoint does not know, with Docker's message.
    pub fn validate(&self, allowed: &[&str]) -> Result<(), crate::ApiError> {
        for key in self.0.keys() {
            if !allowed.contains(&key.as_str()) {
                return Err(crate::ApiError::invalid(format!("invalid filter '{key}'")));
            }
        }
        Ok(())
    }

    /// Encodes as the modern JSON form, for clients.
    pub fn to_json(&self) -> String {
        let mut obj = serde_json::Map::new();
        for (k, vals) in &self.0 {
            let mut m = serde_json::Map::new();
            for v in vals {
                m.insert(v.clone(), serde_json::Value::Bool(true));
            }
            obj.insert(k.clone(), serde_json::Value::Object(m));
        }
        serde_json::Value::Object(obj).to_string()
    }

    /// Adds a `key=value` pair as the CLI's `--filter` gives it.
    pub fn add_cli(&mut self, arg: &str) -> Result<(), String> {
        let (k, v) = arg
            .split_once('=')
            .ok_or_else(|| "bad format of filter (expected name=value)".to_string())?;
        self.0
            .entry(k.trim().to_lowercase())
            .or_default()
            .push(v.to_string());
        Ok(())
    }
}

/// The values of one filter key, each with its compiled expression (if it is one).
pub struct Matcher(Vec<(String, Option<regex::Regex>)>);

impl Matcher {
    /// True with no values, or when a value equals `source` or matches part of it.
    pub fn matches(&self, source: &str) -> bool {
        self.0.is_empty()
            || self
                .0
                .iter()
                .any(|(v, re)| v == source || re.as_ref().is_some_and(|r| r.is_match(source)))
    }
}

/// Matches a `label` filter value (`key` or `key=value`) against labels.
pub fn label_matches(filter: &str, labels: &std::collections::BTreeMap<String, String>) -> bool {
    match filter.split_once('=') {
        Some((k, v)) => labels.get(k).map(|x| x == v).unwrap_or(false),
        None => labels.contains_key(filter),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_encodings() {
        let a = Filters::parse(r#"{"label":{"a=b":true,"c":true}}"#).unwrap();
        assert_eq!(a.get("label"), ["a=b", "c"]);
        let b = Filters::parse(r#"{"status":["running"]}"#).unwrap();
        assert_eq!(b.get("status"), ["running"]);
        assert!(Filters::parse("[1]").is_err());
        assert!(Filters::parse("").unwrap().is_empty());
        let mut labels = std::collections::BTreeMap::new();
        labels.insert("a".to_string(), "b".to_string());
        assert!(label_matches("a", &labels) && label_matches("a=b", &labels));
        assert!(!label_matches("a=c", &labels) && !label_matches("x", &labels));
    }
}
