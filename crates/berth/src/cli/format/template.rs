//! A Go `text/template` subset evaluated over `serde_json::Value`, for `--format`.
//!
//! docker's `--format` is Go's text/template plus a few helpers (`json`, `join`,
//! `split`, `upper`, `lower`, `title`, `truncate`, `pad`). Users paste those templates
//! from docs and scripts, so the commonly used parts must behave the same: field
//! chains, variables, pipelines, parentheses, `if`/`else if`/`range`/`with`,
//! trim markers, Go's comparison and printing rules (`map[k:v]`, `[a b]`, `<no value>`).

use serde_json::{Map, Value};
use std::fmt::Write as _;

/// A parsed template.
#[derive(Debug, Clone)]
pub struct Template {
    nodes: Vec<Node>,
}

#[derive(Debug, Clone)]
enum Node {
    Text(String),
    Action(Pipeline),
    If(Pipeline, Vec<Node>, Vec<Node>),
    Range(Pipeline, Vec<Node>, Vec<Node>),
    With(Pipeline, Vec<Node>, Vec<Node>),
}

#[derive(Debug, Clone)]
struct Pipeline {
    decl: Vec<String>,
    cmds: Vec<Vec<Arg>>,
}

#[derive(Debug, Clone)]
enum Arg {
    /// `.A.B` (empty chain = `.`)
    Field(Vec<String>),
    /// `$x.A.B`
    Var(String, Vec<String>),
    Str(String),
    Num(f64),
    Bool(bool),
    Nil,
    Ident(String),
    /// `(pipeline).A.B`
    Sub(Box<Pipeline>, Vec<String>),
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Field(String),
    Var(String),
    Str(String),
    Num(f64),
    Ident(String),
    Pipe,
    LParen,
    RParen,
    Declare,
    Assign,
    Comma,
}

/// Splits a template into literal text and action token lists, applying trim markers.
fn split_actions(src: &str) -> Result<Vec<Result<String, Vec<Tok>>>, String> {
    let mut out: Vec<Result<String, Vec<Tok>>> = Vec::new();
    let mut rest = src;
    let mut trim_next = false;
    while let Some(i) = rest.find("{{") {
        let mut text = rest[..i].to_string();
        let after = &rest[i + 2..];
        let (after, trim_left) = match after
            .strip_prefix("- ")
            .or_else(|| after.strip_prefix("-\t"))
            .or_else(|| after.strip_prefix("-\n"))
        {
            Some(a) => (a, true),
            None => (after, false),
        };
        if trim_next {
            text = text.trim_start().to_string();
        }
        if trim_left {
            text = text.trim_end().to_string();
        }
        if !text.is_empty() {
            out.push(Ok(text));
        }
        let (toks, consumed, trim_right) = lex_action(after)?;
        out.push(Err(toks));
        rest = &after[consumed..];
        trim_next = trim_right;
    }
    let mut text = rest.to_string();
    if trim_next {
        text = text.trim_start().to_string();
    }
    if !text.is_empty() {
        out.push(Ok(text));
    }
    Ok(out)
}

