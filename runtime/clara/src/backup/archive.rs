//! A backup's archive: the snapshot gzip-compressed and, when asked, sealed in chunks with
//! the secret key (each chunk bound to the backup, its place and whether it is the last, so
//! chunks cannot be dropped, reordered or swapped between backups). Packing gives the SHA-256
//! of the archive; unpacking checks it, and gzip's own checksum, before anything is used.

use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::Path;

use flate2::Compression;
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;

use crate::connections::SecretKey;

/// The first bytes of a sealed archive.
const SEALED_MAGIC: &[u8] = b"CLARA-SEALED-1\n";

/// Plain bytes per sealed chunk.
const CHUNK: usize = 1 << 20;

/// What sealing an archive needs: the key, and the backup's id the chunks are bound to.
#[derive(Clone, Copy)]
pub struct Seal<'a> {
    /// The key of `[runtime] secret_key_env`.
    pub key: &'a SecretKey,
    /// The backup's id.
    pub id: &'a str,
}

/// An archive as packed: its size and SHA-256 (hex).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packed {
    /// Bytes.
    pub bytes: u64,
    /// SHA-256 of the archive, lowercase hex.
    pub sha256: String,
}

/// Writes the archive of `snapshot` to `out`.
pub fn pack(snapshot: &Path, out: &Path, seal: Option<Seal<'_>>) -> std::io::Result<Packed> {
    let mut input = BufReader::new(File::open(snapshot)?);
    let hashed = HashingWriter::new(BufWriter::new(File::create(out)?));
    let hashed = match seal {
        None => {
            let mut gz = GzEncoder::new(hashed, Compression::default());
            std::io::copy(&mut input, &mut gz)?;
            gz.finish()?
        }
        Some(seal) => {
            let sealer = Sealer::new(hashed, seal)?;
            let mut gz = GzEncoder::new(sealer, Compression::default());
            std::io::copy(&mut input, &mut gz)?;
            gz.finish()?.finish()?
        }
    };
    let (mut writer, packed) = hashed.done();
    writer.flush()?;
    writer.into_inner()?.sync_all()?;
    Ok(packed)
}

/// The SHA-256 (hex) and size of the file at `path`.
pub fn digest(path: &Path) -> std::io::Result<Packed> {
    let mut hashed = HashingWriter::new(std::io::sink());
    std::io::copy(&mut BufReader::new(File::open(path)?), &mut hashed)?;
    Ok(hashed.done().1)
}

/// Writes the snapshot in `archive` to `out`, once the archive's SHA-256 is `expected`. A
/// sealed archive needs `seal`; one that was altered or cut short is refused.
pub fn unpack(
    archive: &Path,
    out: &Path,
    expected: &str,
    seal: Option<Seal<'_>>,
) -> Result<(), String> {
    let found = digest(archive).map_err(|e| format!("cannot read the archive: {e}"))?;
    if found.sha256 != expected {
        return Err(format!(
            "the archive is damaged: its SHA-256 is {}, its description says {expected}",
            found.sha256
        ));
    }
    let mut file = BufReader::new(File::open(archive).map_err(|e| e.to_string())?);
    let mut magic = vec![0; SEALED_MAGIC.len()];
    let sealed = file.read_exact(&mut magic).is_ok() && magic == SEALED_MAGIC;
    let file = BufReader::new(File::open(archive).map_err(|e| e.to_string())?);
    let mut output = BufWriter::new(File::create(out).map_err(|e| e.to_string())?);
    let copied = match (sealed, seal) {
        (false, None) => std::io::copy(&mut GzDecoder::new(file), &mut output),
        (false, Some(_)) => {
            return Err(
                "its description says it is encrypted and the archive is not: it was replaced"
                    .to_owned(),
            );
        }
        (true, Some(seal)) => {
            let opener = Opener::new(file, seal).map_err(|e| e.to_string())?;
            std::io::copy(&mut GzDecoder::new(opener), &mut output)
        }
        (true, None) => {
            return Err(
                "the archive is encrypted: set [runtime] secret_key_env to the key it was made with"
                    .to_owned(),
            );
        }
    };
    copied.map_err(|e| format!("the archive does not unpack: {e}"))?;
    output
        .into_inner()
        .map_err(|e| e.to_string())?
        .sync_all()
        .map_err(|e| e.to_string())?;
    Ok(())
}

