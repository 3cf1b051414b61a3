//! Tar-split: a layer's tar without its file contents, so that the store keeps one copy of
//! a layer (the unpacked files) and can still give back the exact tar, byte for byte and
//! so with the same diff ID, for `docker save` and `docker push` — what Docker's overlay2
//! does with its tar-split metadata.
//!
//! While a layer unpacks, a [`SplitReader`] under the tar parser records every byte of
//! the stream except the contents of the regular files the unpacker writes; for those it
//! records the path and length. [`TarFromSplit`] replays the record, reading the contents
//! from the unpacked layer (beneath its root, never through a symlink) and checking the
//! result against the diff ID as it ends.
//!
//! A layer whose files cannot be read back as they were in the tar (the same path written
//! twice, a directory replaced by a file, GNU sparse files) is not recorded: the caller
//! keeps the tar itself then ([`Recorder::finish`] says which).
//!
//! Format (gzip-compressed): records `R <u32 len> <bytes>` (tar bytes as they were),
//! `F <u64 size> <u32 len> <path>` (a file's contents), then `E`.

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use rustix::fs::{self as rfs, FileType, Mode, OFlags, ResolveFlags};

use crate::digest::{Digest, Hasher};

/// The file name of a layer's tar-split beside its `diff/`.
pub const FILE_NAME: &str = "tar-split.gz";

const RAW: u8 = b'R';
const CONTENT: u8 = b'F';
const END: u8 = b'E';
/// Raw bytes are written out in records of at most this size.
const RAW_CHUNK: usize = 1 << 20;

/// Records one layer's tar-split while the layer unpacks; shared by the [`SplitReader`]
/// (which sees the bytes) and the unpacker (which knows what each entry becomes).
pub struct Recorder {
    out: flate2::write::GzEncoder<BufWriter<File>>,
    raw: Vec<u8>,
    /// Bytes of the tar stream seen so far.
    pos: u64,
    /// The stream range holding the contents of the file being written: not recorded.
    skip: Option<(u64, u64)>,
    /// Every non-directory path written so far.
    written: BTreeSet<Vec<u8>>,
    usable: bool,
    err: Option<io::Error>,
}

/// A [`Recorder`] as the reader and the unpacker share it.
pub type SharedRecorder = Rc<RefCell<Recorder>>;

impl Recorder {
    /// Starts a tar-split at `path`.
    pub fn create(path: &Path) -> io::Result<SharedRecorder> {
        let f = File::create(path)?;
        Ok(Rc::new(RefCell::new(Recorder {
            out: flate2::write::GzEncoder::new(BufWriter::new(f), flate2::Compression::fast()),
            raw: Vec::new(),
            pos: 0,
            skip: None,
            written: BTreeSet::new(),
            usable: true,
            err: None,
        })))
    }

    fn saw(&mut self, mut b: &[u8]) {
        while !b.is_empty() {
            match self.skip {
                Some((s, e)) if self.pos >= s && self.pos < e => {
                    let k = (b.len() as u64).min(e - self.pos) as usize;
                    self.pos += k as u64;
                    b = &b[k..];
                    if self.pos == e {
                        self.skip = None;
                    }
                }
                Some((s, _)) if self.pos < s => {
                    let k = (b.len() as u64).min(s - self.pos) as usize;
                    self.raw.extend_from_slice(&b[..k]);
                    self.pos += k as u64;
                    b = &b[k..];
                }
                _ => {
                    self.raw.extend_from_slice(b);
                    self.pos += b.len() as u64;
                    b = &[];
                }
            }
        }
        if self.raw.len() >= RAW_CHUNK {
            self.flush_raw();
        }
    }

    fn write(&mut self, bytes: &[u8]) {
        if self.err.is_none() {
            if let Err(e) = self.out.write_all(bytes) {
                self.err = Some(e);
            }
        }
    }

    fn flush_raw(&mut self) {
        let raw = std::mem::take(&mut self.raw);
        for chunk in raw.chunks(RAW_CHUNK) {
            self.write(&[RAW]);
            self.write(&(chunk.len() as u32).to_le_bytes());
            self.write(chunk);
        }
    }

    /// Whether writing `path` (not a directory) replaces something written before, or
    /// something below it: then an earlier entry's contents are gone from the layer.
    fn replaces(&self, path: &[u8]) -> bool {
        let mut below = path.to_vec();
        below.push(b'/');
        let mut end = path.to_vec();
        end.push(b'/' + 1);
        self.written.contains(path) || self.written.range(below..end).next().is_some()
    }

    /// A directory entry at `path`.
    pub fn dir(&mut self, path: &[u8]) {
        if self.written.contains(path) {
            self.usable = false;
        }
    }

    /// An entry at `path` that is neither a directory nor a file with contents (links,
    /// devices, whiteouts, empty files).
    pub fn other(&mut self, path: &[u8]) {
        if self.replaces(path) {
            self.usable = false;
        }
        self.written.insert(path.to_vec());
    }

    /// A regular file at `path` whose `size` bytes of contents start at `offset` of the
    /// stream; called before they are read.
    pub fn file(&mut self, path: &[u8], offset: u64, size: u64) {
        if size == 0 {
            return self.other(path);
        }
        if offset != self.pos || self.replaces(path) {
            self.usable = false;
        }
        self.written.insert(path.to_vec());
        if !self.usable {
            return;
        }
        self.flush_raw();
        self.write(&[CONTENT]);
        self.write(&size.to_le_bytes());
        self.write(&(path.len() as u32).to_le_bytes());
        self.write(path);
        self.skip = Some((offset, offset + size));
    }