/// Lexes one action up to its `}}`; returns tokens, bytes consumed and the right trim flag.
fn lex_action(s: &str) -> Result<(Vec<Tok>, usize, bool), String> {
    let b = s.as_bytes();
    let mut i = 0;
    let mut toks = Vec::new();
    // comments
    if s.starts_with("/*") {
        let end = s.find("*/").ok_or("unclosed comment")?;
        let rest = &s[end + 2..];
        let t = rest.trim_start();
        if let Some(r) = t.strip_prefix("-}}") {
            return Ok((toks, s.len() - r.len(), true));
        }
        if let Some(r) = t.strip_prefix("}}") {
            return Ok((toks, s.len() - r.len(), false));
        }
        return Err("comment ends before closing delimiter".into());
    }
    loop {
        while i < b.len() && (b[i] as char).is_whitespace() {
            if b[i..].starts_with(b" -}}")
                || b[i..].starts_with(b"\t-}}")
                || b[i..].starts_with(b"\n-}}")
            {
                return Ok((toks, i + 4, true));
            }
            i += 1;
        }
        if i >= b.len() {
            return Err("unclosed action".into());
        }
        if b[i..].starts_with(b"}}") {
            return Ok((toks, i + 2, false));
        }
        let c = b[i] as char;
        match c {
            '|' => {
                toks.push(Tok::Pipe);
                i += 1;
            }
            '(' => {
                toks.push(Tok::LParen);
                i += 1;
            }
            ')' => {
                toks.push(Tok::RParen);
                i += 1;
            }
            ',' => {
                toks.push(Tok::Comma);
                i += 1;
            }
            ':' if b.get(i + 1) == Some(&b'=') => {
                toks.push(Tok::Declare);
                i += 2;
            }
            '=' => {
                toks.push(Tok::Assign);
                i += 1;
            }
            '"' => {
                let mut j = i + 1;
                let mut v = String::new();
                loop {
                    let ch = s[j..].chars().next().ok_or("unterminated quoted string")?;
                    j += ch.len_utf8();
                    match ch {
                        '"' => break,
                        '\\' => {
                            let e = s[j..].chars().next().ok_or("unterminated quoted string")?;
                            j += e.len_utf8();
                            v.push(match e {
                                'n' => '\n',
                                't' => '\t',
                                'r' => '\r',
                                '0' => '\0',
                                other => other,
                            });
                        }
                        ch => v.push(ch),
                    }
                }
                toks.push(Tok::Str(v));
                i = j;
            }
            '`' => {
                let end = s[i + 1..]
                    .find('`')
                    .ok_or("unterminated raw quoted string")?;
                toks.push(Tok::Str(s[i + 1..i + 1 + end].to_string()));
                i += end + 2;
            }
            '.' | '$' => {
                let mut j = i + 1;
                while j < b.len() && (b[j].is_ascii_alphanumeric() || b[j] == b'_') {
                    j += 1;
                }
                let name = s[i + 1..j].to_string();
                let after_paren = i > 0 && b[i - 1] == b')';
                if c == '$' {
                    toks.push(Tok::Var(name));
                } else if after_paren {
                    toks.push(Tok::Field(format!("\u{1}{name}")));
                } else if name.is_empty() && b.get(j).is_some_and(|x| x.is_ascii_digit()) {
                    return Err("bad number syntax".into());
                } else {
                    toks.push(Tok::Field(name));
                }
                i = j;
                // chained fields: .A.B or $x.A
                while i < b.len()
                    && b[i] == b'.'
                    && b.get(i + 1)
                        .is_some_and(|x| x.is_ascii_alphabetic() || *x == b'_')
                {
                    let mut j = i + 1;
                    while j < b.len() && (b[j].is_ascii_alphanumeric() || b[j] == b'_') {
                        j += 1;
                    }
                    toks.push(Tok::Field(format!("\u{1}{}", &s[i + 1..j])));
                    i = j;
                }
            }
            c if c.is_ascii_digit()
                || ((c == '-' || c == '+') && b.get(i + 1).is_some_and(|x| x.is_ascii_digit())) =>
            {
                let mut j = i + 1;
                while j < b.len() && (b[j].is_ascii_alphanumeric() || b[j] == b'.') {
                    j += 1;
                }
                let t = &s[i..j];
                let n = t
                    .parse::<f64>()
                    .map_err(|_| format!("bad number syntax: {t:?}"))?;
                toks.push(Tok::Num(n));
                i = j;
            }
            c if c.is_alphabetic() || c == '_' => {
                let mut j = i;
                while j < b.len() && (b[j].is_ascii_alphanumeric() || b[j] == b'_') {
                    j += 1;
                }
                toks.push(Tok::Ident(s[i..j].to_string()));
                i = j;
            }
            other => return Err(format!("unexpected {other:?} in command")),
        }
    }
}

/// Marks a field token that followed another field/var/paren without a space, i.e. a
/// chain element. The lexer already pushes chains as consecutive Field tokens; we tell
/// chains from separate args by re-lexing positions, so keep it simple: a `Field`
/// directly after a `Var`/`RParen`/`Field` token that was produced by the chain loop is
/// encoded by `Chain` wrapping below.
struct Parser {
    toks: Vec<Tok>,
    chain: Vec<bool>,
    pos: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos)
    }

    fn pipeline(&mut self) -> Result<Pipeline, String> {
        let mut decl = Vec::new();
        // $x := ... or $k, $v := ...
        let save = self.pos;
        let mut vars = Vec::new();
        while let Some(Tok::Var(v)) = self.peek().cloned() {
            vars.push(v);
            self.pos += 1;
            match self.peek() {
                Some(Tok::Comma) => self.pos += 1,
                Some(Tok::Declare) | Some(Tok::Assign) => {
                    self.pos += 1;
                    decl = vars.clone();
                    break;
                }
                _ => {
                    self.pos = save;
                    break;
                }
            }
        }
        let mut cmds = Vec::new();
        let mut cur = Vec::new();
        loop {
            match self.peek().cloned() {
                None | Some(Tok::RParen) => break,
                Some(Tok::Pipe) => {
                    self.pos += 1;
                    if cur.is_empty() {
                        return Err("missing command".into());
                    }
                    cmds.push(std::mem::take(&mut cur));
                }
                Some(_) => cur.push(self.operand()?),
            }
        }
        if cur.is_empty() {
            return Err("missing value for command".into());
        }
        cmds.push(cur);
        Ok(Pipeline { decl, cmds })
    }

    fn chain_fields(&mut self) -> Vec<String> {
        let mut f = Vec::new();
        while let (Some(Tok::Field(n)), true) = (
            self.peek().cloned(),
            self.chain.get(self.pos).copied().unwrap_or(false),
        ) {
            f.push(n);
            self.pos += 1;
        }
        f
    }

    fn operand(&mut self) -> Result<Arg, String> {
        let t = self.peek().cloned().ok_or("unexpected end")?;
        self.pos += 1;
        Ok(match t {
            Tok::Field(n) => {
                let mut f = if n.is_empty() { vec![] } else { vec![n] };
                f.extend(self.chain_fields());
                Arg::Field(f)
            }
            Tok::Var(v) => {
                let f = self.chain_fields();
                Arg::Var(v, f)
            }
            Tok::Str(s) => Arg::Str(s),
            Tok::Num(n) => Arg::Num(n),
            Tok::Ident(i) => match i.as_str() {
                "true" => Arg::Bool(true),
                "false" => Arg::Bool(false),
                "nil" => Arg::Nil,
                _ => Arg::Ident(i),
            },
            Tok::LParen => {
                let p = self.pipeline()?;
                if self.peek() != Some(&Tok::RParen) {
                    return Err("unclosed left paren".into());
                }
                self.pos += 1;
                let f = self.chain_fields();
                Arg::Sub(Box::new(p), f)
            }
            other => return Err(format!("unexpected {other:?} in operand")),
        })
    }
}