/// Passes bytes on, hashing and counting them.
struct HashingWriter<W> {
    inner: W,
    context: ring::digest::Context,
    bytes: u64,
}

impl<W: Write> HashingWriter<W> {
    fn new(inner: W) -> Self {
        HashingWriter {
            inner,
            context: ring::digest::Context::new(&ring::digest::SHA256),
            bytes: 0,
        }
    }

    fn done(self) -> (W, Packed) {
        let sha256 = self
            .context
            .finish()
            .as_ref()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        (
            self.inner,
            Packed {
                bytes: self.bytes,
                sha256,
            },
        )
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.context.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// What chunk `index` of backup `id` is bound to.
fn chunk_owner(id: &str, index: u64, last: bool) -> String {
    format!(
        "backup {id} chunk {index} {}",
        if last { "last" } else { "more" }
    )
}

/// Seals what is written in chunks: `[length: u32 BE][sealed chunk]` after the magic.
struct Sealer<'a, W: Write> {
    inner: W,
    seal: Seal<'a>,
    pending: Vec<u8>,
    index: u64,
}

impl<'a, W: Write> Sealer<'a, W> {
    fn new(mut inner: W, seal: Seal<'a>) -> std::io::Result<Self> {
        inner.write_all(SEALED_MAGIC)?;
        Ok(Sealer {
            inner,
            seal,
            pending: Vec::with_capacity(CHUNK),
            index: 0,
        })
    }

    fn emit(&mut self, plain: &[u8], last: bool) -> std::io::Result<()> {
        let owner = chunk_owner(self.seal.id, self.index, last);
        let sealed = self.seal.key.seal(plain, &owner);
        let length = u32::try_from(sealed.len()).map_err(std::io::Error::other)?;
        self.inner.write_all(&length.to_be_bytes())?;
        self.inner.write_all(&sealed)?;
        self.index += 1;
        Ok(())
    }

    /// Seals what is left as the last chunk.
    fn finish(mut self) -> std::io::Result<W> {
        let pending = std::mem::take(&mut self.pending);
        self.emit(&pending, true)?;
        Ok(self.inner)
    }
}

impl<W: Write> Write for Sealer<'_, W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        // A full chunk is sealed only when more follows, so the last one is known.
        if self.pending.len() == CHUNK {
            let full = std::mem::replace(&mut self.pending, Vec::with_capacity(CHUNK));
            self.emit(&full, false)?;
        }
        let n = buf.len().min(CHUNK - self.pending.len());
        self.pending.extend_from_slice(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// Opens a sealed archive chunk by chunk.
struct Opener<'a, R: Read> {
    inner: R,
    seal: Seal<'a>,
    plain: Vec<u8>,
    at: usize,
    index: u64,
    ended: bool,
}

impl<'a, R: Read> Opener<'a, R> {
    fn new(mut inner: R, seal: Seal<'a>) -> std::io::Result<Self> {
        let mut magic = vec![0; SEALED_MAGIC.len()];
        inner.read_exact(&mut magic)?;
        Ok(Opener {
            inner,
            seal,
            plain: Vec::new(),
            at: 0,
            index: 0,
            ended: false,
        })
    }

    fn next_chunk(&mut self) -> std::io::Result<()> {
        let refused =
            |why: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, why.to_owned());
        let mut length = [0u8; 4];
        if let Err(e) = self.inner.read_exact(&mut length) {
            return Err(if e.kind() == std::io::ErrorKind::UnexpectedEof {
                refused("the archive was cut short")
            } else {
                e
            });
        }
        let mut sealed = vec![0; u32::from_be_bytes(length) as usize];
        self.inner.read_exact(&mut sealed)?;
        let key = self.seal.key;
        let (plain, last) = match key.open(&sealed, &chunk_owner(self.seal.id, self.index, false)) {
            Ok(plain) => (plain, false),
            Err(_) => match key.open(&sealed, &chunk_owner(self.seal.id, self.index, true)) {
                Ok(plain) => (plain, true),
                Err(_) => {
                    return Err(refused(
                        "a chunk does not open: another key, another backup's archive, or an altered one",
                    ));
                }
            },
        };
        if last {
            let mut rest = [0u8; 1];
            if self.inner.read(&mut rest)? != 0 {
                return Err(refused("the archive goes on after its last chunk"));
            }
        }
        self.plain = plain;
        self.at = 0;
        self.index += 1;
        self.ended = last;
        Ok(())
    }
}

