//! The progress-stream printer of pull, push, load and import: docker's
//! `jsonmessage.DisplayJSONMessagesStream`. On a terminal each layer keeps one line,
//! redrawn in place with its bar (`[====>   ] 12.3MB/45.6MB`); elsewhere the plain lines
//! without byte counts.

use super::super::format::human;
use super::super::Fail;
use berth_api::progress::JsonMessage;
use berth_client::BodyStream;
use std::collections::HashMap;
use std::io::Write;

/// How progress is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    /// Plain lines, no byte counts (not a terminal).
    Plain,
    /// Live lines on a terminal of this many columns.
    Live { width: usize },
}

impl View {
    /// Live when stdout is a terminal.
    pub fn stdout() -> View {
        use std::io::IsTerminal;
        let out = std::io::stdout();
        let cols = rustix::termios::tcgetwinsize(&out).ok().map(|w| w.ws_col);
        View::for_terminal(out.is_terminal(), cols)
    }

    /// Live when stderr is a terminal (the pull of `run`, as docker draws it there).
    pub fn stderr() -> View {
        use std::io::IsTerminal;
        let err = std::io::stderr();
        let cols = rustix::termios::tcgetwinsize(&err).ok().map(|w| w.ws_col);
        View::for_terminal(err.is_terminal(), cols)
    }

    /// Live when `is_tty`, as wide as the terminal (docker assumes 200 columns when it
    /// cannot tell).
    pub fn for_terminal(is_tty: bool, columns: Option<u16>) -> View {
        if is_tty {
            View::Live {
                width: columns.filter(|c| *c > 0).map(usize::from).unwrap_or(200),
            }
        } else {
            View::Plain
        }
    }
}

/// Prints a progress stream until it ends; returns the last status or stream line
/// (bootstrap's image ID). An error message in the stream is the command's failure.
pub async fn print_progress(
    mut s: BodyStream,
    out: &mut dyn Write,
    quiet: bool,
    view: View,
) -> Result<Option<String>, Fail> {
    let mut last = None;
    let mut lines = LiveLines::default();
    loop {
        let msg: Option<JsonMessage> = s
            .next_json()
            .await
            .map_err(|e| Fail::new(e.to_string(), 1))?;
        let Some(m) = msg else { break };
        if let Some(e) = m
            .error_detail
            .as_ref()
            .map(|d| d.message.clone())
            .or(m.error.clone())
        {
            return Err(Fail::new(e, 1));
        }
        if let Some(st) = &m.stream {
            last = Some(st.trim_end().to_string());
        } else if let Some(st) = &m.status {
            last = Some(st.clone());
        }
        if quiet || m.aux.is_some() {
            continue;
        }
        match view {
            View::Live { width } => lines.show(out, &m, width),
            View::Plain => plain(out, &m),
        }
        let _ = out.flush();
    }
    Ok(last)
}

/// A message as docker prints it when not on a terminal: byte counts (Downloading,
/// Extracting) are for a live view and left out.
fn plain(out: &mut dyn Write, m: &JsonMessage) {
    if let Some(st) = &m.stream {
        let _ = write!(out, "{st}");
        return;
    }
    let Some(st) = &m.status else { return };
    if !bar(m, 0).is_empty() {
        return;
    }
    let _ = match (&m.id, &m.progress) {
        (Some(id), Some(p)) if !p.is_empty() => writeln!(out, "{id}: {st} {p}"),
        (Some(id), _) => writeln!(out, "{id}: {st}"),
        _ => writeln!(out, "{st}"),
    };
}

/// The live view: which line each ID owns, counted from the first.
#[derive(Default)]
struct LiveLines {
    ids: HashMap<String, usize>,
}