/// Re-lexes to learn which Field tokens were chained (no space before the dot).
fn chain_flags(toks: &[Tok], src_chain: &[bool]) -> Vec<bool> {
    let mut v = src_chain.to_vec();
    v.resize(toks.len(), false);
    v
}

fn lex_with_chain(toks: Vec<Tok>) -> (Vec<Tok>, Vec<bool>) {
    // The lexer emits chain elements as consecutive Field tokens immediately after a
    // Field/Var token with no whitespace; we re-create that information by marking
    // Field tokens that were produced by the chain loop (encoded with a leading '\u{1}').
    let mut out = Vec::with_capacity(toks.len());
    let mut chain = Vec::with_capacity(toks.len());
    for t in toks {
        match t {
            Tok::Field(n) if n.starts_with('\u{1}') => {
                out.push(Tok::Field(n[1..].to_string()));
                chain.push(true);
            }
            t => {
                out.push(t);
                chain.push(false);
            }
        }
    }
    let chain = chain_flags(&out, &chain);
    (out, chain)
}

enum Item {
    Node(Node),
    Else(Option<(String, Pipeline)>),
    End,
}

impl Template {
    /// Parses a template; errors read like Go's (`template: :1: ...`).
    pub fn parse(src: &str) -> Result<Template, String> {
        let parts = split_actions(src).map_err(|e| format!("template: :1: {e}"))?;
        let mut items = Vec::new();
        for p in parts {
            match p {
                Ok(t) => items.push(Item::Node(Node::Text(t))),
                Err(toks) => {
                    if toks.is_empty() {
                        continue; // comment
                    }
                    let (toks, chain) = lex_with_chain(toks);
                    items
                        .push(parse_action(toks, chain).map_err(|e| format!("template: :1: {e}"))?);
                }
            }
        }
        let mut it = items.into_iter();
        let (nodes, term) = build(&mut it).map_err(|e| format!("template: :1: {e}"))?;
        match term {
            None => Ok(Template { nodes }),
            Some(Item::End) => Err("template: :1: unexpected {{end}}".into()),
            Some(_) => Err("template: :1: unexpected {{else}}".into()),
        }
    }

    /// Executes against `data`; `strict` makes a missing field an error (docker's typed
    /// contexts such as `ps`) instead of `<no value>` (raw JSON maps such as `inspect`).
    pub fn execute(&self, data: &Value, strict: bool) -> Result<String, String> {
        let mut ex = Exec {
            vars: vec![("$".to_string(), data.clone())],
            strict,
        };
        let mut out = String::new();
        ex.nodes(&self.nodes, data, &mut out)
            .map_err(|e| format!("template: :1: executing \"\" {e}"))?;
        Ok(out)
    }
}

fn parse_action(toks: Vec<Tok>, chain: Vec<bool>) -> Result<Item, String> {
    let kw = match toks.first() {
        Some(Tok::Ident(k)) => k.clone(),
        _ => String::new(),
    };
    let mut p = Parser {
        toks,
        chain,
        pos: 1,
    };
    let tail = |p: &mut Parser| -> Result<Pipeline, String> {
        let pl = p.pipeline()?;
        if p.pos != p.toks.len() {
            return Err("unexpected \")\"".into());
        }
        Ok(pl)
    };
    match kw.as_str() {
        "if" | "range" | "with" => {
            let pl = tail(&mut p)?;
            Ok(Item::Node(match kw.as_str() {
                "if" => Node::If(pl, vec![], vec![]),
                "range" => Node::Range(pl, vec![], vec![]),
                _ => Node::With(pl, vec![], vec![]),
            }))
        }
        "else" => {
            if p.toks.len() == 1 {
                return Ok(Item::Else(None));
            }
            match p.toks.get(1) {
                Some(Tok::Ident(k)) if k == "if" || k == "with" => {
                    let k = k.clone();
                    p.pos = 2;
                    Ok(Item::Else(Some((k, tail(&mut p)?))))
                }
                _ => Err("unexpected token after else".into()),
            }
        }
        "end" => Ok(Item::End),
        "define" | "template" | "block" | "break" | "continue" => {
            Err(format!("{{{{{kw}}}}} is not supported"))
        }
        _ => {
            p.pos = 0;
            Ok(Item::Node(Node::Action(tail(&mut p)?)))
        }
    }
}

/// Builds the node tree; returns at `{{else}}`/`{{end}}` with the terminator.
fn build(it: &mut impl Iterator<Item = Item>) -> Result<(Vec<Node>, Option<Item>), String> {
    let mut nodes = Vec::new();
    while let Some(item) = it.next() {
        match item {
            Item::Node(Node::If(pl, _, _)) => nodes.push(control(it, pl, "if")?),
            Item::Node(Node::Range(pl, _, _)) => nodes.push(control(it, pl, "range")?),
            Item::Node(Node::With(pl, _, _)) => nodes.push(control(it, pl, "with")?),
            Item::Node(n) => nodes.push(n),
            other => return Ok((nodes, Some(other))),
        }
    }
    Ok((nodes, None))
}