impl<R: Read> Read for Opener<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.at == self.plain.len() {
            if self.ended {
                return Ok(0);
            }
            self.next_chunk()?;
        }
        let n = buf.len().min(self.plain.len() - self.at);
        buf[..n].copy_from_slice(&self.plain[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> SecretKey {
        SecretKey::from_secret("a backup key long enough").unwrap()
    }

    fn bytes(n: usize) -> Vec<u8> {
        (0..n).map(|i| (i * 7 % 251) as u8).collect()
    }

    #[test]
    fn archives_round_trip_plain_and_sealed_and_refuse_damage() {
        let dir = tempfile::tempdir().unwrap();
        let snapshot = dir.path().join("snap");
        let data = bytes(3 * CHUNK + 17);
        std::fs::write(&snapshot, &data).unwrap();
        let key = key();
        let seal = Seal {
            key: &key,
            id: "main-1",
        };
        for sealing in [None, Some(seal)] {
            let archive = dir.path().join("archive");
            let packed = pack(&snapshot, &archive, sealing).unwrap();
            assert_eq!(packed, digest(&archive).unwrap());
            let out = dir.path().join("out");
            unpack(&archive, &out, &packed.sha256, sealing).unwrap();
            assert_eq!(std::fs::read(&out).unwrap(), data);
            // A flipped byte is caught by the digest before anything is unpacked.
            let mut altered = std::fs::read(&archive).unwrap();
            let middle = altered.len() / 2;
            altered[middle] ^= 1;
            std::fs::write(&archive, &altered).unwrap();
            let refused = unpack(&archive, &out, &packed.sha256, sealing).unwrap_err();
            assert!(refused.contains("damaged"), "{refused}");
        }
    }

    #[test]
    fn a_sealed_archive_needs_its_key_its_backup_and_all_its_chunks() {
        let dir = tempfile::tempdir().unwrap();
        let snapshot = dir.path().join("snap");
        std::fs::write(&snapshot, bytes(2 * CHUNK + 5)).unwrap();
        let key = key();
        let archive = dir.path().join("archive");
        let packed = pack(
            &snapshot,
            &archive,
            Some(Seal {
                key: &key,
                id: "main-1",
            }),
        )
        .unwrap();
        let out = dir.path().join("out");
        let without = unpack(&archive, &out, &packed.sha256, None).unwrap_err();
        assert!(without.contains("encrypted"), "{without}");
        let other = SecretKey::from_secret("another key long enough").unwrap();
        let wrong = unpack(
            &archive,
            &out,
            &packed.sha256,
            Some(Seal {
                key: &other,
                id: "main-1",
            }),
        );
        assert!(wrong.unwrap_err().contains("does not open"));
        let moved = unpack(
            &archive,
            &out,
            &packed.sha256,
            Some(Seal {
                key: &key,
                id: "main-2",
            }),
        );
        assert!(moved.unwrap_err().contains("does not open"));
        // Dropping the last chunk (and fixing up the digest) is still refused.
        let whole = std::fs::read(&archive).unwrap();
        let mut at = SEALED_MAGIC.len();
        let mut starts = Vec::new();
        while at < whole.len() {
            starts.push(at);
            let length = u32::from_be_bytes(whole[at..at + 4].try_into().unwrap()) as usize;
            at += 4 + length;
        }
        std::fs::write(&archive, &whole[..*starts.last().unwrap()]).unwrap();
        let cut = digest(&archive).unwrap().sha256;
        let short = unpack(
            &archive,
            &out,
            &cut,
            Some(Seal {
                key: &key,
                id: "main-1",
            }),
        );
        assert!(short.unwrap_err().contains("cut short"));
    }
}