impl LiveLines {
    fn show(&mut self, out: &mut dyn Write, m: &JsonMessage, width: usize) {
        let has_progress = m.progress_detail.is_some();
        let mut diff = 0;
        match &m.id {
            Some(id) if has_progress || m.progress.is_some() => {
                let line = match self.ids.get(id) {
                    Some(l) => *l,
                    None => {
                        let l = self.ids.len();
                        self.ids.insert(id.clone(), l);
                        let _ = writeln!(out);
                        l
                    }
                };
                diff = self.ids.len() - line;
                if diff > 0 {
                    let _ = write!(out, "\x1b[{diff}A");
                }
            }
            // Anything else ends the block of live lines (the next tag of pull -a).
            _ => self.ids.clear(),
        }
        let mut endl = "";
        if m.stream.is_none() && has_progress {
            let _ = write!(out, "\x1b[2K\r");
            endl = "\r";
        }
        if let Some(id) = &m.id {
            let _ = write!(out, "{id}: ");
        }
        let status = m.status.as_deref().unwrap_or("");
        let _ = if has_progress {
            write!(out, "{status} {}{endl}", bar(m, width))
        } else if let Some(p) = m.progress.as_deref().filter(|p| !p.is_empty()) {
            write!(out, "{status} {p}{endl}")
        } else if let Some(st) = &m.stream {
            write!(out, "{st}{endl}")
        } else {
            writeln!(out, "{status}{endl}")
        };
        if m.id.is_some() && diff > 0 {
            let _ = write!(out, "\x1b[{diff}B");
        }
    }
}

/// docker's `JSONProgress.String()`: a 50-column bar when the terminal is wider than 110
/// columns, then `current/total` in go-units sizes; empty without counts.
fn bar(m: &JsonMessage, width: usize) -> String {
    let Some(d) = &m.progress_detail else {
        return String::new();
    };
    let (current, total) = (d.current.unwrap_or(0), d.total.unwrap_or(0));
    if current <= 0 && total <= 0 {
        return String::new();
    }
    if total <= 0 {
        return format!("{:>8}", human::size(current as f64));
    }
    let pct = ((current as f64 / total as f64 * 100.0) as i64 / 2).clamp(0, 50) as usize;
    let mut s = String::new();
    if width > 110 {
        s.push_str(&format!("[{}>{}] ", "=".repeat(pct), " ".repeat(50 - pct)));
    }
    if current > total {
        s.push_str(&format!("{:>8}", human::size(current as f64)));
    } else {
        s.push_str(&format!(
            "{:>8}/{}",
            human::size(current as f64),
            human::size(total as f64)
        ));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_api::progress::ProgressDetail;

    fn msg(id: &str, status: &str, counts: Option<(i64, i64)>) -> JsonMessage {
        JsonMessage {
            id: Some(id.into()),
            status: Some(status.into()),
            progress_detail: Some(match counts {
                Some((c, t)) => ProgressDetail {
                    current: Some(c),
                    total: Some(t),
                },
                None => ProgressDetail::default(),
            }),
            ..Default::default()
        }
    }

    #[test]
    fn bars_as_docker_draws_them() {
        let m = msg("a", "Downloading", Some((1_500_000, 3_000_000)));
        assert_eq!(
            bar(&m, 200),
            format!("[{}>{}]    1.5MB/3MB", "=".repeat(25), " ".repeat(25))
        );
        assert_eq!(bar(&m, 80), "   1.5MB/3MB");
        assert_eq!(bar(&msg("a", "Pulling fs layer", None), 200), "");
        let over = msg("a", "Downloading", Some((5_000_000, 3_000_000)));
        assert_eq!(bar(&over, 80), "     5MB");
    }

    #[test]
    fn one_line_per_layer_redrawn_in_place() {
        let mut out = Vec::new();
        let mut lines = LiveLines::default();
        let head = JsonMessage::status("latest: Pulling from library/x".to_string());
        lines.show(&mut out, &head, 80);
        lines.show(&mut out, &msg("l1", "Pulling fs layer", None), 80);
        lines.show(&mut out, &msg("l2", "Pulling fs layer", None), 80);
        lines.show(&mut out, &msg("l1", "Downloading", Some((1000, 2000))), 80);
        let text = String::from_utf8(out).unwrap();
        assert_eq!(
            text,
            "latest: Pulling from library/x\n\
             \n\x1b[1A\x1b[2K\rl1: Pulling fs layer \r\x1b[1B\
             \n\x1b[1A\x1b[2K\rl2: Pulling fs layer \r\x1b[1B\
             \x1b[2A\x1b[2K\rl1: Downloading      1kB/2kB\r\x1b[2B"
        );
    }

    #[test]
    fn plain_lines_leave_counts_out() {
        let mut out = Vec::new();
        plain(&mut out, &msg("l1", "Pulling fs layer", None));
        plain(&mut out, &msg("l1", "Downloading", Some((1, 2))));
        plain(&mut out, &msg("l1", "Pull complete", None));
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "l1: Pulling fs layer\nl1: Pull complete\n"
        );
    }
}