fn control(it: &mut impl Iterator<Item = Item>, pl: Pipeline, kw: &str) -> Result<Node, String> {
    let (body, term) = build(it)?;
    let els = match term {
        Some(Item::End) => vec![],
        Some(Item::Else(None)) => match build(it)? {
            (e, Some(Item::End)) => e,
            _ => return Err(format!("unexpected EOF in {kw}")),
        },
        Some(Item::Else(Some((k, p)))) => vec![control(it, p, &k)?],
        _ => return Err(format!("unexpected EOF in {kw}")),
    };
    Ok(match kw {
        "if" => Node::If(pl, body, els),
        "range" => Node::Range(pl, body, els),
        _ => Node::With(pl, body, els),
    })
}

/// The evaluated value; `Missing` prints as `<no value>` (a map without the key).
#[derive(Debug, Clone)]
enum V {
    Val(Value),
    Missing,
}

impl V {
    fn value(self) -> Value {
        match self {
            V::Val(v) => v,
            V::Missing => Value::Null,
        }
    }
}

struct Exec {
    vars: Vec<(String, Value)>,
    strict: bool,
}

/// Go's truthiness: zero values are false.
pub fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

/// Formats a number as Go's `%v` would for an int or a float64.
fn fmt_num(n: &serde_json::Number) -> String {
    if let Some(i) = n.as_i64() {
        return i.to_string();
    }
    if let Some(u) = n.as_u64() {
        return u.to_string();
    }
    let f = n.as_f64().unwrap_or(0.0);
    if f.fract() == 0.0 && f.abs() < 1e21 {
        format!("{f:.0}")
    } else {
        format!("{f}")
    }
}

/// Go's `%v` for decoded JSON values: `map[a:1 b:2]`, `[x y]`, `<nil>`.
pub fn go_print(v: &Value) -> String {
    match v {
        Value::Null => "<nil>".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => fmt_num(n),
        Value::String(s) => s.clone(),
        Value::Array(a) => format!("[{}]", a.iter().map(go_print).collect::<Vec<_>>().join(" ")),
        Value::Object(o) => format!(
            "map[{}]",
            o.iter()
                .map(|(k, v)| format!("{k}:{}", go_print(v)))
                .collect::<Vec<_>>()
                .join(" ")
        ),
    }
}

/// Go's encoding/json output (compact, HTML-safe escapes), as docker's `json` helper.
pub fn go_json(v: &Value) -> String {
    let s = serde_json::to_string(&public_view(v)).unwrap_or_default();
    s.replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
}

fn as_f64(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        _ => None,
    }
}

fn cmp(a: &Value, b: &Value) -> Result<std::cmp::Ordering, String> {
    match (a, b) {
        (Value::Number(_), Value::Number(_)) => as_f64(a)
            .partial_cmp(&as_f64(b))
            .ok_or_else(|| "incompatible types for comparison".to_string()),
        (Value::String(x), Value::String(y)) => Ok(x.cmp(y)),
        _ => Err("incompatible types for comparison".into()),
    }
}

fn eq(a: &Value, b: &Value) -> Result<bool, String> {
    match (a, b) {
        (Value::Number(_), Value::Number(_)) => Ok(as_f64(a) == as_f64(b)),
        (Value::String(_), Value::String(_))
        | (Value::Bool(_), Value::Bool(_))
        | (Value::Null, Value::Null) => Ok(a == b),
        (Value::Null, _) | (_, Value::Null) => Ok(false),
        _ => Err("incompatible types for comparison".into()),
    }
}

fn to_str(v: &Value) -> String {
    go_print(v)
}

fn as_int(v: &Value) -> Result<i64, String> {
    as_f64(v)
        .map(|f| f as i64)
        .ok_or_else(|| format!("expected integer; found {}", go_print(v)))
}

/// A minimal Go `fmt.Sprintf`: verbs `v s d q f x t %`, flags `-` `0`, width, precision.
pub fn sprintf(fmt: &str, args: &[Value]) -> String {
    let mut out = String::new();
    let mut ai = 0;
    let mut chars = fmt.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let mut left = false;
        let mut zero = false;
        while let Some(&f) = chars.peek() {
            match f {
                '-' => left = true,
                '0' => zero = true,
                '+' | ' ' | '#' => {}
                _ => break,
            }
            chars.next();
        }
        let mut width = String::new();
        while let Some(&d) = chars.peek().filter(|d| d.is_ascii_digit()) {
            width.push(d);
            chars.next();
        }
        let mut prec: Option<usize> = None;
        if chars.peek() == Some(&'.') {
            chars.next();
            let mut p = String::new();
            while let Some(&d) = chars.peek().filter(|d| d.is_ascii_digit()) {
                p.push(d);
                chars.next();
            }
            prec = Some(p.parse().unwrap_or(0));
        }
        let Some(verb) = chars.next() else {
            out.push_str("%!(NOVERB)");
            break;
        };
        if verb == '%' {
            out.push('%');
            continue;
        }
        let Some(arg) = args.get(ai) else {
            let _ = write!(out, "%!{verb}(MISSING)");
            continue;
        };
        ai += 1;
        let s = match verb {
            'd' => as_f64(arg)
                .map(|f| (f as i64).to_string())
                .unwrap_or_else(|| format!("%!d({})", go_print(arg))),
            'f' | 'g' | 'e' => as_f64(arg)
                .map(|f| format!("{:.*}", prec.unwrap_or(6), f))
                .unwrap_or_else(|| format!("%!f({})", go_print(arg))),
            'q' => serde_json::to_string(&to_str(arg)).unwrap_or_default(),
            'x' => match arg {
                Value::Number(_) => format!("{:x}", as_f64(arg).unwrap_or(0.0) as i64),
                _ => to_str(arg).bytes().map(|b| format!("{b:02x}")).collect(),
            },
            _ => {
                let s = to_str(arg);
                match prec {
                    Some(p) if verb == 's' => s.chars().take(p).collect(),
                    _ => s,
                }
            }
        };
        let w: usize = width.parse().unwrap_or(0);
        let n = s.chars().count();
        if n < w {
            let pad = w - n;
            if left {
                out.push_str(&s);
                out.push_str(&" ".repeat(pad));
            } else {
                out.push_str(&(if zero { "0" } else { " " }).repeat(pad));
                out.push_str(&s);
            }
        } else {
            out.push_str(&s);
        }
    }
    if ai < args.len() {
        let extra: Vec<String> = args[ai..].iter().map(go_print).collect();
        let _ = write!(out, "%!(EXTRA {})", extra.join(", "));
    }
    out
}