    /// Something the record cannot replay (GNU sparse files).
    pub fn unusable(&mut self) {
        self.usable = false;
    }

    /// Ends the record once the whole stream went through: `Ok(true)` when it is complete
    /// and replays the tar, `Ok(false)` when the tar itself must be kept instead.
    pub fn finish(shared: SharedRecorder) -> io::Result<bool> {
        let Ok(cell) = Rc::try_unwrap(shared) else {
            return Err(io::Error::other("tar-split recorder still shared"));
        };
        let mut rec = cell.into_inner();
        if !rec.usable {
            return Ok(false);
        }
        rec.flush_raw();
        rec.write(&[END]);
        if let Some(e) = rec.err.take() {
            return Err(e);
        }
        let w = rec.out.finish()?;
        let f = w.into_inner().map_err(|e| e.into_error())?;
        f.sync_all()?;
        Ok(true)
    }
}

/// Passes a tar stream through to the parser, showing every byte to the [`Recorder`].
pub struct SplitReader<R> {
    inner: R,
    rec: SharedRecorder,
}

impl<R: Read> SplitReader<R> {
    /// Wraps the uncompressed tar stream.
    pub fn new(inner: R, rec: SharedRecorder) -> Self {
        SplitReader { inner, rec }
    }
}

impl<R: Read> Read for SplitReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.rec.borrow_mut().saw(&buf[..n]);
        Ok(n)
    }
}

/// What [`TarFromSplit`] is in the middle of.
enum Part {
    Raw(u64),
    Content(File, u64, PathBuf),
    Done,
}

/// The layer's tar, replayed from its tar-split and its unpacked files; an error at the
/// end when the result is not the tar whose digest is `diff_id`.
pub struct TarFromSplit {
    split: flate2::read::GzDecoder<BufReader<File>>,
    root: OwnedFd,
    part: Part,
    hasher: Hasher,
    diff_id: Digest,
}

impl TarFromSplit {
    /// Opens the tar-split `split` of the layer unpacked in `diff`.
    pub fn open(split: &Path, diff: &Path, diff_id: Digest) -> io::Result<TarFromSplit> {
        let f = File::open(split)?;
        let root = rfs::open(
            diff,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        Ok(TarFromSplit {
            split: flate2::read::GzDecoder::new(BufReader::new(f)),
            root,
            part: Part::Raw(0),
            hasher: Hasher::default(),
            diff_id,
        })
    }

    fn next_part(&mut self) -> io::Result<Part> {
        let mut tag = [0u8; 1];
        self.split.read_exact(&mut tag)?;
        match tag[0] {
            RAW => {
                let mut len = [0u8; 4];
                self.split.read_exact(&mut len)?;
                Ok(Part::Raw(u32::from_le_bytes(len) as u64))
            }
            CONTENT => {
                let mut size = [0u8; 8];
                self.split.read_exact(&mut size)?;
                let size = u64::from_le_bytes(size);
                let mut len = [0u8; 4];
                self.split.read_exact(&mut len)?;
                let len = u32::from_le_bytes(len) as usize;
                if len > 1 << 20 {
                    return Err(io::Error::other("tar-split: path too long"));
                }
                let mut path = vec![0u8; len];
                self.split.read_exact(&mut path)?;
                let path = PathBuf::from(std::ffi::OsStr::from_bytes(&path));
                let fd = rfs::openat2(
                    &self.root,
                    &path,
                    OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                    Mode::empty(),
                    ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS,
                )
                .map_err(|e| io::Error::other(format!("layer file {}: {e}", path.display())))?;
                let st = rfs::fstat(&fd)?;
                if FileType::from_raw_mode(st.st_mode) != FileType::RegularFile
                    || st.st_size as u64 != size
                {
                    return Err(io::Error::other(format!(
                        "layer file {} changed since the layer was unpacked",
                        path.display()
                    )));
                }
                Ok(Part::Content(File::from(fd), size, path))
            }
            END => {
                let hasher = std::mem::take(&mut self.hasher);
                let got = hasher.finish();
                if got != self.diff_id {
                    return Err(io::Error::other(format!(
                        "the layer's tar rebuilt from its files is {got}, not {}",
                        self.diff_id
                    )));
                }
                Ok(Part::Done)
            }
            t => Err(io::Error::other(format!("tar-split: unknown record {t}"))),
        }
    }
}

impl Read for TarFromSplit {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            let n = match &mut self.part {
                Part::Done => return Ok(0),
                Part::Raw(0) | Part::Content(_, 0, _) => {
                    self.part = self.next_part()?;
                    continue;
                }
                Part::Raw(left) => {
                    let want = (*left).min(buf.len() as u64) as usize;
                    self.split.read_exact(&mut buf[..want])?;
                    *left -= want as u64;
                    want
                }
                Part::Content(f, left, path) => {
                    let want = (*left).min(buf.len() as u64) as usize;
                    let n = f.read(&mut buf[..want])?;
                    if n == 0 {
                        return Err(io::Error::other(format!(
                            "layer file {} is shorter than in the layer",
                            path.display()
                        )));
                    }
                    *left -= n as u64;
                    n
                }
            };
            self.hasher.update(&buf[..n]);
            return Ok(n);
        }
    }
}
