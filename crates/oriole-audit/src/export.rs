//! The export file (`oriole audit export -o FILE`): JSON lines an auditor can
//! verify offline with only the server's public key. Line 1 is a header,
//! then entries in seq order with each checkpoint right after the entry it
//! seals, then an end line with counts. `docs/audit.md` describes it.

use std::borrow::Borrow;
use std::io::{self, BufRead, BufWriter, Read, Write};

use serde::{Deserialize, Serialize};

use crate::checkpoint::{AuditPublicKey, Checkpoint};
use crate::entry::{AuditEntry, EntryHash};
use crate::verify::{verify_from, Verifier, VerifyError, VerifyReport};

/// The `format` every export header carries.
pub const FORMAT: &str = "oriole-audit-export";
/// The only version this crate writes and reads.
pub const VERSION: u32 = 1;
/// No line in a valid export comes near this (entries are a few KiB at
/// most); a longer line is refused rather than read into memory.
pub const MAX_LINE_BYTES: usize = 1 << 20;

/// Line 1 of an export.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExportHeader {
    /// Always [`FORMAT`].
    pub format: String,
    /// Always [`VERSION`] for this crate.
    pub version: u32,
    /// When the export was taken: milliseconds since the Unix epoch, UTC.
    pub exported_at: i64,
    /// Seq of the first entry: 1, unless older entries were removed by
    /// retention, in which case a checkpoint sealing `first_seq - 1` entries
    /// must come before the first entry and anchors the rest.
    pub first_seq: u64,
    /// Entry hash function: `sha256`.
    pub hash: String,
    /// Checkpoint signature scheme: `ed25519`.
    pub signature: String,
}

impl ExportHeader {
    pub fn new(exported_at: i64, first_seq: u64) -> Self {
        ExportHeader {
            format: FORMAT.to_owned(),
            version: VERSION,
            exported_at,
            first_seq,
            hash: "sha256".to_owned(),
            signature: "ed25519".to_owned(),
        }
    }
}

/// The last line: what the writer wrote, so a file cut short (or a line
/// dropped) is noticed even where no checkpoint covers it yet. Not signed:
/// it catches accidents and careless edits, the checkpoints catch the rest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportEnd {
    pub entries: u64,
    pub checkpoints: u64,
    /// Hash of the last entry written; null when there is none.
    pub head_hash: Option<EntryHash>,
}

/// One line after the header.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ExportRecord {
    Entry(AuditEntry),
    Checkpoint(Checkpoint),
    End(ExportEnd),
}

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("reading or writing the export: {0}")]
    Io(#[from] io::Error),
    #[error("not an Oriole audit export: line 1 is not a header with format {FORMAT:?}")]
    NotAnExport,
    #[error("export version {0} is not supported (this verifier reads version {VERSION})")]
    UnsupportedVersion(u32),
    #[error("export uses {0}, this verifier knows sha256 entries and ed25519 checkpoints")]
    UnsupportedAlgorithm(String),
    #[error("line {line}{}: not a valid record ({message}); the line was edited or damaged", seq_suffix(*.seq))]
    Malformed {
        line: u64,
        seq: Option<u64>,
        message: String,
    },
    #[error("line {line}: data after the end line")]
    AfterEnd { line: u64 },
    #[error("the export has no end line: the file was cut short")]
    MissingEnd,
    #[error(
        "the end line says {stated} {what}, the file holds {found}: lines were removed or added"
    )]
    EndMismatch {
        what: &'static str,
        stated: String,
        found: String,
    },
}

fn seq_suffix(seq: Option<u64>) -> String {
    seq.map(|s| format!(" (entry {s})")).unwrap_or_default()
}