impl Exec {
    fn nodes(&mut self, nodes: &[Node], dot: &Value, out: &mut String) -> Result<(), String> {
        for n in nodes {
            self.node(n, dot, out)?;
        }
        Ok(())
    }

    fn node(&mut self, n: &Node, dot: &Value, out: &mut String) -> Result<(), String> {
        match n {
            Node::Text(t) => out.push_str(t),
            Node::Action(p) => {
                let v = self.pipeline(p, dot)?;
                if p.decl.is_empty() {
                    match v {
                        V::Missing => out.push_str("<no value>"),
                        V::Val(v) => out.push_str(&go_print(&v)),
                    }
                }
            }
            Node::If(p, body, els) => {
                let mark = self.vars.len();
                let v = self.pipeline(p, dot)?.value();
                let r = if truthy(&v) {
                    self.nodes(body, dot, out)
                } else {
                    self.nodes(els, dot, out)
                };
                self.vars.truncate(mark);
                r?;
            }
            Node::With(p, body, els) => {
                let mark = self.vars.len();
                let v = self.pipeline(p, dot)?.value();
                let r = if truthy(&v) {
                    self.nodes(body, &v, out)
                } else {
                    self.nodes(els, dot, out)
                };
                self.vars.truncate(mark);
                r?;
            }
            Node::Range(p, body, els) => {
                let mark = self.vars.len();
                let decl = p.decl.clone();
                let plain = Pipeline {
                    decl: vec![],
                    cmds: p.cmds.clone(),
                };
                let v = self.pipeline(&plain, dot)?.value();
                let items: Vec<(Value, Value)> = match v {
                    Value::Array(a) => a
                        .into_iter()
                        .enumerate()
                        .map(|(i, x)| (Value::from(i as i64), x))
                        .collect(),
                    Value::Object(o) => o.into_iter().map(|(k, x)| (Value::String(k), x)).collect(),
                    Value::Null => vec![],
                    Value::Number(n) => (0..n.as_i64().unwrap_or(0))
                        .map(|i| (Value::from(i), Value::from(i)))
                        .collect(),
                    other => return Err(format!("range can't iterate over {}", go_print(&other))),
                };
                if items.is_empty() {
                    self.nodes(els, dot, out)?;
                }
                for (k, x) in items {
                    let inner = self.vars.len();
                    match decl.len() {
                        1 => self.vars.push((decl[0].clone(), x.clone())),
                        2 => {
                            self.vars.push((decl[0].clone(), k));
                            self.vars.push((decl[1].clone(), x.clone()));
                        }
                        _ => {}
                    }
                    self.nodes(body, &x, out)?;
                    self.vars.truncate(inner);
                }
                self.vars.truncate(mark);
            }
        }
        Ok(())
    }

    fn pipeline(&mut self, p: &Pipeline, dot: &Value) -> Result<V, String> {
        let mut last: Option<V> = None;
        for cmd in &p.cmds {
            last = Some(self.command(cmd, dot, last)?);
        }
        let v = last.unwrap_or(V::Missing);
        for d in &p.decl {
            let val = v.clone().value();
            if let Some(slot) = self.vars.iter_mut().rev().find(|(n, _)| n == d) {
                slot.1 = val;
            } else {
                self.vars.push((d.clone(), val));
            }
        }
        Ok(v)
    }

    fn field(&self, base: V, fields: &[String], desc: &str) -> Result<V, String> {
        let mut cur = base;
        for f in fields {
            cur = match cur {
                V::Val(Value::Object(m)) => match m.get(f) {
                    Some(v) => V::Val(v.clone()),
                    None if self.strict => {
                        return Err(format!("at <{desc}>: can't evaluate field {f}"))
                    }
                    None => V::Missing,
                },
                V::Val(Value::Null) | V::Missing => {
                    if self.strict {
                        return Err(format!("at <{desc}>: nil pointer evaluating .{f}"));
                    }
                    V::Missing
                }
                V::Val(other) => {
                    return Err(format!(
                        "at <{desc}>: can't evaluate field {f} in type {}",
                        type_name(&other)
                    ))
                }
            };
        }
        Ok(cur)
    }

