//! Output formatting: Go-template `--format`, tabwriter tables, human units, JSON.

pub mod human;
pub mod table;
pub mod template;

use serde_json::Value;
use template::Template;

/// How a listing command prints its rows, chosen from `--format`.
pub enum Format {
    /// docker's default table with its default template.
    Table(Template),
    /// A user template (no header).
    Raw(Template),
    /// `--format json`: one JSON object per line.
    Json,
}

impl Format {
    /// Interprets a `--format` value the way docker's formatter does: `table`,
    /// `table <tmpl>`, `json`, or a raw template. `default` is the default table template.
    pub fn parse(fmt: Option<&str>, default: &str) -> Result<Format, String> {
        let fmt = fmt.unwrap_or("").trim_start();
        let default = default.strip_prefix("table ").unwrap_or(default);
        let (is_table, tmpl) = if fmt.is_empty() || fmt == "table" {
            (true, default.to_string())
        } else if fmt == "json" {
            return Ok(Format::Json);
        } else if let Some(t) = fmt.strip_prefix("table ") {
            (true, t.to_string())
        } else {
            (false, fmt.to_string())
        };
        let tmpl = unescape(&tmpl);
        let t = Template::parse(&tmpl)?;
        Ok(if is_table {
            Format::Table(t)
        } else {
            Format::Raw(t)
        })
    }

    /// Renders rows (already-built docker "contexts") and the header row.
    pub fn render(&self, rows: &[Value], header: &Value) -> Result<String, String> {
        match self {
            Format::Json => Ok(rows
                .iter()
                .map(|r| format!("{}\n", template::go_json(&template::public_view(r))))
                .collect()),
            Format::Raw(t) => {
                let mut out = String::new();
                for r in rows {
                    out.push_str(&t.execute(r, true)?);
                    out.push('\n');
                }
                Ok(out)
            }
            Format::Table(t) => {
                let mut out = t.execute(header, false)?;
                out.push('\n');
                for r in rows {
                    out.push_str(&t.execute(r, true)?);
                    out.push('\n');
                }
                Ok(table::align(&out))
            }
        }
    }
}

/// Renders rows with the user's `--format` (or `default`) and prints them: what every
/// listing command ends with. A template error is exit 1, as docker's.
pub fn print_rows(
    fmt: Option<&str>,
    default: &str,
    rows: &[Value],
    header: &Value,
) -> Result<(), super::Fail> {
    let f = Format::parse(fmt, default).map_err(|e| super::Fail::new(e, 1))?;
    print!(
        "{}",
        f.render(rows, header).map_err(|e| super::Fail::new(e, 1))?
    );
    Ok(())
}

/// docker lets users write `\t` and `\n` literally in `--format`.
fn unescape(s: &str) -> String {
    s.replace("\\t", "\t").replace("\\n", "\n")
}

/// Go's `json.Indent` with docker's 4-space indent, keeping the daemon's key order.
pub fn indent_json(raw: &str) -> String {
    let mut out = String::new();
    let mut depth = 0usize;
    let mut in_str = false;
    let mut esc = false;
    let mut chars = raw.chars().peekable();
    let nl = |out: &mut String, d: usize| {
        out.push('\n');
        out.push_str(&"    ".repeat(d));
    };
    while let Some(c) = chars.next() {
        if in_str {
            out.push(c);
            if esc {
                esc = false;
            } else if c == '\\' {
                esc = true;
            } else if c == '"' {
                in_str = false;
            }
            continue;
        }
        match c {
            '"' => {
                in_str = true;
                out.push(c);
            }
            '{' | '[' => {
                out.push(c);
                while chars.peek().is_some_and(|c| c.is_whitespace()) {
                    chars.next();
                }
                if matches!(chars.peek(), Some('}') | Some(']')) {
                    out.push(chars.next().unwrap_or(' '));
                } else {
                    depth += 1;
                    nl(&mut out, depth);
                }
            }
            '}' | ']' => {
                depth = depth.saturating_sub(1);
                nl(&mut out, depth);
                out.push(c);
            }
            ',' => {
                out.push(c);
                nl(&mut out, depth);
            }
            ':' => out.push_str(": "),
            c if c.is_whitespace() => {}
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn indents_like_go() {
        assert_eq!(
            indent_json(r#"[{"b":1,"a":[],"c":{"x":"y, z"},"d":{}}]"#),
            "[\n    {\n        \"b\": 1,\n        \"a\": [],\n        \"c\": {\n            \"x\": \"y, z\"\n        },\n        \"d\": {}\n    }\n]"
        );
    }

    #[test]
    fn table_format() {
        let f = Format::parse(None, "table {{.ID}}\t{{.Name}}").unwrap();
        let out = f
            .render(
                &[json!({"ID":"abc","Name":"n"})],
                &json!({"ID":"ID","Name":"NAME"}),
            )
            .unwrap();
        assert_eq!(out, "ID        NAME\nabc       n\n");
        let f = Format::parse(Some("{{.ID}}:{{.Name}}"), "").unwrap();
        assert_eq!(
            f.render(&[json!({"ID":"a","Name":"b"})], &json!({}))
                .unwrap(),
            "a:b\n"
        );
        let f = Format::parse(Some("table {{.ID}}\\t{{.Name}}"), "").unwrap();
        assert_eq!(
            f.render(
                &[json!({"ID":"a","Name":"b"})],
                &json!({"ID":"X","Name":"Y"})
            )
            .unwrap(),
            "X         Y\na         b\n"
        );
        assert!(matches!(
            Format::parse(Some("json"), "").unwrap(),
            Format::Json
        ));
    }
}
