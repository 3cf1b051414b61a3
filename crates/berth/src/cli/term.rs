//! Terminal handling for interactive runs: raw mode, window size, detach keys.

use nix::sys::termios::{self, SetArg, Termios};
use std::io::IsTerminal;
use std::os::fd::{BorrowedFd, OwnedFd};

/// Restores the saved terminal mode when dropped, so a panic or early return never
/// leaves the user's shell in raw mode.
pub struct RawGuard {
    saved: Termios,
    fd: OwnedFd,
}

impl RawGuard {
    /// Puts the terminal on `fd` into raw mode (as docker's `term.SetRawTerminal`).
    pub fn enable(fd: BorrowedFd<'_>) -> nix::Result<RawGuard> {
        let saved = termios::tcgetattr(fd)?;
        let mut raw = saved.clone();
        // Like docker's term.MakeRaw: output post-processing off too, the container's
        // pty already turned "\n" into "\r\n".
        termios::cfmakeraw(&mut raw);
        termios::tcsetattr(fd, SetArg::TCSANOW, &raw)?;
        let fd = fd
            .try_clone_to_owned()
            .map_err(|e| nix::errno::Errno::from_raw(e.raw_os_error().unwrap_or(libc::EBADF)))?;
        Ok(RawGuard { saved, fd })
    }
}

impl Drop for RawGuard {
    fn drop(&mut self) {
        let _ = termios::tcsetattr(&self.fd, SetArg::TCSANOW, &self.saved);
    }
}

/// Whether stdin / stdout is a terminal.
pub fn stdin_is_tty() -> bool {
    std::io::stdin().is_terminal()
}

pub fn stdout_is_tty() -> bool {
    std::io::stdout().is_terminal()
}

/// The terminal size (rows, cols) of stdout, if it is a terminal.
pub fn size() -> Option<(u16, u16)> {
    let ws = rustix::termios::tcgetwinsize(std::io::stdout()).ok()?;
    (ws.ws_row > 0).then_some((ws.ws_row, ws.ws_col))
}

/// docker's default detach sequence.
pub const DEFAULT_DETACH_KEYS: &str = "ctrl-p,ctrl-q";

/// Parses a detach-keys spec ("ctrl-p,ctrl-q", "a,ctrl-@") into bytes, as docker's
/// `term.ToBytes`: single characters or `ctrl-<c>` for `a-z @ [ \ ] ^ _`.
pub fn parse_detach_keys(spec: &str) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    for key in spec.split(',') {
        let k = key.trim();
        if k.chars().count() > 1 {
            let Some(c) = k
                .to_ascii_lowercase()
                .strip_prefix("ctrl-")
                .map(str::to_string)
            else {
                return Err(format!("Unknown character: '{k}'"));
            };
            if c.len() != 1 {
                return Err(format!("Unknown character: '{k}'"));
            }
            let b = c.as_bytes()[0];
            let code = match b {
                b'a'..=b'z' => b - b'a' + 1,
                b'@' => 0,
                b'[' => 27,
                b'\\' => 28,
                b']' => 29,
                b'^' => 30,
                b'_' => 31,
                _ => return Err(format!("Unknown character: '{k}'")),
            };
            out.push(code);
        } else if let Some(c) = k.bytes().next() {
            out.push(c);
        }
    }
    Ok(out)
}

/// Watches a byte stream for the detach sequence; bytes of a partial match are held
/// back and released when the match breaks (docker's escape proxy).
pub struct DetachMatcher {
    keys: Vec<u8>,
    matched: usize,
}

impl DetachMatcher {
    pub fn new(keys: Vec<u8>) -> DetachMatcher {
        DetachMatcher { keys, matched: 0 }
    }

    /// Filters `input`: returns the bytes to forward and whether the sequence completed.
    pub fn feed(&mut self, input: &[u8]) -> (Vec<u8>, bool) {
        let mut out = Vec::with_capacity(input.len());
        if self.keys.is_empty() {
            return (input.to_vec(), false);
        }
        for &b in input {
            if b == self.keys[self.matched] {
                self.matched += 1;
                if self.matched == self.keys.len() {
                    self.matched = 0;
                    return (out, true);
                }
            } else {
                out.extend_from_slice(&self.keys[..self.matched]);
                self.matched = 0;
                if b == self.keys[0] {
                    self.matched = 1;
                } else {
                    out.push(b);
                }
            }
        }
        (out, false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detach_keys() {
        assert_eq!(parse_detach_keys("ctrl-p,ctrl-q"), Ok(vec![16, 17]));
        assert_eq!(parse_detach_keys("a,ctrl-@,ctrl-["), Ok(vec![b'a', 0, 27]));
        assert!(parse_detach_keys("ctrl-1").is_err());
        assert!(parse_detach_keys("abc").is_err());
    }

    #[test]
    fn matcher() {
        let mut m = DetachMatcher::new(vec![16, 17]);
        assert_eq!(m.feed(b"ab"), (b"ab".to_vec(), false));
        assert_eq!(m.feed(&[16]), (vec![], false));
        assert_eq!(m.feed(b"x"), (vec![16, b'x'], false));
        assert_eq!(m.feed(&[b'y', 16, 17]), (vec![b'y'], true));
    }
}