    fn arg(&mut self, a: &Arg, dot: &Value) -> Result<V, String> {
        Ok(match a {
            Arg::Field(f) => self.field(V::Val(dot.clone()), f, &format!(".{}", f.join(".")))?,
            Arg::Var(n, f) => {
                let base = self
                    .vars
                    .iter()
                    .rev()
                    .find(|(v, _)| v == &format!("${n}") || (n.is_empty() && v == "$") || v == n)
                    .map(|(_, v)| v.clone())
                    .ok_or_else(|| format!("undefined variable: ${n}"))?;
                self.field(V::Val(base), f, &format!("${n}"))?
            }
            Arg::Str(s) => V::Val(Value::String(s.clone())),
            Arg::Num(n) => V::Val(if n.fract() == 0.0 {
                Value::from(*n as i64)
            } else {
                Value::from(*n)
            }),
            Arg::Bool(b) => V::Val(Value::Bool(*b)),
            Arg::Nil => V::Val(Value::Null),
            Arg::Ident(i) => self.call(i, vec![])?,
            Arg::Sub(p, f) => {
                let v = self.pipeline(p, dot)?;
                self.field(v, f, "(...)")?
            }
        })
    }

    fn command(&mut self, cmd: &[Arg], dot: &Value, piped: Option<V>) -> Result<V, String> {
        match &cmd[0] {
            Arg::Ident(name) => {
                let mut args = Vec::new();
                for a in &cmd[1..] {
                    args.push(self.arg(a, dot)?.value());
                }
                if let Some(p) = piped {
                    args.push(p.value());
                }
                self.call(name, args)
            }
            // A method call such as `.Label "k"` on docker's typed contexts: the
            // context carries a hidden `.<Method>` object to look keys up in.
            Arg::Field(f) if cmd.len() > 1 || (piped.is_some() && !f.is_empty()) => {
                let (last, parent) = f
                    .split_last()
                    .ok_or("can't give argument to non-function .")?;
                let base = self.field(V::Val(dot.clone()), parent, ".")?.value();
                let table = base.get(format!("\u{1}{last}")).cloned();
                let mut args = Vec::new();
                for a in &cmd[1..] {
                    args.push(self.arg(a, dot)?.value());
                }
                if let Some(p) = piped {
                    args.push(p.value());
                }
                match table {
                    Some(Value::Object(m)) => {
                        let key = args.first().map(to_str).unwrap_or_default();
                        Ok(V::Val(
                            m.get(&key).cloned().unwrap_or(Value::String(String::new())),
                        ))
                    }
                    _ => Err(format!(
                        "at <.{}>: can't give argument to non-function .{}",
                        f.join("."),
                        f.join(".")
                    )),
                }
            }
            _ => {
                if cmd.len() > 1 || piped.is_some() {
                    return Err("can't give argument to non-function".into());
                }
                self.arg(&cmd[0], dot)
            }
        }
    }

