//! gzip on every core, with output that does not depend on how many there
//! are, nor on what was compressed ahead of time: pigz's scheme, with seams
//! at big files.
//!
//! The input is cut into pieces of at most 1 MiB. Each is deflated on its
//! own, primed with the 32 KiB before it as dictionary, and ends in a sync
//! flush; an empty final block ends the stream. So the raw streams
//! concatenate into one valid deflate stream, and each piece is a pure
//! function of its bytes and its dictionary.
//!
//! A big file's contents (a [`Span`]) start a new piece with no dictionary,
//! and its later pieces take their dictionary from the file itself. Its
//! pieces then depend on the file's bytes alone, so [`Ahead`] can deflate
//! them on a spare core while recipes still run, before the layer's order
//! is known. Compressing the patch layer was a third of a 40-upgrade apply.
//!
//! Hand-written because the crate that does this (gzp) brings its own
//! thread pool and a C zlib by default, and none seams at given ranges;
//! this is flate2's `Compress` and `Crc` on rayon, which the host has
//! already.

use crate::journal::Sha256Hex;
use flate2::{Compress, Compression, Crc, FlushCompress};
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Condvar, Mutex};

/// Bytes per independently deflated piece (pigz uses 128 KiB; larger
/// pieces lose less ratio at the seams).
const CHUNK: usize = 1 << 20;
/// Deflate's window: what a piece may refer back to.
const WINDOW: usize = 32 * 1024;
/// Contents at least this long are worth a seam of their own.
pub const SPAN_MIN: usize = 64 * 1024;
/// A final, empty fixed-Huffman block: what ends the stream after the last
/// sync flush (as pigz ends it).
const LAST_BLOCK: [u8; 2] = [0x03, 0x00];

/// A file's contents inside the data to compress, deflated from a seam of
/// its own.
#[derive(Clone, Debug)]
pub struct Span {
    /// Offset of the contents in the data.
    pub start: usize,
    /// Their length (at least [`SPAN_MIN`]).
    pub len: usize,
    /// Their sha256, under which [`Ahead`] may hold them deflated.
    pub sha256: Sha256Hex,
}

/// A gzip member of `data` (mtime 0, OS unknown, as `GzBuilder` writes it),
/// compressed on rayon's threads, with seams at `spans` (sorted, disjoint).
/// The same bytes for any number of threads and whatever `ahead` holds.
pub fn gzip(
    data: &[u8],
    spans: &[Span],
    level: Compression,
    ahead: Option<&Ahead>,
) -> std::io::Result<Vec<u8>> {
    use rayon::prelude::*;
    let mut done: HashMap<usize, Vec<Vec<u8>>> = HashMap::new();
    // Pieces deflated at another level would be other bytes.
    if let Some(a) = ahead.filter(|a| a.shared.level == level) {
        a.close();
        for (i, s) in spans.iter().enumerate() {
            if let Some(p) = a.take(&s.sha256) {
                done.insert(i, p);
            }
        }
    }
    let mut pieces = Vec::new();
    let mut at = 0;
    for (i, s) in spans.iter().enumerate() {
        assert!(
            s.start >= at && s.start + s.len <= data.len(),
            "spans are sorted and inside"
        );
        glue(data, &mut pieces, at, s.start);
        let own = &data[s.start..s.start + s.len];
        match done.remove(&i) {
            Some(p) => pieces.push(Piece::Ready(p)),
            None => pieces.extend(own_pieces(own).map(|(c, d)| Piece::Raw(c, d))),
        }
        at = s.start + s.len;
    }
    glue(data, &mut pieces, at, data.len());
    // The checksum runs beside the deflating.
    let (parts, crc) = rayon::join(
        || -> Vec<std::io::Result<Vec<Vec<u8>>>> {
            pieces
                .into_par_iter()
                .map(|p| match p {
                    Piece::Raw(chunk, dict) => deflate(chunk, dict, level).map(|d| vec![d]),
                    Piece::Ready(p) => Ok(p),
                })
                .collect()
        },
        || {
            let mut crc = Crc::new();
            crc.update(data);
            crc
        },
    );
    let mut out = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, xfl(level), 255];
    for part in parts {
        for p in part? {
            out.extend_from_slice(&p);
        }
    }
    out.extend_from_slice(&LAST_BLOCK);
    out.extend_from_slice(&crc.sum().to_le_bytes());
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    Ok(out)
}

