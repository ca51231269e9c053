//! What the scanner stores: file versions (`scanned_files`) and matched lines
//! (`logscan_results`). Plain values shared by the scanner and the stores.

/// One version of a scanned file (a `scanned_files` row).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ScannedFile {
    /// One per file version; groups the version's `logscan_results`.
    pub logscan_id: i64,
    pub file_path: String,
    pub system_type: String,
    /// The signature that classified it.
    pub evidence: Option<String>,
    pub dev: Option<u64>,
    pub inode: Option<u64>,
    /// File size at the last scan (for a `.gz`, the compressed size).
    pub size: u64,
    /// Modification time at the last scan, RFC 3339 UTC.
    pub mtime: Option<String>,
    /// Bytes scanned: the end of the last complete line (a `.gz`: its compressed size once
    /// scanned whole).
    pub position: u64,
    /// Complete lines scanned.
    pub line_number: u64,
    /// Fingerprint of the bytes before `position` (see `waymark::source::file`).
    pub identity: Option<String>,
    /// `active` or `superseded`.
    pub state: String,
}

/// One matched line (a `logscan_results` row, without its id and scan time).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanResult {
    /// 1-based.
    pub line_number: u64,
    /// Offset of the line's first byte in the file (decompressed, for a `.gz`).
    pub byte_offset: u64,
    pub rule: String,
    pub severity: &'static str,
    /// Escapes removed, bounded to [`super::MAX_STORED_LINE`] bytes.
    pub line: String,
    /// The line's own time, RFC 3339 UTC.
    pub line_timestamp: Option<String>,
}

/// A batch of one file version's results and the state it reached, committed together.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanCommit {
    /// The version's row as it is after this batch (position, identity, path, ...).
    pub file: ScannedFile,
    pub results: Vec<ScanResult>,
    /// The version's stored results at or after this byte offset are replaced by these: a
    /// last line read before its newline was written, which has since grown (issue 14).
    pub replace_from: Option<u64>,
}

/// A stored matched line, as read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredScanResult {
    pub logscan_id: i64,
    pub file_path: String,
    pub system_type: String,
    pub line_number: u64,
    pub byte_offset: u64,
    pub rule: String,
    pub severity: String,
    pub line: String,
    pub line_timestamp: Option<String>,
}