    fn call(&mut self, name: &str, args: Vec<Value>) -> Result<V, String> {
        let want = |n: usize| -> Result<(), String> {
            if args.len() != n {
                Err(format!(
                    "error calling {name}: wrong number of args for {name}: want {n} got {}",
                    args.len()
                ))
            } else {
                Ok(())
            }
        };
        let s = |v: &Value| to_str(v);
        Ok(V::Val(match name {
            "json" => {
                want(1)?;
                Value::String(go_json(&args[0]))
            }
            "upper" => {
                want(1)?;
                Value::String(s(&args[0]).to_uppercase())
            }
            "lower" => {
                want(1)?;
                Value::String(s(&args[0]).to_lowercase())
            }
            "title" => {
                want(1)?;
                let t = s(&args[0]);
                let mut out = String::new();
                let mut prev_space = true;
                for c in t.chars() {
                    if prev_space {
                        out.extend(c.to_uppercase());
                    } else {
                        out.push(c);
                    }
                    prev_space = c.is_whitespace();
                }
                Value::String(out)
            }
            "split" => {
                want(2)?;
                Value::Array(
                    s(&args[0])
                        .split(&s(&args[1]))
                        .map(|x| Value::String(x.into()))
                        .collect(),
                )
            }
            "join" => {
                want(2)?;
                let sep = s(&args[1]);
                match &args[0] {
                    Value::Array(a) => {
                        Value::String(a.iter().map(s).collect::<Vec<_>>().join(&sep))
                    }
                    Value::Null => Value::String(String::new()),
                    other => Value::String(s(other)),
                }
            }
            "truncate" => {
                want(2)?;
                let n = as_int(&args[1])? as usize;
                Value::String(s(&args[0]).chars().take(n).collect())
            }
            "pad" => {
                want(3)?;
                let l = as_int(&args[1])? as usize;
                let r = as_int(&args[2])? as usize;
                Value::String(format!("{}{}{}", " ".repeat(l), s(&args[0]), " ".repeat(r)))
            }
            "len" => {
                want(1)?;
                Value::from(match &args[0] {
                    Value::Array(a) => a.len(),
                    Value::Object(o) => o.len(),
                    Value::String(x) => x.len(),
                    Value::Null => 0,
                    other => {
                        return Err(format!(
                            "error calling len: len of type {}",
                            type_name(other)
                        ))
                    }
                } as i64)
            }
            "index" => {
                if args.is_empty() {
                    return Err("wrong number of args for index".into());
                }
                let mut cur = args[0].clone();
                for k in &args[1..] {
                    cur = match (&cur, k) {
                        (Value::Object(m), _) => m.get(&s(k)).cloned().unwrap_or(Value::Null),
                        (Value::Array(a), Value::Number(_)) => {
                            let i = as_int(k)?;
                            a.get(i as usize).cloned().ok_or_else(|| {
                                format!("error calling index: index out of range: {i}")
                            })?
                        }
                        (Value::Null, _) => Value::Null,
                        _ => {
                            return Err(format!(
                                "error calling index: can't index item of type {}",
                                type_name(&cur)
                            ))
                        }
                    };
                }
                if cur.is_null() && matches!(args[0], Value::Object(_)) {
                    // a missing map key yields the zero value; docker maps are of strings
                    return Ok(V::Missing);
                }
                cur
            }
            "printf" => {
                if args.is_empty() {
                    return Err("wrong number of args for printf".into());
                }
                Value::String(sprintf(&s(&args[0]), &args[1..]))
            }
            "print" | "println" => {
                let mut o = String::new();
                for (i, a) in args.iter().enumerate() {
                    let is_str = matches!(a, Value::String(_));
                    let prev_str = i > 0 && matches!(args[i - 1], Value::String(_));
                    if i > 0 && (name == "println" || (!is_str && !prev_str)) {
                        o.push(' ');
                    }
                    o.push_str(&s(a));
                }
                if name == "println" {
                    o.push('\n');
                }
                Value::String(o)
            }
            "not" => {
                want(1)?;
                Value::Bool(!truthy(&args[0]))
            }
            "and" => {
                if args.is_empty() {
                    return Err("wrong number of args for and".into());
                }
                args.iter()
                    .find(|a| !truthy(a))
                    .unwrap_or(args.last().unwrap_or(&Value::Null))
                    .clone()
            }
            "or" => {
                if args.is_empty() {
                    return Err("wrong number of args for or".into());
                }
                args.iter()
                    .find(|a| truthy(a))
                    .unwrap_or(args.last().unwrap_or(&Value::Null))
                    .clone()
            }
            "eq" => {
                if args.len() < 2 {
                    return Err("error calling eq: missing argument for comparison".into());
                }
                let mut any = false;
                for b in &args[1..] {
                    any |= eq(&args[0], b).map_err(|e| format!("error calling eq: {e}"))?;
                }
                Value::Bool(any)
            }
            "ne" => {
                want(2)?;
                Value::Bool(!eq(&args[0], &args[1]).map_err(|e| format!("error calling ne: {e}"))?)
            }
            "lt" | "le" | "gt" | "ge" => {
                want(2)?;
                let o =
                    cmp(&args[0], &args[1]).map_err(|e| format!("error calling {name}: {e}"))?;
                use std::cmp::Ordering::*;
                Value::Bool(match name {
                    "lt" => o == Less,
                    "le" => o != Greater,
                    "gt" => o == Greater,
                    _ => o != Less,
                })
            }
            "slice" => {
                if args.is_empty() {
                    return Err("wrong number of args for slice".into());
                }
                let from = args.get(1).map(as_int).transpose()?.unwrap_or(0) as usize;
                match &args[0] {
                    Value::String(x) => {
                        let to = args
                            .get(2)
                            .map(as_int)
                            .transpose()?
                            .map(|t| t as usize)
                            .unwrap_or(x.len());
                        Value::String(
                            x.get(from..to)
                                .ok_or("error calling slice: index out of range")?
                                .to_string(),
                        )
                    }
                    Value::Array(a) => {
                        let to = args
                            .get(2)
                            .map(as_int)
                            .transpose()?
                            .map(|t| t as usize)
                            .unwrap_or(a.len());
                        Value::Array(
                            a.get(from..to)
                                .ok_or("error calling slice: index out of range")?
                                .to_vec(),
                        )
                    }
                    other => {
                        return Err(format!(
                            "error calling slice: can't slice item of type {}",
                            type_name(other)
                        ))
                    }
                }
            }
            "urlquery" => Value::String(
                args.iter()
                    .map(s)
                    .collect::<Vec<_>>()
                    .join("")
                    .replace(' ', "+"),
            ),
            "html" | "js" => Value::String(args.iter().map(s).collect::<Vec<_>>().join("")),
            _ => return Err(format!("function \"{name}\" not defined")),
        }))
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "interface {}",
        Value::Bool(_) => "bool",
        Value::Number(_) => "float64",
        Value::String(_) => "string",
        Value::Array(_) => "[]interface {}",
        Value::Object(_) => "map[string]interface {}",
    }
}

/// Adds a hidden method table to a context object so that `{{.Name "key"}}` works
/// (docker's `{{.Label "k"}}` on ps/images rows).
pub fn add_method(obj: &mut Map<String, Value>, name: &str, table: Map<String, Value>) {
    obj.insert(format!("\u{1}{name}"), Value::Object(table));
}