/// A piece: its bytes and its dictionary, or a span deflated ahead.
enum Piece<'a> {
    Raw(&'a [u8], &'a [u8]),
    Ready(Vec<Vec<u8>>),
}

/// The pieces of `data[from..to]`, outside any span: primed with whatever
/// precedes them.
fn glue<'a>(data: &'a [u8], pieces: &mut Vec<Piece<'a>>, from: usize, to: usize) {
    for s in (from..to).step_by(CHUNK) {
        let dict = &data[s.saturating_sub(WINDOW)..s];
        pieces.push(Piece::Raw(&data[s..to.min(s + CHUNK)], dict));
    }
}

/// A span's pieces and their dictionaries, taken from the span alone.
fn own_pieces(own: &[u8]) -> impl Iterator<Item = (&[u8], &[u8])> {
    (0..own.len()).step_by(CHUNK).map(move |s| {
        let dict = &own[s.saturating_sub(WINDOW)..s];
        (&own[s..own.len().min(s + CHUNK)], dict)
    })
}

/// A span's contents deflated as [`gzip`] deflates them.
fn deflate_own(own: &[u8], level: Compression) -> std::io::Result<Vec<Vec<u8>>> {
    own_pieces(own).map(|(c, d)| deflate(c, d, level)).collect()
}

/// Big contents deflated on one background thread while recipes run, for
/// [`gzip`] to take as its spans' pieces. Only a saving: whatever it has
/// not finished when the layer is built is deflated then, to the same bytes.
pub struct Ahead {
    shared: Arc<Shared>,
    worker: Option<std::thread::JoinHandle<()>>,
}

/// How a span is deflated: `deflate_own`, or in tests one that fails.
type Deflater = fn(&[u8], Compression) -> std::io::Result<Vec<Vec<u8>>>;

struct Shared {
    level: Compression,
    deflate: Deflater,
    state: Mutex<AheadState>,
    changed: Condvar,
}

#[derive(Default)]
struct AheadState {
    queue: VecDeque<(Sha256Hex, Arc<[u8]>)>,
    slots: HashMap<Sha256Hex, Slot>,
    closed: bool,
}

enum Slot {
    Queued,
    Running,
    Done(Vec<Vec<u8>>),
    Failed,
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, AheadState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn work(&self) {
        let mut st = self.lock();
        while !st.closed {
            let Some((sha, bytes)) = st.queue.pop_front() else {
                st = self.changed.wait(st).unwrap_or_else(|e| e.into_inner());
                continue;
            };
            st.slots.insert(sha.clone(), Slot::Running);
            drop(st);
            // A failure (even a panic) only means `gzip` deflates it again,
            // and reports it; a waiter must never be left waiting.
            let run = std::panic::AssertUnwindSafe(|| (self.deflate)(&bytes, self.level));
            let slot = match std::panic::catch_unwind(run) {
                Ok(Ok(p)) => Slot::Done(p),
                Ok(Err(_)) | Err(_) => Slot::Failed,
            };
            st = self.lock();
            st.slots.insert(sha, slot);
            self.changed.notify_all();
        }
    }
}

impl Ahead {
    /// Start the background thread. Without one, nothing is done ahead.
    pub fn new(level: Compression) -> Self {
        Self::with(level, deflate_own)
    }

    fn with(level: Compression, deflate: Deflater) -> Self {
        let shared = Arc::new(Shared {
            level,
            deflate,
            state: Mutex::default(),
            changed: Condvar::new(),
        });
        let s = shared.clone();
        let worker = std::thread::Builder::new()
            .name("gzip-ahead".into())
            .spawn(move || s.work())
            .ok();
        Self { shared, worker }
    }

