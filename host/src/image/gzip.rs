//! gzip on every core, with output that does not depend on how many there
//! are: pigz's scheme. The input is cut into fixed 1 MiB chunks; each is
//! deflated on its own, primed with the 32 KiB before it as dictionary, and
//! ends in a sync flush (the last one finishes the stream), so the raw
//! streams concatenate into one valid deflate stream. Compressing the patch
//! layer was a quarter of a 40-upgrade apply on one core.
//!
//! Hand-written because the crate that does this (gzp) brings its own
//! thread pool and a C zlib by default; this is flate2's `Compress` and
//! `Crc` on rayon, which the host has already.

use flate2::{Compress, Compression, Crc, FlushCompress, Status};

/// Bytes per independently deflated chunk (pigz uses 128 KiB; larger
/// chunks lose less ratio at the seams).
const CHUNK: usize = 1 << 20;
/// Deflate's window: what a chunk may refer back to.
const WINDOW: usize = 32 * 1024;

/// A gzip member of `data` (mtime 0, OS unknown, as `GzBuilder` writes it),
/// compressed on rayon's threads; the same bytes for any number of them.
pub fn gzip(data: &[u8], level: Compression) -> std::io::Result<Vec<u8>> {
    use rayon::prelude::*;
    let chunks: Vec<&[u8]> = if data.is_empty() {
        vec![data]
    } else {
        data.chunks(CHUNK).collect()
    };
    let parts: Vec<std::io::Result<Vec<u8>>> = (0..chunks.len())
        .into_par_iter()
        .map(|i| {
            let dict = &data[(i * CHUNK).saturating_sub(WINDOW)..i * CHUNK];
            deflate(chunks[i], dict, level, i + 1 == chunks.len())
        })
        .collect();
    let mut crc = Crc::new();
    crc.update(data);
    let mut out = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, xfl(level), 255];
    for part in parts {
        out.extend_from_slice(&part?);
    }
    out.extend_from_slice(&crc.sum().to_le_bytes());
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    Ok(out)
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

/// One chunk as raw deflate, ending in a sync flush or, if `last`, the
/// stream's end.
fn deflate(chunk: &[u8], dict: &[u8], level: Compression, last: bool) -> std::io::Result<Vec<u8>> {
    let io = |e: flate2::CompressError| std::io::Error::other(e);
    let mut c = Compress::new(level, false);
    if !dict.is_empty() {
        c.set_dictionary(dict).map_err(io)?;
    }
    let flush = if last {
        FlushCompress::Finish
    } else {
        FlushCompress::Sync
    };
    let mut out = Vec::with_capacity(chunk.len() / 2 + 1024);
    loop {
        if out.capacity() - out.len() < 1024 {
            out.reserve(out.capacity().max(64 * 1024));
        }
        let at = c.total_in() as usize;
        let status = c.compress_vec(&chunk[at..], &mut out, flush).map_err(io)?;
        // A flush is complete once it returns with output space left over.
        let flushed = c.total_in() as usize == chunk.len() && out.len() < out.capacity();
        match status {
            Status::StreamEnd => return Ok(out),
            Status::Ok | Status::BufError if !last && flushed => return Ok(out),
            Status::Ok | Status::BufError => {}
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
                pool.install(|| gzip(&data, Compression::default()).unwrap())
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
        let ours = gzip(&data, Compression::default()).unwrap().len();
        let mut e = flate2::write::GzEncoder::new(Vec::new(), Compression::default());
        std::io::Write::write_all(&mut e, &data).unwrap();
        let whole = e.finish().unwrap().len();
        assert!(ours <= whole + whole / 100, "{ours} against {whole}");
    }
}