/// Reading an export and verifying it, in one error.
#[derive(Debug, thiserror::Error)]
pub enum ExportVerifyError {
    #[error(transparent)]
    Read(#[from] ExportError),
    #[error(transparent)]
    Chain(#[from] VerifyError),
}

/// What [`write_export`] wrote.
pub type ExportSummary = ExportEnd;

/// Write an export: header, entries (in the order given, which must be seq
/// order) with each checkpoint after the entry it seals, then the end line.
pub fn write_export<W, E>(
    out: W,
    exported_at: i64,
    entries: impl IntoIterator<Item = E>,
    checkpoints: &[Checkpoint],
) -> Result<ExportSummary, ExportError>
where
    W: Write,
    E: Borrow<AuditEntry>,
{
    let mut out = BufWriter::new(out);
    let mut entries = entries.into_iter().peekable();
    let first_seq = entries.peek().map_or(1, |e| e.borrow().seq);
    write_line(&mut out, &ExportHeader::new(exported_at, first_seq))?;

    let mut sorted: Vec<&Checkpoint> = checkpoints.iter().collect();
    sorted.sort_by_key(|c| c.count);
    let mut sorted = sorted.into_iter().peekable();
    let mut summary = ExportEnd {
        entries: 0,
        checkpoints: 0,
        head_hash: None,
    };
    let mut put_checkpoint = |out: &mut BufWriter<W>, cp: &Checkpoint| -> Result<(), ExportError> {
        summary.checkpoints += 1;
        write_record(out, "checkpoint", cp)
    };
    // The anchor (and anything older) goes before the first entry.
    while let Some(cp) = sorted.next_if(|c| c.count < first_seq) {
        put_checkpoint(&mut out, cp)?;
    }
    let mut count = 0u64;
    let mut head = None;
    for entry in entries {
        let entry = entry.borrow();
        write_record(&mut out, "entry", entry)?;
        count += 1;
        head = Some(entry.hash);
        while let Some(cp) = sorted.next_if(|c| c.count <= entry.seq) {
            put_checkpoint(&mut out, cp)?;
        }
    }
    for cp in sorted {
        put_checkpoint(&mut out, cp)?;
    }
    summary.entries = count;
    summary.head_hash = head;
    write_line(&mut out, &ExportRecord::End(summary.clone()))?;
    out.flush()?;
    Ok(summary)
}

fn write_line<W: Write>(out: &mut W, value: &impl Serialize) -> Result<(), ExportError> {
    serde_json::to_writer(&mut *out, value).map_err(io::Error::from)?;
    out.write_all(b"\n")?;
    Ok(())
}

/// Writes `{"type":<tag>, ...fields}` without cloning the record into an
/// `ExportRecord`.
fn write_record<W: Write>(
    out: &mut W,
    tag: &str,
    value: &impl Serialize,
) -> Result<(), ExportError> {
    #[derive(Serialize)]
    struct Tagged<'a, T: Serialize> {
        #[serde(rename = "type")]
        tag: &'a str,
        #[serde(flatten)]
        value: &'a T,
    }
    write_line(out, &Tagged { tag, value })
}

/// Reads an export one record at a time, checking the end line. Yields
/// entries and checkpoints; the end line is checked, not yielded.
pub struct ExportReader<R> {
    input: R,
    header: ExportHeader,
    line: u64,
    buf: Vec<u8>,
    entries: u64,
    checkpoints: u64,
    head: Option<EntryHash>,
    ended: bool,
    failed: bool,
}

impl<R: BufRead> ExportReader<R> {
    /// Read and check the header.
    pub fn new(mut input: R) -> Result<Self, ExportError> {
        let mut buf = Vec::new();
        let n = read_bounded_line(&mut input, &mut buf)?;
        if n == 0 {
            return Err(ExportError::NotAnExport);
        }
        let header: ExportHeader =
            serde_json::from_slice(&buf).map_err(|_| ExportError::NotAnExport)?;
        if header.format != FORMAT {
            return Err(ExportError::NotAnExport);
        }
        if header.version != VERSION {
            return Err(ExportError::UnsupportedVersion(header.version));
        }
        if header.hash != "sha256" || header.signature != "ed25519" {
            return Err(ExportError::UnsupportedAlgorithm(format!(
                "{} entries and {} checkpoints",
                header.hash, header.signature
            )));
        }
        Ok(ExportReader {
            input,
            header,
            line: 1,
            buf,
            entries: 0,
            checkpoints: 0,
            head: None,
            ended: false,
            failed: false,
        })
    }

    pub fn header(&self) -> &ExportHeader {
        &self.header
    }

    fn next_record(&mut self) -> Result<Option<ExportRecord>, ExportError> {
        loop {
            self.buf.clear();
            let n = read_bounded_line(&mut self.input, &mut self.buf)?;
            if n == 0 {
                return if self.ended {
                    Ok(None)
                } else {
                    Err(ExportError::MissingEnd)
                };
            }
            self.line += 1;
            if self.ended {
                return Err(ExportError::AfterEnd { line: self.line });
            }
            if n > MAX_LINE_BYTES {
                return Err(ExportError::Malformed {
                    line: self.line,
                    seq: None,
                    message: format!("longer than {MAX_LINE_BYTES} bytes"),
                });
            }
            let record: ExportRecord = serde_json::from_slice(&self.buf).map_err(|e| {
                // Name the entry if its seq is still readable.
                let seq = serde_json::from_slice::<serde_json::Value>(&self.buf)
                    .ok()
                    .and_then(|v| v.get("seq").and_then(serde_json::Value::as_u64));
                ExportError::Malformed {
                    line: self.line,
                    seq,
                    message: e.to_string(),
                }
            })?;
            match record {
                ExportRecord::Entry(e) => {
                    self.entries += 1;
                    self.head = Some(e.hash);
                    return Ok(Some(ExportRecord::Entry(e)));
                }
                ExportRecord::Checkpoint(c) => {
                    self.checkpoints += 1;
                    return Ok(Some(ExportRecord::Checkpoint(c)));
                }
                ExportRecord::End(end) => {
                    self.check_end(&end)?;
                    self.ended = true;
                }
            }
        }
    }

