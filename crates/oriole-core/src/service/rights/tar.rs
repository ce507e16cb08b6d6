//! Just enough of the POSIX ustar format to stream an archive: each entry
//! is a 512-byte header, its bytes, and zero padding to a 512-byte boundary;
//! two zero blocks end the archive. Entries are built one at a time, so an
//! export never holds more than one entry in memory.

const BLOCK: usize = 512;

/// One complete entry (header, data, padding) for a regular file.
pub(super) fn entry(path: &str, data: &[u8], mtime_secs: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(BLOCK + data.len() + BLOCK);
    out.extend_from_slice(&header(path, data.len() as u64, mtime_secs));
    out.extend_from_slice(data);
    let pad = (BLOCK - data.len() % BLOCK) % BLOCK;
    out.resize(out.len() + pad, 0);
    out
}

/// The end-of-archive marker.
pub(super) fn end() -> Vec<u8> {
    vec![0; 2 * BLOCK]
}

/// `value` as a NUL-terminated octal field of `width` bytes.
fn octal(field: &mut [u8], value: u64) {
    let width = field.len() - 1;
    let text = format!("{value:0width$o}");
    let bytes = text.as_bytes();
    // Values that do not fit keep their low digits (never happens for the
    // sizes and times of an export: 11 octal digits hold 8 GiB).
    let start = bytes.len().saturating_sub(width);
    field[..width].copy_from_slice(&bytes[start..]);
    field[width] = 0;
}

fn header(path: &str, size: u64, mtime_secs: u64) -> [u8; BLOCK] {
    let mut h = [0u8; BLOCK];
    // Paths in an export are short ASCII names chosen in code.
    let name = path.as_bytes();
    let n = name.len().min(100);
    h[..n].copy_from_slice(&name[..n]);
    octal(&mut h[100..108], 0o644);
    octal(&mut h[108..116], 0);
    octal(&mut h[116..124], 0);
    octal(&mut h[124..136], size);
    octal(&mut h[136..148], mtime_secs);
    h[156] = b'0';
    h[257..263].copy_from_slice(b"ustar\0");
    h[263..265].copy_from_slice(b"00");
    // The checksum is computed with its own field as spaces.
    h[148..156].copy_from_slice(b"        ");
    let sum: u64 = h.iter().map(|&b| u64::from(b)).sum();
    let text = format!("{sum:06o}\0 ");
    h[148..156].copy_from_slice(text.as_bytes());
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_block_aligned_and_checksummed() {
        let e = entry("profile.json", b"{}", 1_700_000_000);
        assert_eq!(e.len(), 2 * BLOCK);
        assert_eq!(&e[..12], b"profile.json");
        assert_eq!(&e[124..135], b"00000000002");
        assert_eq!(&e[257..262], b"ustar");
        let mut h = e[..BLOCK].to_vec();
        h[148..156].copy_from_slice(b"        ");
        let sum: u64 = h.iter().map(|&b| u64::from(b)).sum();
        let stored = std::str::from_utf8(&e[148..154]).expect("ascii");
        assert_eq!(u64::from_str_radix(stored, 8).expect("octal"), sum);
        assert_eq!(entry("x", &[1; 512], 0).len(), 2 * BLOCK);
        assert_eq!(end().len(), 1024);
    }
}
