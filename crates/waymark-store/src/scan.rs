//! [`ScanStore`]: scanned file versions and `logscan_results`.

/// Scanned files and their matched lines.
pub trait ScanStore {}