    /// Deflate `bytes` (whose sha256 is `sha256`) in the background, if it
    /// is long enough to be a span.
    pub fn offer(&self, sha256: &Sha256Hex, bytes: &Arc<[u8]>) {
        if bytes.len() < SPAN_MIN || self.worker.is_none() {
            return;
        }
        let mut st = self.shared.lock();
        if st.closed || st.slots.contains_key(sha256) {
            return;
        }
        st.slots.insert(sha256.clone(), Slot::Queued);
        st.queue.push_back((sha256.clone(), bytes.clone()));
        drop(st);
        self.shared.changed.notify_all();
    }

    /// Start nothing more: the caller deflates what is still queued.
    fn close(&self) {
        let mut st = self.shared.lock();
        st.closed = true;
        st.queue.clear();
        drop(st);
        self.shared.changed.notify_all();
    }

    /// The pieces of the contents with `sha256`, waiting while they are
    /// being deflated; `None` if they never were.
    fn take(&self, sha256: &Sha256Hex) -> Option<Vec<Vec<u8>>> {
        let mut st = self.shared.lock();
        loop {
            match st.slots.get(sha256) {
                Some(Slot::Running) => {
                    st = (self.shared.changed.wait(st)).unwrap_or_else(|e| e.into_inner());
                }
                Some(Slot::Done(p)) => return Some(p.clone()),
                Some(Slot::Queued | Slot::Failed) | None => return None,
            }
        }
    }
}

#[cfg(test)]
impl Ahead {
    /// Wait until everything offered is deflated.
    fn settle(&self) {
        let mut st = self.shared.lock();
        while !st.queue.is_empty() || st.slots.values().any(|s| matches!(s, Slot::Running)) {
            st = (self.shared.changed.wait(st)).unwrap_or_else(|e| e.into_inner());
        }
    }
}

impl Drop for Ahead {
    fn drop(&mut self) {
        self.close();
        if let Some(w) = self.worker.take() {
            let _ = w.join();
        }
    }
}

/// gzip's XFL byte for `level`, as flate2's `GzBuilder` sets it.
fn xfl(level: Compression) -> u8 {
    if level.level() >= Compression::best().level() {
        2
    } else if level.level() <= Compression::fast().level() {
        4
    } else {
        0
    }
}