    fn check_end(&self, end: &ExportEnd) -> Result<(), ExportError> {
        let mismatch = |what, stated: String, found: String| ExportError::EndMismatch {
            what,
            stated,
            found,
        };
        if end.entries != self.entries {
            return Err(mismatch(
                "entries",
                end.entries.to_string(),
                self.entries.to_string(),
            ));
        }
        if end.checkpoints != self.checkpoints {
            return Err(mismatch(
                "checkpoints",
                end.checkpoints.to_string(),
                self.checkpoints.to_string(),
            ));
        }
        if end.head_hash != self.head {
            let show = |h: Option<EntryHash>| h.map_or("none".to_owned(), |h| h.to_hex());
            return Err(mismatch(
                "as head hash",
                show(end.head_hash),
                show(self.head),
            ));
        }
        Ok(())
    }
}

impl<R: BufRead> Iterator for ExportReader<R> {
    type Item = Result<ExportRecord, ExportError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        match self.next_record() {
            Ok(Some(r)) => Some(Ok(r)),
            Ok(None) => None,
            Err(e) => {
                self.failed = true;
                Some(Err(e))
            }
        }
    }
}

/// One line as bytes (invalid UTF-8 is then a malformed line with its
/// number, not an I/O error), with a cap so a hostile file cannot make us
/// buffer gigabytes. Returns the bytes read (more than the cap: too long).
fn read_bounded_line<R: BufRead>(input: &mut R, buf: &mut Vec<u8>) -> Result<usize, ExportError> {
    let limit = u64::try_from(MAX_LINE_BYTES).unwrap_or(u64::MAX) + 1;
    let n = input.by_ref().take(limit).read_until(b'\n', buf)?;
    Ok(n)
}

/// A whole export in memory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Export {
    pub header: ExportHeader,
    pub entries: Vec<AuditEntry>,
    pub checkpoints: Vec<Checkpoint>,
}

/// Read a whole export (header, records, end line) into memory. For very
/// large exports prefer [`verify_export`], which streams.
pub fn read_export<R: BufRead>(input: R) -> Result<Export, ExportError> {
    let mut reader = ExportReader::new(input)?;
    let mut entries = Vec::new();
    let mut checkpoints = Vec::new();
    for record in &mut reader {
        match record? {
            ExportRecord::Entry(e) => entries.push(e),
            ExportRecord::Checkpoint(c) => checkpoints.push(c),
            ExportRecord::End(_) => {}
        }
    }
    Ok(Export {
        header: reader.header,
        entries,
        checkpoints,
    })
}

impl Export {
    /// Verify the export's entries and checkpoints against trusted keys.
    pub fn verify(&self, keys: &[AuditPublicKey]) -> Result<VerifyReport, VerifyError> {
        verify_from(
            self.header.first_seq,
            &self.entries,
            &self.checkpoints,
            keys,
        )
    }
}

/// Verify an export as it is read, holding only 32 bytes per entry: the
/// offline check behind `oriole audit verify --file FILE --public-key KEY`.
/// Reports the first problem, whether in the file's form or in the chain.
pub fn verify_export<R: BufRead>(
    input: R,
    keys: &[AuditPublicKey],
) -> Result<VerifyReport, ExportVerifyError> {
    let mut reader = ExportReader::new(input)?;
    let first_seq = reader.header().first_seq;
    // Checkpoints before the first entry include the anchor of a pruned log;
    // hold them until the first entry (or the end) to find it.
    let mut early = Vec::new();
    let mut verifier: Option<Verifier> = None;
    for record in &mut reader {
        let record = match (record?, verifier.is_some()) {
            (ExportRecord::Checkpoint(c), false) => {
                early.push(c);
                continue;
            }
            (record, _) => record,
        };
        let v = match &mut verifier {
            Some(v) => v,
            None => verifier.insert(begin(keys, first_seq, &early)?),
        };
        match record {
            ExportRecord::Entry(e) => v.push_entry(&e)?,
            ExportRecord::Checkpoint(c) => v.push_checkpoint(&c)?,
            ExportRecord::End(_) => {}
        }
    }
    let verifier = match verifier {
        Some(v) => v,
        None => begin(keys, first_seq, &early)?,
    };
    Ok(verifier.finish()?)
}

fn begin(
    keys: &[AuditPublicKey],
    first_seq: u64,
    early: &[Checkpoint],
) -> Result<Verifier, VerifyError> {
    let mut v = Verifier::starting_at(keys, first_seq, early)?;
    for cp in early {
        v.push_checkpoint(cp)?;
    }
    Ok(v)
}