/// Strips hidden method tables before printing a context with `{{json .}}`.
pub fn public_view(v: &Value) -> Value {
    match v {
        Value::Object(o) => Value::Object(
            o.iter()
                .filter(|(k, _)| !k.starts_with('\u{1}'))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        ),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn run(t: &str, v: &Value) -> String {
        Template::parse(t).unwrap().execute(v, false).unwrap()
    }

    #[test]
    fn fields_and_text() {
        let v = json!({"ID":"abc","State":{"Status":"running","Pid":1234,"Mem":104857600},"Config":{"Labels":{"k":"v","a b":"c"}}});
        assert_eq!(run("id={{.ID}} {{.State.Status}}", &v), "id=abc running");
        assert_eq!(run("{{.State.Pid}} {{.State.Mem}}", &v), "1234 104857600");
        assert_eq!(run("{{.Nope}}", &v), "<no value>");
        assert_eq!(run(r#"{{index .Config.Labels "k"}}"#, &v), "v");
        assert_eq!(run(r#"{{index .Config.Labels "a b"}}"#, &v), "c");
        assert_eq!(run("{{.Config.Labels}}", &v), "map[a b:c k:v]");
        assert_eq!(run("{{json .State.Status}}", &v), "\"running\"");
        assert_eq!(run("{{json .Config.Labels}}", &v), r#"{"a b":"c","k":"v"}"#);
        assert!(Template::parse("{{.Nope}}")
            .unwrap()
            .execute(&v, true)
            .is_err());
    }

    #[test]
    fn control_flow() {
        let v = json!({"A":[1,2,3],"M":{"x":"1","y":"2"},"T":true,"E":"","N":{"S":"in"}});
        assert_eq!(run("{{range .A}}[{{.}}]{{end}}", &v), "[1][2][3]");
        assert_eq!(
            run("{{range $i, $x := .A}}{{$i}}={{$x}} {{end}}", &v),
            "0=1 1=2 2=3 "
        );
        assert_eq!(
            run("{{range $k, $v := .M}}{{$k}}:{{$v}},{{end}}", &v),
            "x:1,y:2,"
        );
        assert_eq!(run("{{if .T}}yes{{else}}no{{end}}", &v), "yes");
        assert_eq!(
            run("{{if .E}}yes{{else if .T}}elif{{else}}no{{end}}", &v),
            "elif"
        );
        assert_eq!(run("{{with .N}}{{.S}}{{end}}", &v), "in");
        assert_eq!(run("{{range .Missing}}x{{else}}empty{{end}}", &v), "empty");
        assert_eq!(run("a {{- \" b \" -}} c", &v), "a b c");
        assert_eq!(run("{{/* comment */}}ok", &v), "ok");
        assert_eq!(run("{{$x := .N.S}}{{$x}}{{$.T}}", &v), "intrue");
    }

    #[test]
    fn functions() {
        let v = json!({"Names":["a","b"],"S":"Hello World","N":5});
        assert_eq!(run(r#"{{join .Names ","}}"#, &v), "a,b");
        assert_eq!(
            run("{{upper .S}} {{lower .S}}", &v),
            "HELLO WORLD hello world"
        );
        assert_eq!(run("{{.S | upper}}", &v), "HELLO WORLD");
        assert_eq!(
            run(r#"{{printf "%-6s|%3d|%q" "ab" .N "x"}}"#, &v),
            "ab    |  5|\"x\""
        );
        assert_eq!(run(r#"{{printf "%.2f" 1.5}}"#, &v), "1.50");
        assert_eq!(run("{{len .Names}}", &v), "2");
        assert_eq!(
            run(r#"{{if eq .N 5}}five{{end}}{{if ne .S "x"}}!{{end}}"#, &v),
            "five!"
        );
        assert_eq!(
            run(r#"{{if and (gt .N 1) (lt .N 10)}}mid{{end}}"#, &v),
            "mid"
        );
        assert_eq!(
            run(
                r#"{{if or .Zero .N}}or{{end}}{{if not .Zero}}not{{end}}"#,
                &v
            ),
            "ornot"
        );
        assert_eq!(run(r#"{{split "a:b" ":"}}"#, &v), "[a b]");
        assert_eq!(run(r#"{{index .Names 1}}"#, &v), "b");
        assert_eq!(run(r#"{{truncate .S 5}}"#, &v), "Hello");
        assert_eq!(run(r#"{{title "foo bar"}}"#, &v), "Foo Bar");
        assert_eq!(run(r#"{{(index .Names 0) | upper}}"#, &v), "A");
        assert_eq!(run(r#"{{eq .S "x" "Hello World"}}"#, &v), "true");
        assert_eq!(run(r#"{{println "a" "b"}}"#, &v), "a b\n");
        assert_eq!(
            run(r#"{{json .}}"#, &json!({"a":"<x>"})),
            r#"{"a":"\u003cx\u003e"}"#
        );
    }

    #[test]
    fn methods_and_errors() {
        let mut m = Map::new();
        m.insert("Labels".into(), json!("a=b"));
        let mut t = Map::new();
        t.insert("a".into(), json!("b"));
        add_method(&mut m, "Label", t);
        let v = Value::Object(m);
        assert_eq!(run(r#"{{.Label "a"}}|{{.Label "zz"}}"#, &v), "b|");
        assert_eq!(run("{{json .}}", &public_view(&v)), r#"{"Labels":"a=b"}"#);
        assert!(Template::parse("{{if .A}}x").is_err());
        assert!(Template::parse("{{end}}").is_err());
        assert!(Template::parse("{{.A").is_err());
        assert!(Template::parse("{{nosuch .A}}")
            .unwrap()
            .execute(&v, false)
            .is_err());
    }
}