/// One piece as raw deflate, ending in a sync flush.
fn deflate(chunk: &[u8], dict: &[u8], level: Compression) -> std::io::Result<Vec<u8>> {
    let io = |e: flate2::CompressError| std::io::Error::other(e);
    let mut c = Compress::new(level, false);
    if !dict.is_empty() {
        c.set_dictionary(dict).map_err(io)?;
    }
    let mut out = Vec::with_capacity(chunk.len() / 2 + 1024);
    loop {
        if out.capacity() - out.len() < 1024 {
            out.reserve(out.capacity().max(64 * 1024));
        }
        let at = c.total_in() as usize;
        c.compress_vec(&chunk[at..], &mut out, FlushCompress::Sync)
            .map_err(io)?;
        // A flush is complete once it returns with output space left over.
        if c.total_in() as usize == chunk.len() && out.len() < out.capacity() {
            return Ok(out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn gunzip(gz: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(gz)
            .read_to_end(&mut out)
            .unwrap();
        out
    }

    /// Compressible but not trivially so: text-like with repeats across
    /// chunk seams.
    fn sample(len: usize) -> Vec<u8> {
        let mut x: u32 = 1;
        (0..len)
            .map(|i| {
                x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                if (i / 5000) % 3 == 0 {
                    b"abcdefghij"[i % 10]
                } else {
                    b'a' + (x >> 16) as u8 % 26
                }
            })
            .collect()
    }

    #[test]
    fn round_trips_and_ignores_the_thread_count() {
        for len in [0, 1, 1000, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK + 12_345] {
            let data = sample(len);
            let on = |threads: usize| {
                let pool = rayon::ThreadPoolBuilder::new()
                    .num_threads(threads)
                    .build()
                    .unwrap();
                pool.install(|| {
                    gzip(&data, &with_spans(&data), Compression::default(), None).unwrap()
                })
            };
            let one = on(1);
            assert_eq!(gunzip(&one), data, "len {len}");
            for threads in [2, 3, 8] {
                assert_eq!(on(threads), one, "len {len}, {threads} threads");
            }
        }
    }

    #[test]
    fn the_ratio_stays_close_to_one_stream() {
        let data = sample(4 * CHUNK);
        let ours = gzip(&data, &[], Compression::default(), None)
            .unwrap()
            .len();
        let mut e = flate2::write::GzEncoder::new(Vec::new(), Compression::default());
        std::io::Write::write_all(&mut e, &data).unwrap();
        let whole = e.finish().unwrap().len();
        assert!(ours <= whole + whole / 100, "{ours} against {whole}");
    }
    /// `data` with spans over some stretches of it, as the layer has them.
    fn with_spans(data: &[u8]) -> Vec<Span> {
        let mut spans = Vec::new();
        let mut at = 100;
        for len in [SPAN_MIN, CHUNK + 7, 3 * CHUNK - 5, SPAN_MIN + 1] {
            if at + len > data.len() {
                break;
            }
            let bytes = &data[at..at + len];
            spans.push(Span {
                start: at,
                len,
                sha256: Sha256Hex::of(bytes),
            });
            at += len + 1000;
        }
        spans
    }

    #[test]
    fn spans_deflated_ahead_give_the_same_bytes() {
        let data = sample(7 * CHUNK + 3);
        let spans = with_spans(&data);
        assert_eq!(spans.len(), 4);
        let level = Compression::default();
        let plain = gzip(&data, &spans, level, None).unwrap();
        assert_eq!(gunzip(&plain), data);
        // Every span deflated ahead; some; none offered at all.
        for offered in [spans.len(), 2, 0] {
            let ahead = Ahead::new(level);
            for s in &spans[..offered] {
                ahead.offer(&s.sha256, &Arc::from(&data[s.start..s.start + s.len]));
            }
            ahead.settle();
            assert_eq!(gzip(&data, &spans, level, Some(&ahead)).unwrap(), plain);
        }
        // Offered but not yet started when the layer is built: deflated then.
        let ahead = Ahead::new(level);
        for s in &spans {
            ahead.offer(&s.sha256, &Arc::from(&data[s.start..s.start + s.len]));
        }
        assert_eq!(gzip(&data, &spans, level, Some(&ahead)).unwrap(), plain);
        // Deflated at another level: not used.
        let other = Ahead::new(Compression::best());
        for s in &spans {
            other.offer(&s.sha256, &Arc::from(&data[s.start..s.start + s.len]));
        }
        other.settle();
        assert_eq!(gzip(&data, &spans, level, Some(&other)).unwrap(), plain);
        // Seams cost little.
        let none = gzip(&data, &[], level, None).unwrap();
        assert!(plain.len() <= none.len() + none.len() / 100);
    }

    /// A deflate that fails or panics on the thread leaves nothing waiting
    /// and nothing wrong: `gzip` deflates those spans itself.
    #[test]
    fn a_failing_or_panicking_thread_costs_only_time() {
        let data = sample(7 * CHUNK + 3);
        let spans = with_spans(&data);
        let level = Compression::default();
        let plain = gzip(&data, &spans, level, None).unwrap();
        let fails: Deflater = |_, _| Err(std::io::Error::other("refused"));
        let panics: Deflater = |_, _| panic!("deflate panicked");
        for deflater in [fails, panics] {
            let ahead = Ahead::with(level, deflater);
            for s in &spans {
                ahead.offer(&s.sha256, &Arc::from(&data[s.start..s.start + s.len]));
            }
            ahead.settle();
            assert!(spans.iter().all(|s| ahead.take(&s.sha256).is_none()));
            // The thread is still there for the next offer.
            assert!(ahead.worker.as_ref().is_some_and(|w| !w.is_finished()));
            assert_eq!(gzip(&data, &spans, level, Some(&ahead)).unwrap(), plain);
        }
    }

    #[test]
    fn short_contents_are_not_deflated_ahead() {
        let ahead = Ahead::new(Compression::default());
        let short: Arc<[u8]> = Arc::from(&sample(SPAN_MIN - 1)[..]);
        let sha = Sha256Hex::of(&short);
        ahead.offer(&sha, &short);
        ahead.settle();
        assert!(ahead.take(&sha).is_none());
    }
}
